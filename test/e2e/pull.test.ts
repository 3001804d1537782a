// The real CLI in child processes against the fixture hub: `warren serve --model hf:...` pulls
// then serves (a split model, stories260K), --offline, store names, and `warren pull` killed mid-file
// and run again. The hub runs in this process, so children are spawned without blocking it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "bun";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { skipUnlessCi } from "../helpers/apt.ts";
import { startHub, type FixtureHub } from "../helpers/hub.ts";
import { BIG_BYTES, hubRepos, makeHubModels, MIB } from "../helpers/hub-models.ts";
import { REPO_ROOT, STORIES_MODEL, STORIES_ORACLE } from "../helpers/models.ts";
import { startWarren } from "../helpers/warren-process.ts";

let work: string;
let hub: FixtureHub;
/** No token from the developer's environment or ~/.cache/huggingface reaches the fixture. */
let env: Record<string, string>;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "warren-pull-e2e-"));
  hub = await startHub(hubRepos(await makeHubModels(work)));
  env = { HF_TOKEN: "", HF_TOKEN_PATH: join(work, "no-token"), HF_ENDPOINT: hub.url, WARREN_CACHE_DIR: join(work, "cache") };
});
afterAll(async () => {
  await hub.stop();
  rmSync(work, { recursive: true, force: true });
});

const post = (url: string, body: unknown) => fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

/** `warren ARGS` to completion, without blocking this process (the hub answers from it). */
async function cli(args: string[], extraEnv: Record<string, string> = {}) {
  const p = spawn({ cmd: [process.execPath, resolve(REPO_ROOT, "src/main.ts"), ...args], env: { ...process.env, ...env, ...extraEnv }, stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code, out, err };
}

describe("warren serve --model hf:...", () => {
  const store = () => join(work, "serve-store");

  test("pulls into the store, then serves; a restart with --offline serves it without a request", async () => {
    const args = ["--model", "hf:warren-test/tiny-chat-GGUF:Q8_0", "--models-dir", store(), "--threads", "1", "--parallel", "1"];
    const w = await startWarren(args, { env });
    expect(w.log()).toMatch(/pulled hf:warren-test\/tiny-chat-GGUF:Q8_0 into the model store in [\d.]+ s: hf_warren-test_tiny-chat\.Q8_0 \(226 KiB, /);
    expect(w.log()).toContain("pulling hf:warren-test/tiny-chat-GGUF:Q8_0: 100% (");
    const r = await post(`${w.url}/generate`, { prompt: "Hello", max_tokens: 4 });
    expect(r.status).toBe(200);
    expect(await w.stop()).toBe(0);

    const before = hub.requests.length;
    const offline = await startWarren([...args, "--offline"], { env });
    expect(offline.log()).toContain(`serving hf:warren-test/tiny-chat-GGUF:Q8_0 from the model store: hf_warren-test_tiny-chat.Q8_0 (${store()}/hf_warren-test_tiny-chat.Q8_0.gguf)`);
    // With --models-dir every model in the folder is served, each loaded on its first request.
    expect((await post(`${offline.url}/generate`, { prompt: "Hello", max_tokens: 4 })).status).toBe(200);
    expect(offline.log()).toMatch(/model hf_warren-test_tiny-chat.Q8_0 loaded in \d+ ms: .* chat-template=JinjaTemplate /);
    expect(await offline.stop()).toBe(0);
    expect(hub.requests.length).toBe(before);
  });

  test("a model in the store is served by its name", async () => {
    const w = await startWarren(["--model", "hf_warren-test_tiny-chat.Q8_0", "--models-dir", store(), "--threads", "1", "--parallel", "1", "--offline"], { env });
    expect(w.log()).toContain(`serving hf_warren-test_tiny-chat.Q8_0 from the model store (${store()}/hf_warren-test_tiny-chat.Q8_0.gguf)`);
    expect(await w.stop()).toBe(0);
  });

  test("--offline with a model that is not in the store: exit 1, naming it and the command that fetches it", async () => {
    const r = await cli(["serve", "--port", "0", "--offline", "--model", "hf:warren-test/tiny-chat-GGUF:F16", "--models-dir", store()]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      `cannot load model hf:warren-test/tiny-chat-GGUF:F16: hf:warren-test/tiny-chat-GGUF:F16 is not in the model store (${store()}) and --offline forbids downloading it: run \`warren pull hf:warren-test/tiny-chat-GGUF:F16\``,
    );
    expect(r.err).not.toMatch(/^\s+at /m);
  });

  test("a name that is neither a file nor in the store", async () => {
    const r = await cli(["serve", "--port", "0", "--model", "no-such-model", "--models-dir", store()]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`cannot load model no-such-model: no such file, and no model of that name in the store ${store()} (\`warren models\` lists what is there)`);
  });

  test("a split model (two GGUF shards) pulls and serves", async () => {
    const w = await startWarren(["--model", "hf:warren-test/tiny-chat-GGUF:F32", "--models-dir", store(), "--threads", "1", "--parallel", "1"], { env });
    expect(readdirSync(store()).filter((f) => f.includes(".F32-")).sort()).toEqual(["hf_warren-test_tiny-chat.F32-00001-of-00002.gguf", "hf_warren-test_tiny-chat.F32-00002-of-00002.gguf"]);
    expect((await post(`${w.url}/generate`, { prompt: "Hello", max_tokens: 4 })).status).toBe(200);
    expect(await w.stop()).toBe(0);
  });

  test.skipIf(skipUnlessCi(existsSync(STORIES_MODEL)))("stories260K pulled from the hub writes llama.cpp's greedy text (needs ../shared/models/stories260K.gguf)", async () => {
    const w = await startWarren(["--model", "hf:warren-test/stories260K-GGUF:F32", "--models-dir", store(), "--threads", "1", "--parallel", "1", "--ctx-size", "256"], { env });
    const body = (await (await post(`${w.url}/generate`, { prompt: "Once upon a time", max_tokens: 30, temperature: 0 })).json()) as { data: { text: string } };
    expect(body.data.text).toBe(STORIES_ORACLE);
    expect(await w.stop()).toBe(0);
  });
});

describe("warren pull, the command", () => {
  test("killed mid-file, then run again: the second run fetches only what was missing", async () => {
    const dir = join(work, "kill-store");
    const file = "warren-test/big-GGUF/big-Q8_0.gguf";
    hub.faults.push({ kind: "stall", file, atByte: 11 * MIB });
    const p = spawn({ cmd: [process.execPath, resolve(REPO_ROOT, "src/main.ts"), "pull", "hf:warren-test/big-GGUF:Q8_0", "--models-dir", dir], env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
    // Killed once the partial file records two whole 5 MiB chunks (ipull keeps its state as JSON after
    // the data; chunk status 2 is COMPLETE).
    const partial = join(dir, ".partial/hf_warren-test_big.Q8_0.gguf.ipull");
    const savedChunks = () => {
      try {
        const state = JSON.parse(readFileSync(partial).subarray(BIG_BYTES).toString()) as { chunks: number[] };
        return state.chunks.filter((c) => c === 2).length;
      } catch {
        return 0;
      }
    };
    const deadline = Date.now() + 30_000;
    while (savedChunks() < 2 && Date.now() < deadline) await Bun.sleep(50);
    expect(savedChunks()).toBe(2);
    p.kill("SIGKILL");
    await p.exited;
    hub.faults.length = 0;
    hub.releaseStalls();
    expect(readdirSync(join(dir, ".partial"))).toContain("hf_warren-test_big.Q8_0.gguf.ipull");
    expect(existsSync(join(dir, "hf_warren-test_big.Q8_0.gguf"))).toBe(false);

    const before = hub.requests.length;
    const r = await cli(["pull", "hf:warren-test/big-GGUF:Q8_0", "--models-dir", dir]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^pulled hf_warren-test_big\.Q8_0 \(12\.0 MiB\)/);
    const ranges = hub.requests.slice(before).flatMap((q) => (q.range ? [/bytes=(\d+)-(\d+)/.exec(q.range)!.slice(1).map(Number) as [number, number]] : []));
    expect(ranges.reduce((sum, [a, b]) => sum + b - a + 1, 0)).toBe(BIG_BYTES - 10 * MIB);
    const list = await cli(["models", "--models-dir", dir]);
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/^hf_warren-test_big\.Q8_0\s+12\.0 MiB\s+Q8_0\s/m);
  });

  test("Ctrl-C: exit 130 and a word on resuming", async () => {
    const dir = join(work, "int-store");
    const file = "warren-test/big-GGUF/big-Q8_0.gguf";
    hub.faults.push({ kind: "stall", file, atByte: 1 * MIB });
    const sent = hub.bytesServed(file);
    const p = spawn({ cmd: [process.execPath, resolve(REPO_ROOT, "src/main.ts"), "pull", "hf:warren-test/big-GGUF:Q8_0", "--models-dir", dir], env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
    const deadline = Date.now() + 30_000;
    while (hub.bytesServed(file) - sent < 512 * 1024 && Date.now() < deadline) await Bun.sleep(50);
    p.kill("SIGINT");
    const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
    hub.faults.length = 0;
    hub.releaseStalls();
    expect(code).toBe(130);
    expect(err).toContain(`interrupted: the partial download stays in ${dir}/.partial; run the same command to resume it`);
  });

  // A small tmpfs stands for a disk that fills up while the download runs (mounting needs root).
  const tmpfs = (() => {
    if (process.getuid?.() !== 0) return { why: "mounting a tmpfs needs root" };
    const r = Bun.spawnSync(["mount", "--version"]);
    return r.exitCode === 0 ? {} : { why: "no mount command" };
  })();
  if (tmpfs.why) console.warn(`\n*** ${process.env.CI ? "FAILING" : "SKIPPING"} the full-disk pull test: ${tmpfs.why} ***\n`);
  test.skipIf(skipUnlessCi(tmpfs.why === undefined))("the disk fills up mid-download: one line, exit 1, nothing left behind (needs root for a tmpfs)", async () => {
    expect(tmpfs.why).toBeUndefined();
    const mnt = join(work, "small-disk");
    mkdirSync(mnt);
    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt]).exitCode).toBe(0);
    try {
      const dir = join(mnt, "store");
      const file = "warren-test/tiny-chat-GGUF/tiny-chat-F16.gguf";
      hub.faults.push({ kind: "stall", file, atByte: 128 * 1024 });
      const sent = hub.bytesServed(file);
      const p = cli(["pull", "hf:warren-test/tiny-chat-GGUF:F16", "--models-dir", dir]);
      const deadline = Date.now() + 30_000;
      while (hub.bytesServed(file) - sent < 128 * 1024 && Date.now() < deadline) await Bun.sleep(20);
      await Bun.sleep(200);
      // Something else takes the rest of the disk.
      Bun.spawnSync(["dd", "if=/dev/zero", `of=${join(mnt, "filler")}`, "bs=64k"], { stderr: "ignore" });
      hub.faults.length = 0;
      hub.releaseStalls();
      const r = await p;
      expect(r.code).toBe(1);
      expect(r.err).toEndWith(`warren pull: the disk holding ${dir} filled up during the download: free some space (or pull into another disk with --models-dir) and pull again\n`);
      expect(r.err).not.toMatch(/^\s+at /m);
      expect(readdirSync(dir).filter((f) => f.endsWith(".gguf"))).toEqual([]);
      expect(readdirSync(join(dir, ".partial"))).toEqual([]);
    } finally {
      Bun.spawnSync(["umount", mnt]);
    }
  });

  test("warren --help lists the store commands", async () => {
    const r = await cli(["--help"]);
    expect(r.code).toBe(0);
    for (const line of ["warren pull URI", "warren models", "warren rm NAME", "--models-dir", "--hf-endpoint", "--[no-]offline"]) expect(r.out).toContain(line);
  });
});
