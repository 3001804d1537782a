// Model faults: a missing file, a file that is not GGUF, a truncated GGUF and a context too
// large for memory each end `warren serve` with one clear ERROR line and exit code 1: no stack
// trace, no native log lines, no hang, no OOM kill.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  CONTEXT_MEMORY_SHARE, availableMemoryBytes, checkModelFile, contextMemoryProblem, kvCacheBytes,
} from "../../src/inference/model-check.ts";
import { readModelHeader } from "../../src/inference/llama/gguf-header.ts";
import { GGML_TYPE_BLOCKS, tensorDataProblem } from "../../src/models/gguf-format.ts";
import { writeGguf } from "../../src/models/gguf-writer.ts";
import { readGguf } from "../../src/models/gguf-reader.ts";
import { llamaMetadata } from "../../src/models/llama.ts";
import { PRESETS } from "../../src/models/shapes.ts";
import { tinyModel } from "../helpers/hardening.ts";
import { REPO_ROOT } from "../helpers/models.ts";

const GiB = 2 ** 30;
let dir: string;
let tiny: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "warren-faults-"));
  tiny = await tinyModel();
  const bytes = readFileSync(tiny);
  writeFileSync(join(dir, "not-gguf.gguf"), "this is a text file, not a model\n");
  writeFileSync(join(dir, "empty.gguf"), "");
  writeFileSync(join(dir, "cut-data.gguf"), bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  writeFileSync(join(dir, "cut-header.gguf"), bytes.subarray(0, 3000));
  mkdirSync(join(dir, "a-directory.gguf"));
  // A 70B-shaped llama header (80 layers, 8 KV heads of 128) and no tensors: its KV cache is what matters.
  const shape = { ...PRESETS.tiny.shape, nEmbd: 8192, nLayer: 80, nHead: 64, nHeadKv: 8, nFf: 28672, nCtx: 131072 };
  await writeGguf(join(dir, "big-shape.gguf"), llamaMetadata("tiny", { ...PRESETS.tiny, shape }, 1), []);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `warren serve` to its end; the whole of stderr and stdout. */
async function serve(args: string[]): Promise<{ code: number; out: string; ms: number }> {
  const t0 = Date.now();
  const proc = Bun.spawn([process.execPath, resolve(REPO_ROOT, "src/main.ts"), "serve", "--port", "0", "--threads", "1", "--log-format", "text", ...args], {
    cwd: dir, stdout: "pipe", stderr: "pipe",
  });
  const kill = setTimeout(() => proc.kill("SIGKILL"), 30_000);
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const code = await proc.exited;
  clearTimeout(kill);
  return { code, out: out + err, ms: Date.now() - t0 };
}

function expectOneLineError(r: { code: number; out: string; ms: number }, reason: RegExp): void {
  expect(r.code).toBe(1);
  const errors = r.out.split("\n").filter((l) => / ERROR /.test(l));
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatch(/ ERROR cannot load model /);
  expect(errors[0]).toMatch(reason);
  // Nothing but our own log lines: no stack frames, no llama.cpp output.
  for (const line of r.out.split("\n").filter((l) => l !== "")) expect(line).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z (INFO |WARN |ERROR) /);
  expect(r.ms).toBeLessThan(15_000);
}

describe("warren serve refuses a bad model with one line and exit code 1", () => {
  const CASES: Array<[string, () => string[], RegExp]> = [
    ["a missing file", () => ["--model", join(dir, "nope.gguf")], /: no such file$/],
    ["a text file", () => ["--model", "not-gguf.gguf"], /: not a GGUF file \(bad magic bytes\)$/],
    ["an empty file", () => ["--model", "empty.gguf"], /: not a GGUF file/],
    ["a directory", () => ["--model", "a-directory.gguf"], /: not a regular file$/],
    ["a GGUF cut inside its tensor data", () => ["--model", "cut-data.gguf"], /: the file is truncated: its tensor data should end at byte \d+ but the file has \d+ bytes/],
    ["a GGUF cut inside its header", () => ["--model", "cut-header.gguf"], /: the GGUF header is unreadable \(truncated GGUF header\)/],
    ["a context far beyond memory (tiny model, 256 slots x 1M tokens: 64 GiB of KV cache)", () => ["--model", tiny, "--ctx-per-slot", "1048576", "--parallel", "256"],
      /: --parallel 256 x 1048576 tokens per slot needs at least 64\.0 GiB .* lower --ctx-size \(or --ctx-per-slot\) or --parallel, or raise --memory-share$/],
    ["a context no host has (70B-shaped header, 64 slots x 1M tokens)", () => ["--model", "big-shape.gguf", "--ctx-size", "64000000", "--parallel", "64"],
      /: --parallel 64 x 1000000 tokens per slot needs at least \d+\.\d GiB \(KV cache/],
  ];
  for (const [name, args, reason] of CASES) {
    test(name, async () => expectOneLineError(await serve(args()), reason), 30_000);
  }

  test("--memory-share lowers the limit: a plan needing ~4% of available memory is refused at 1%", async () => {
    // tiny's KV cache is 256 bytes per cell (see the KV cache size test below).
    const cells = Math.floor((availableMemoryBytes() * 0.04) / 256);
    // Enough slots that --ctx-per-slot stays within its own limit (2^20) on hosts with up to ~100 GiB free.
    const parallel = 16;
    const args = ["--model", tiny, "--parallel", String(parallel), "--ctx-per-slot", String(Math.floor(cells / parallel)), "--memory-share", "1"];
    expectOneLineError(await serve(args), /Warren uses at most 1% of it: lower --ctx-size \(or --ctx-per-slot\) or --parallel, or raise --memory-share$/);
  }, 30_000);
});

describe("model-check (in process)", () => {
  test("the ggml type table matches the llama.cpp that node-llama-cpp bundles", async () => {
    const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
    const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: 1 });
    const b = (llama as unknown as { _bindings: { getTypeSizeForGgmlType(t: number): number | undefined; getBlockSizeForGgmlType(t: number): number | undefined } })._bindings;
    for (let type = 0; type < 64; type++) {
      const size = b.getTypeSizeForGgmlType(type) ?? 0;
      const native = size > 0 ? [b.getBlockSizeForGgmlType(type), size] : undefined;
      expect(`${type}: ${JSON.stringify(GGML_TYPE_BLOCKS[type])}`).toBe(`${type}: ${JSON.stringify(native)}`);
    }
  }, 30_000);

  test("node-llama-cpp's header reader agrees with the project's GGUF reader", async () => {
    const ours = await readGguf(tiny);
    const header = await readModelHeader(tiny);
    const tokenizerArrays = [...ours.metadata.keys()].filter((k) => /^tokenizer\.ggml\.(tokens|scores|token_type|merges)$/.test(k));
    expect(tokenizerArrays.length).toBeGreaterThanOrEqual(3);
    const kept = [...ours.metadata].filter(([k]) => !tokenizerArrays.includes(k));
    expect([...header.metadata]).toEqual(kept);
    expect(header.tensors).toEqual(ours.tensors.map(({ name, dims, type, offset }) => ({ name, dims, type, offset })));
    expect(header.dataOffset).toBe(ours.dataOffset);
    expect(header.headerEnd).toBeGreaterThan(ours.dataOffset - ours.alignment);
    expect(header.headerEnd).toBeLessThanOrEqual(ours.dataOffset);
    // Past the end of a cut file it reads zeros, so the cut shows only as a header ending past the file.
    expect((await readModelHeader(join(dir, "cut-header.gguf"))).headerEnd).toBeGreaterThan(3000);
  });

  test("checkModelFile in-process: version, cut header and a length field past the end", async () => {
    const plan = { slots: 1, slotContextSize: 64 };
    const check = (name: string, bytes: Uint8Array) => {
      writeFileSync(join(dir, name), bytes);
      return checkModelFile(join(dir, name), plan, tensorDataProblem, 64 * GiB);
    };
    const head = (version: number, rest: number[] = []) => {
      const b = Buffer.alloc(8 + rest.length * 8);
      b.write("GGUF", 0, "latin1");
      b.writeUInt32LE(version, 4);
      rest.forEach((v, i) => b.writeBigUInt64LE(BigInt(v), 8 + i * 8));
      return b;
    };
    await expect(check("v4.gguf", head(4, [0, 0]))).rejects.toThrow("the GGUF header is unreadable (unsupported GGUF version 4): the file is truncated or corrupt");
    await expect(check("six.gguf", head(3).subarray(0, 6))).rejects.toThrow("the GGUF header is unreadable (truncated GGUF header)");
    // 0 tensors, 1 key whose name claims 2^40 bytes: refused, not allocated.
    await expect(check("long-key.gguf", head(3, [0, 1, 2 ** 40]))).rejects.toThrow(/^the GGUF header is unreadable \(.*\): the file is truncated or corrupt$/);
    // 0 tensors, 1 key whose name claims 1000 bytes in a 40-byte file.
    await expect(check("past-end.gguf", head(3, [0, 1, 1000]))).rejects.toThrow("the GGUF header is unreadable (truncated GGUF header)");
    await expect(checkModelFile(tiny, plan, tensorDataProblem, 64 * GiB)).resolves.toBeUndefined();
  });

  test("the tiny model's tensors fill its file exactly; a cut file is caught", async () => {
    const file = await readModelHeader(tiny);
    const size = readFileSync(tiny).length;
    expect(tensorDataProblem(file.tensors, file.dataOffset, size)).toBeUndefined();
    expect(tensorDataProblem(file.tensors, file.dataOffset, size - 1)).toMatch(/truncated/);
    expect(tensorDataProblem([{ name: "x", dims: [4], type: 99, offset: 0 }], 0, 100)).toMatch(/ggml type 99/);
  });

  test("KV cache size: tiny is 256 bytes per cell; MLA, sliding-window and recurrent caches are not guessed", async () => {
    const meta = (await readModelHeader(tiny)).metadata;
    // 2 layers x (K + V) x 2 KV heads x 16 dims x 2 bytes (F16)
    expect(kvCacheBytes(meta, 1)).toBe(256);
    expect(kvCacheBytes(meta, 64_000_000)).toBe(256 * 64_000_000);
    for (const key of ["llama.attention.kv_lora_rank", "llama.attention.sliding_window", "llama.ssm.state_size"]) {
      expect(kvCacheBytes(new Map([...meta, [key, 1]]), 1)).toBeUndefined();
    }
  });

  test("the brief's example, --ctx-size 1000000 --parallel 64 on tiny (15.3 GiB), is refused on a 22 GiB host; 2048 x 4 is not", () => {
    const plan = { slots: 64, slotContextSize: 1_000_000, kvBytes: 256 * 64_000_000, modelBytes: 806_080, availableBytes: 22.3 * GiB };
    expect(contextMemoryProblem(plan)).toMatch(/needs at least 15\.3 GiB .* only 22\.3 GiB .* at most 50%/);
    expect(contextMemoryProblem({ ...plan, slots: 4, slotContextSize: 2048, kvBytes: 256 * 8192 })).toBeUndefined();
    expect(contextMemoryProblem({ ...plan, availableBytes: plan.kvBytes / CONTEXT_MEMORY_SHARE + 2 * plan.modelBytes })).toBeUndefined();
    // A share of 80% lets the 15.3 GiB plan through on the same host; 10% refuses a plan of 2.3 GiB.
    expect(contextMemoryProblem({ ...plan, share: 0.8 })).toBeUndefined();
    expect(contextMemoryProblem({ ...plan, kvBytes: 2.3 * GiB, share: 0.1 })).toMatch(/at most 10% of it/);
  });

  test("available memory: MemAvailable, capped by a cgroup limit", () => {
    const files: Record<string, string> = {
      "/proc/meminfo": "MemTotal: 32000000 kB\nMemAvailable:   20000000 kB\n",
      "/sys/fs/cgroup/memory.max": String(8 * GiB),
      "/sys/fs/cgroup/memory.current": String(2 * GiB),
    };
    const read = (p: string) => {
      if (!(p in files)) throw new Error("ENOENT");
      return files[p]!;
    };
    expect(availableMemoryBytes(read)).toBe(6 * GiB);
    files["/sys/fs/cgroup/memory.max"] = "max";
    expect(availableMemoryBytes(read)).toBe(20_000_000 * 1024);
    expect(availableMemoryBytes()).toBeGreaterThan(0);
  });
});
