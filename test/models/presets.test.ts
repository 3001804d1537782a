import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readGguf, readTensorBytes } from "../../src/models/gguf-reader.ts";
import { PRESETS, type PresetName, ensureModel, makeModel, paramCount } from "../../src/models/presets.ts";
import { dequantizeQ8_0 } from "../../src/models/quant.ts";
import { FIRST_NORMAL_ID } from "../../src/models/vocab.ts";

// Pinned: a change here means every user's generated model changes. If that is intended,
// bump GENERATOR_VERSION in src/models/llama.ts and update these.
const PINNED: Partial<Record<PresetName, string>> = {
  tiny: "a1ea9c2b706155254a8a4e6c191e4046a453ea8b26e1d132a3d7ddb97798b273",
  "tiny-f16": "aea70cdfc2dcf21b5aff829a2ca94fa5b5235373c018b8830971418aea9812e4",
  "tiny-q8": "ae23571dfaba4ed96efce021fe190e6b2d4219c4bb6715e5abff039bab99fdd7",
};

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "warren-presets-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function sha256File(path: string): Promise<string> {
  const h = new Bun.CryptoHasher("sha256");
  h.update(await readFile(path));
  return h.digest("hex");
}

describe("makeModel determinism", () => {
  for (const preset of ["tiny", "tiny-f16", "tiny-q8"] as const) {
    test(`${preset}: same seed -> byte-identical file with the pinned hash`, async () => {
      const a = await makeModel({ preset, out: join(dir, `${preset}-a.gguf`) });
      const b = await makeModel({ preset, out: join(dir, `${preset}-b.gguf`), seed: 1 });
      expect(await sha256File(a.path)).toBe(a.sha256);
      expect(await sha256File(b.path)).toBe(a.sha256);
      expect(a.sha256).toBe(PINNED[preset]!);
      expect(a.bytes).toBeLessThan(1 << 20);
      expect(a.params).toBe(paramCount(PRESETS[preset].shape));
    });
  }

  test("a different seed gives a different file", async () => {
    const one = await makeModel({ preset: "tiny", out: join(dir, "seed1.gguf"), seed: 1 });
    const two = await makeModel({ preset: "tiny", out: join(dir, "seed2.gguf"), seed: 2 });
    expect(two.sha256).not.toBe(one.sha256);
    expect(two.bytes).toBe(one.bytes);
    expect((await readGguf(two.path)).metadata.get("warren.generator.seed")).toBe(2);
  });

  test("rejects bad presets and seeds without leaving files behind", async () => {
    const sub = join(dir, "bad");
    await expect(makeModel({ preset: "huge" as PresetName, out: join(sub, "x.gguf") })).rejects.toThrow(/unknown preset/);
    for (const seed of [-1, 1.5, 2 ** 32, NaN]) {
      await expect(makeModel({ preset: "tiny", out: join(sub, "x.gguf"), seed })).rejects.toThrow(/seed/);
    }
    expect(existsSync(sub)).toBe(false);
  });
});

describe("generated llama model contents", () => {
  test("tiny has llama.cpp's keys, tokenizer and tensor shapes", async () => {
    const { path, params } = await makeModel({ preset: "tiny", out: join(dir, "meta.gguf") });
    const f = await readGguf(path);
    const m = f.metadata;
    const s = PRESETS.tiny.shape;
    expect(m.get("general.architecture")).toBe("llama");
    expect(m.get("general.alignment")).toBe(32);
    expect(m.get("llama.context_length")).toBe(2048);
    expect(m.get("llama.embedding_length")).toBe(s.nEmbd);
    expect(m.get("llama.block_count")).toBe(s.nLayer);
    expect(m.get("llama.feed_forward_length")).toBe(s.nFf);
    expect(m.get("llama.attention.head_count")).toBe(s.nHead);
    expect(m.get("llama.attention.head_count_kv")).toBe(s.nHeadKv);
    expect(m.get("llama.attention.layer_norm_rms_epsilon")).toBe(Math.fround(1e-5));
    expect(m.get("llama.rope.dimension_count")).toBe(s.nEmbd / s.nHead);
    expect(m.get("tokenizer.ggml.model")).toBe("llama");
    expect((m.get("tokenizer.ggml.tokens") as string[]).length).toBe(s.nVocab);
    expect(m.get("tokenizer.ggml.bos_token_id")).toBe(1);
    expect(m.get("tokenizer.ggml.eos_token_id")).toBe(2);
    expect(m.get("tokenizer.ggml.unknown_token_id")).toBe(0);
    expect(m.get("tokenizer.ggml.add_bos_token")).toBe(true);
    const names = f.tensors.map((t) => t.name);
    expect(names.slice(0, 3)).toEqual(["token_embd.weight", "output_norm.weight", "output.weight"]);
    expect(names.length).toBe(3 + 9 * s.nLayer);
    const dims = new Map(f.tensors.map((t) => [t.name, t.dims]));
    expect(dims.get("token_embd.weight")).toEqual([64, 768]);
    expect(dims.get("blk.1.attn_k.weight")).toEqual([64, 32]); // 2 KV heads x 16
    expect(dims.get("blk.1.ffn_down.weight")).toEqual([192, 64]);
    expect(dims.get("blk.1.ffn_norm.weight")).toEqual([64]);
    expect(f.tensors.reduce((a, t) => a + t.dims.reduce((x, y) => x * y, 1), 0)).toBe(params);
  });

  test("norms are 1, weights have the planned scale, special/byte output rows are zero", async () => {
    const { path } = await makeModel({ preset: "tiny", out: join(dir, "values.gguf") });
    const f = await readGguf(path);
    const floats = async (name: string) => {
      const b = await readTensorBytes(path, f, name);
      return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    };
    expect([...(await floats("blk.0.ffn_norm.weight"))].every((x) => x === 1)).toBe(true);
    expect(std(await floats("blk.0.attn_q.weight"))).toBeCloseTo(1 / 8, 2);
    expect(std(await floats("token_embd.weight"))).toBeCloseTo(1, 1);
    const out = await floats("output.weight");
    expect(out.subarray(0, FIRST_NORMAL_ID * 64).every((x) => x === 0)).toBe(true);
    expect(std(out.subarray(FIRST_NORMAL_ID * 64))).toBeCloseTo(2 / 8, 2);
  });

  test("tiny-q8 stores matrices as Q8_0 and norms as F32, with the same scale", async () => {
    const { path } = await makeModel({ preset: "tiny-q8", out: join(dir, "q8.gguf") });
    const f = await readGguf(path);
    for (const t of f.tensors) expect(t.typeName).toBe(t.dims.length === 1 ? "F32" : "Q8_0");
    const q = dequantizeQ8_0(await readTensorBytes(path, f, "blk.1.ffn_up.weight"), 64 * 192);
    expect(std(q)).toBeCloseTo(1 / 8, 2);
  });
});

describe("ensureModel", () => {
  test("creates a missing file (and its directory) once, then leaves it alone", async () => {
    const path = join(dir, "nested", "deeper", "default.gguf");
    expect(await ensureModel(path)).toEqual({ created: true });
    expect(await sha256File(path)).toBe(PINNED.tiny!);
    expect(await ensureModel(path)).toEqual({ created: false });
  });

  test("concurrent callers all succeed and leave one complete file, no temp files", async () => {
    const sub = join(dir, "race");
    const path = join(sub, "m.gguf");
    const results = await Promise.all([1, 2, 3, 4].map(() => ensureModel(path, "tiny-f16")));
    expect(results.some((r) => r.created)).toBe(true);
    expect(await sha256File(path)).toBe(PINNED["tiny-f16"]!);
    expect(await readdir(sub)).toEqual(["m.gguf"]);
  });

  test("two processes starting at once both see a complete file", async () => {
    const sub = join(dir, "procs");
    const path = join(sub, "m.gguf");
    const script = `import { ensureModel } from ${JSON.stringify(join(import.meta.dir, "../../src/models/presets.ts"))};
      const r = await ensureModel(${JSON.stringify(path)}, "tiny");
      const h = new Bun.CryptoHasher("sha256"); h.update(await Bun.file(${JSON.stringify(path)}).bytes());
      console.log(JSON.stringify({ ...r, sha: h.digest("hex") }));`;
    const procs = [0, 1].map(() => Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "inherit" }));
    const outs = await Promise.all(procs.map(async (p) => ({ code: await p.exited, text: await new Response(p.stdout).text() })));
    for (const o of outs) {
      expect(o.code).toBe(0);
      expect(JSON.parse(o.text).sha).toBe(PINNED.tiny!);
    }
    expect(await readdir(sub)).toEqual(["m.gguf"]);
  });
});

function std(xs: ArrayLike<number>): number {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < xs.length; i++) {
    s += xs[i]!;
    s2 += xs[i]! * xs[i]!;
  }
  const mean = s / xs.length;
  return Math.sqrt(s2 / xs.length - mean * mean);
}
