// The single-file executable: built by scripts/build.ts, copied alone into an empty
// directory and run with no Bun, no node_modules and a bare environment, as a user would.
// Set WARREN_COMPILED_BINARY to test a binary built earlier in the same run instead of building.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, type Subprocess } from "bun";
import { fork } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { resolveCacheDir } from "../../src/cache-dir.ts";
import { ensureRuntime } from "../../src/compiled/cache.ts";
import { takeCacheDir } from "../../src/compiled/entry.ts";
import { pack, unpackTo } from "../../src/compiled/pack.ts";
import { bindingProbeFile } from "../../src/compiled/probe.ts";
import { buildWarren } from "../../scripts/build.ts";
import { startHub } from "../helpers/hub.ts";
import { hubRepos, makeHubModels } from "../helpers/hub-models.ts";
import { bundleConsole } from "../../src/web/bundle.ts";
import { ensureChromium, launchChromium } from "../helpers/browser.ts";

const REPO = resolve(import.meta.dir, "../..");
const chromiumBin = await ensureChromium();
const BUILD_TIMEOUT_MS = 120_000;
const START_TIMEOUT_MS = 60_000;

interface Started {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  url: string;
  /** Spawn to first 200 from /health. */
  healthyMs: number;
  log(): string;
}

/** Only what a bare system has: no Bun on PATH, HOME pointing at an empty directory. */
const bareEnv = (home: string, extra: Record<string, string> = {}) => ({ PATH: "/usr/bin:/bin", HOME: home, ...extra });

async function startServe(binary: string, cwd: string, env: Record<string, string>, extraArgs: string[] = []): Promise<Started> {
  const t0 = performance.now();
  const proc = spawn({ cmd: [binary, "serve", "--port", "0", "--threads", "1", ...extraArgs], cwd, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let text = "";
  for (const stream of [proc.stdout, proc.stderr]) {
    void (async () => {
      const dec = new TextDecoder();
      for await (const chunk of stream) text += dec.decode(chunk, { stream: true });
    })();
  }
  const deadline = Date.now() + START_TIMEOUT_MS;
  let url = "";
  while (Date.now() < deadline) {
    url ||= /listening on (http:\/\/[^\s]+)/.exec(text)?.[1] ?? "";
    if (url && (await fetch(`${url}/health`).then((r) => r.status === 200, () => false))) {
      return { proc, url, healthyMs: performance.now() - t0, log: () => text };
    }
    if (proc.exitCode !== null) throw new Error(`warren exited with ${proc.exitCode}:\n${text}`);
    await Bun.sleep(20);
  }
  proc.kill("SIGKILL");
  throw new Error(`warren did not become healthy:\n${text}`);
}

async function stop(s: Started): Promise<number> {
  s.proc.kill("SIGTERM");
  return s.proc.exited;
}

function run(binary: string, args: string[], cwd: string, env: Record<string, string>) {
  const r = Bun.spawnSync({ cmd: [binary, ...args], cwd, env, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

/** Like run(), without blocking this process: for commands that talk to a server running in it. */
async function runAsync(binary: string, args: string[], cwd: string, env: Record<string, string>) {
  const p = spawn({ cmd: [binary, ...args], cwd, env, stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code, out, err };
}

/** Entries of <cache>/runtime, temporary ones included (there must be none left). */
const runtimeEntries = (cacheDir: string) => readdirSync(join(cacheDir, "runtime"));

describe("dist/warren, copied alone to an empty directory", () => {
  let work: string;
  let binary: string;
  let home: string;
  let cwd: string;
  const timings: string[] = [];
  /** The one runtime directory in the default cache. */
  const runtimeDir = () => {
    const root = join(home, ".cache/warren/runtime");
    return join(root, readdirSync(root)[0]!);
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "warren-compiled-"));
    let built = process.env.WARREN_COMPILED_BINARY;
    if (!built) {
      built = join(work, "build", "warren");
      const t0 = performance.now();
      const r = await buildWarren({ target: `bun-linux-${process.arch}`, outfile: built, zstdLevel: 19 });
      timings.push(`build ${((performance.now() - t0) / 1000).toFixed(1)} s, ${(r.bytes / 1048576).toFixed(1)} MiB`);
    }
    for (const d of ["bin", "home", "cwd"]) mkdirSync(join(work, d));
    binary = join(work, "bin", "warren");
    copyFileSync(built, binary);
    Bun.spawnSync(["chmod", "+x", binary]);
    home = join(work, "home");
    cwd = join(work, "cwd");
  }, BUILD_TIMEOUT_MS);

  afterAll(() => {
    if (timings.length > 0) console.log(`compiled binary: ${timings.join("; ")}`);
    rmSync(work, { recursive: true, force: true });
  });

  test("first start: unpacks into ~/.cache/warren, generates the default model, serves /generate, exits 0 on SIGTERM", async () => {
    const s = await startServe(binary, cwd, bareEnv(home));
    timings.push(`first start to healthy ${s.healthyMs.toFixed(0)} ms`);
    expect(s.log()).toContain("unpacked the embedded runtime");
    expect(s.log()).toContain("(generated now)");
    // The binding probe re-runs the executable; had it started a second server, it would log too.
    expect(s.log().match(/listening on/g)?.length).toBe(1);
    // The decode thread's module is in the binary: llama.cpp's C API drives the model, no fallback.
    expect(s.log()).toContain("engine=c-api");
    expect(existsSync(join(cwd, "models/default.gguf"))).toBe(true);
    const r = await fetch(`${s.url}/generate`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt: "Hello", max_tokens: 5 }) });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { success: boolean; data: { tokens: number; text: string } };
    expect(body.success).toBe(true);
    expect(body.data.tokens).toBeGreaterThan(0);
    expect(body.data.tokens).toBeLessThanOrEqual(5);
    // The embedding side is imported on first use: it must load from the unpacked runtime too.
    const e = await fetch(`${s.url}/v1/embeddings`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ input: "Hello", encoding_format: "float" }) });
    expect(e.status).toBe(200);
    expect(((await e.json()) as { data: Array<{ embedding: number[] }> }).data[0]!.embedding).toHaveLength(64);
    expect(await stop(s)).toBe(0);
    expect(runtimeEntries(join(home, ".cache/warren"))).toHaveLength(1);
  });

  test("second start reuses the unpacked runtime: no unpack, still one cache entry", async () => {
    const marker = join(runtimeDir(), ".warren-runtime.json");
    const before = statSync(marker).mtimeMs;
    const s = await startServe(binary, cwd, bareEnv(home));
    timings.push(`later start to healthy ${s.healthyMs.toFixed(0)} ms`);
    expect(s.log()).not.toContain("unpacked the embedded runtime");
    expect(s.log()).not.toContain("(generated now)");
    expect(await stop(s)).toBe(0);
    expect(runtimeEntries(join(home, ".cache/warren"))).toHaveLength(1);
    expect(statSync(marker).mtimeMs).toBe(before);
  });

  test("the web console is in the binary: / and its assets are the bundle of src/web, and the page works in Chromium", async () => {
    const s = await startServe(binary, cwd, bareEnv(home));
    try {
      // The same bytes as the sources bundle to here (the asset names are content hashes).
      for (const f of await bundleConsole()) {
        const r = await fetch(`${s.url}${f.path}`);
        expect(r.status).toBe(200);
        expect(r.headers.get("content-type")).toBe(f.type);
        expect(await r.text()).toBe(f.text);
      }
      if (chromiumBin.bin === undefined) {
        if (process.env.CI) throw new Error(chromiumBin.why);
        console.warn(`skipping the browser half: ${chromiumBin.why}`);
        return;
      }
      const browser = await launchChromium(chromiumBin.bin);
      try {
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on("pageerror", (e) => errors.push(e.message));
        await page.goto(`${s.url}/`);
        await page.waitForSelector("#chat-model option", { state: "attached" });
        await page.fill("#chat-max-tokens", "8");
        await page.fill("#chat-input", "Hello");
        await page.click("#chat-send");
        await page.waitForSelector(".msg.assistant:not(.streaming) .figures:text-matches('8 tokens')");
        expect(errors).toEqual([]);
      } finally {
        await browser.close();
      }
    } finally {
      expect(await stop(s)).toBe(0);
    }
    const off = await startServe(binary, cwd, bareEnv(home), ["--no-webui"]);
    expect((await fetch(`${off.url}/`)).status).toBe(404);
    expect(await stop(off)).toBe(0);
  });

  test("binding probe: with TEST_BINDING_CP the binary speaks node-llama-cpp's probe protocol and starts nothing else", async () => {
    // What getLlama() does on Linux: fork(testBindingBinary.js) with process.execPath = the binary.
    const rt = runtimeDir();
    const platform = `linux-${process.arch}`;
    const child = fork(join(rt, "node_modules/node-llama-cpp/dist/bindings/utils/testBindingBinary.js"), [], {
      execPath: binary,
      cwd,
      env: bareEnv(home, { TEST_BINDING_CP: "true" }),
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    let output = "";
    child.stdout!.on("data", (d) => (output += d));
    child.stderr!.on("data", (d) => (output += d));
    const seen: string[] = [];
    const request = { bindingBinaryPath: join(rt, `node_modules/@node-llama-cpp/${platform}/bins/${platform}/llama-addon.node`), gpu: false };
    child.on("message", (m: { type: string }) => {
      seen.push(m.type);
      const next = { ready: "start", loaded: "test", done: "exit" }[m.type];
      if (next) child.send({ type: next, ...request });
    });
    const code = await new Promise<number | null>((done) => child.on("exit", done));
    expect(seen).toEqual(["ready", "loaded", "done"]);
    expect(code).toBe(0);
    expect(output).not.toContain("listening");
  });

  test("--version and --help exit 0", () => {
    const v = run(binary, ["--version"], cwd, bareEnv(home));
    expect(v.code).toBe(0);
    expect(v.out.trim()).toBe(`warren ${JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version}`);
    const h = run(binary, ["--help"], cwd, bareEnv(home));
    expect(h.code).toBe(0);
    expect(h.out).toContain("warren [serve] [flags]");
    expect(h.out).toContain("--cache-dir");
  });

  test("model make / model info, and bench", () => {
    const made = run(binary, ["model", "make", "--preset", "tiny-q8", "--out", "m/q8.gguf"], cwd, bareEnv(home));
    expect(made.code).toBe(0);
    expect(existsSync(join(cwd, "m/q8.gguf"))).toBe(true);
    const info = run(binary, ["model", "info", "m/q8.gguf"], cwd, bareEnv(home));
    expect(info.code).toBe(0);
    expect(info.out).toContain('general.name = "warren-tiny-q8"');
    expect(run(binary, ["bench", "--help"], cwd, bareEnv(home)).code).toBe(0);
    expect(run(binary, ["bench", "load", "--requests", "x"], cwd, bareEnv(home)).code).toBe(2);
  });

  test("bench load against the binary's own server", async () => {
    const s = await startServe(binary, cwd, bareEnv(home));
    const p = spawn({
      cmd: [binary, "bench", "load", "--url", s.url, "--requests", "4", "--concurrency", "2", "--max-tokens", "4", "--no-progress"],
      cwd,
      env: bareEnv(home),
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, out] = await Promise.all([p.exited, new Response(p.stdout).text()]);
    expect(await stop(s)).toBe(0);
    expect(code).toBe(0);
    expect(out).toMatch(/Successful requests:\s+4\n/);
  });

  test("two first starts at once share one unpack (--cache-dir and WARREN_CACHE_DIR)", async () => {
    const cache = join(work, "shared-cache");
    const dirs = [join(work, "cwd-a"), join(work, "cwd-b")];
    for (const d of dirs) mkdirSync(d);
    const [a, b] = await Promise.all([
      startServe(binary, dirs[0]!, bareEnv(home), ["--cache-dir", cache]),
      startServe(binary, dirs[1]!, bareEnv(home, { WARREN_CACHE_DIR: cache })),
    ]);
    expect([await stop(a), await stop(b)]).toEqual([0, 0]);
    expect(runtimeEntries(cache)).toHaveLength(1);
    // Neither touched the default cache (it still holds only the first test's entry).
    expect(runtimeEntries(join(home, ".cache/warren"))).toHaveLength(1);
  });

  test("pulls into its cache (~/.cache/warren/models, or under --cache-dir), lists it, serves it --offline", async () => {
    // A fixture hub in this process (test/helpers/hub.ts); the binary finds it through HF_ENDPOINT.
    const hub = await startHub(hubRepos(await makeHubModels(mkdtempSync(join(work, "hub-")))));
    try {
      const env = bareEnv(home, { HF_ENDPOINT: hub.url });
      const pulled = await runAsync(binary, ["pull", "hf:warren-test/tiny-chat-GGUF:Q8_0"], cwd, env);
      expect(pulled).toMatchObject({ code: 0 });
      expect(pulled.out).toContain(`${home}/.cache/warren/models/hf_warren-test_tiny-chat.Q8_0.gguf`);
      expect(existsSync(join(home, ".cache/warren/models/hf_warren-test_tiny-chat.Q8_0.gguf"))).toBe(true);
      const listed = await runAsync(binary, ["models"], cwd, env);
      expect(listed.code).toBe(0);
      expect(listed.out).toMatch(/^hf_warren-test_tiny-chat\.Q8_0\s+226 KiB\s+Q8_0\s+197K\s+2048\s+JinjaTemplate \(tools, reasoning\)/m);
      const before = hub.requests.length;
      const s = await startServe(binary, cwd, env, ["--model", "hf:warren-test/tiny-chat-GGUF:Q8_0", "--offline"]);
      expect(s.log()).toContain("serving hf:warren-test/tiny-chat-GGUF:Q8_0 from the model store");
      expect(await stop(s)).toBe(0);
      expect(hub.requests.length).toBe(before);
      const other = join(work, "pull-cache");
      const viaFlag = await runAsync(binary, ["pull", "hf:warren-test/tiny-chat-GGUF:F16", "--cache-dir", other], cwd, env);
      expect(viaFlag.code).toBe(0);
      expect(existsSync(join(other, "models/hf_warren-test_tiny-chat.F16.gguf"))).toBe(true);
    } finally {
      await hub.stop();
    }
  });

  test("a bad --cache-dir is a usage error, not a crash", () => {
    const r = run(binary, ["--version", "--cache-dir"], cwd, bareEnv(home));
    expect(r.code).toBe(2);
    expect(r.err).toContain("--cache-dir needs a directory");
  });
});

describe("runtime cache and bootstrap (in process)", () => {
  const files = [
    { path: "a/x.js", mode: 0o644, data: new TextEncoder().encode("export const x = 1;\n") },
    { path: "a/b/lib.so", mode: 0o755, data: new Uint8Array(4096).fill(7) },
    { path: "empty", mode: 0o600, data: new Uint8Array(0) },
  ];

  test("pack/unpack round trip keeps paths, bytes and modes", () => {
    const dir = mkdtempSync(join(tmpdir(), "warren-pack-"));
    try {
      expect(unpackTo(pack(files, 3), dir)).toBe(3);
      for (const f of files) expect(new Uint8Array(readFileSync(join(dir, f.path)))).toEqual(f.data);
      expect(Bun.spawnSync(["stat", "-c", "%a", join(dir, "a/b/lib.so")]).stdout.toString().trim()).toBe("755");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("archives cannot write outside their directory", () => {
    for (const path of ["../evil", "/etc/evil", "a/../../evil"]) {
      expect(() => pack([{ path, mode: 0o644, data: new Uint8Array(1) }], 1)).toThrow("unsafe path");
    }
  });

  test("cache dir: --cache-dir, then WARREN_CACHE_DIR, then an absolute XDG_CACHE_HOME, then ~/.cache", () => {
    expect(resolveCacheDir("/f", { WARREN_CACHE_DIR: "/e", XDG_CACHE_HOME: "/x" })).toBe("/f");
    expect(resolveCacheDir(undefined, { WARREN_CACHE_DIR: "/e", XDG_CACHE_HOME: "/x" })).toBe("/e");
    expect(resolveCacheDir(undefined, { XDG_CACHE_HOME: "/x" })).toBe("/x/warren");
    expect(resolveCacheDir(undefined, { XDG_CACHE_HOME: "relative" })).toMatch(/\/\.cache\/warren$/);
  });

  test("--cache-dir is taken out of the arguments wherever it is", () => {
    expect(takeCacheDir(["serve", "--cache-dir", "/c", "--port", "1"])).toEqual({ args: ["serve", "--port", "1"], cacheDir: "/c" });
    expect(takeCacheDir(["--cache-dir=/c", "--version"])).toEqual({ args: ["--version"], cacheDir: "/c" });
    expect(takeCacheDir(["model", "info", "x"])).toEqual({ args: ["model", "info", "x"], cacheDir: undefined });
    expect(() => takeCacheDir(["--cache-dir"])).toThrow("needs a directory");
  });

  test("the binding probe is recognised only as node-llama-cpp sends it", () => {
    const file = "/c/runtime/h/node_modules/node-llama-cpp/dist/bindings/utils/testBindingBinary.js";
    const argv = ["bun", "/$bunfs/root/warren", file];
    expect(bindingProbeFile(argv, { TEST_BINDING_CP: "true" }, true)).toBe(file);
    expect(bindingProbeFile(argv, { TEST_BINDING_CP: "true" }, false)).toBeNull();
    expect(bindingProbeFile(argv, {}, true)).toBeNull();
    expect(bindingProbeFile(["bun", "w", "/tmp/other.js"], { TEST_BINDING_CP: "true" }, true)).toBeNull();
  });

  test("losing the rename race: the loser drops its copy and uses the winner's", () => {
    const cache = mkdtempSync(join(tmpdir(), "warren-lose-"));
    const payload = pack(files, 1);
    try {
      // The nested call runs while the outer one has its temporary copy ready: it wins the rename.
      const outer = ensureRuntime(cache, "00000000aaaaaaaa", () => {
        expect(ensureRuntime(cache, "00000000aaaaaaaa", () => payload).unpacked).toBe(true);
        return payload;
      });
      expect(outer.unpacked).toBe(false);
      expect(runtimeEntries(cache)).toEqual(["00000000aaaaaaaa"]);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });

  test("a runtime directory without its completion marker is replaced, not trusted", () => {
    const cache = mkdtempSync(join(tmpdir(), "warren-broken-"));
    try {
      mkdirSync(join(cache, "runtime/00000000bbbbbbbb/junk"), { recursive: true });
      const r = ensureRuntime(cache, "00000000bbbbbbbb", () => pack(files, 1));
      expect(r.unpacked).toBe(true);
      expect(existsSync(join(r.dir, "junk"))).toBe(false);
      expect(existsSync(join(r.dir, "a/x.js"))).toBe(true);
      expect(runtimeEntries(cache)).toEqual(["00000000bbbbbbbb"]);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });

  test("processes racing on an empty cache all succeed and leave exactly one complete directory", async () => {
    const cache = mkdtempSync(join(tmpdir(), "warren-race-"));
    const payloadFile = join(cache, "payload.wpk");
    // Large enough that the unpacks overlap.
    const big = Array.from({ length: 200 }, (_, i) => ({ path: `d${i % 7}/f${i}.bin`, mode: 0o644, data: new Uint8Array(64 * 1024).fill(i) }));
    await Bun.write(payloadFile, pack(big, 1));
    const script = `
      import { ensureRuntime } from ${JSON.stringify(join(REPO, "src/compiled/cache.ts"))};
      import { readFileSync } from "node:fs";
      const r = ensureRuntime(${JSON.stringify(join(cache, "c"))}, "0123456789abcdef", () => readFileSync(${JSON.stringify(payloadFile)}));
      console.log(JSON.stringify(r));`;
    try {
      const procs = Array.from({ length: 4 }, () => spawn({ cmd: [process.execPath, "-e", script], stdout: "pipe", stderr: "pipe" }));
      const results = await Promise.all(procs.map(async (p) => ({ code: await p.exited, out: await new Response(p.stdout).text(), err: await new Response(p.stderr).text() })));
      for (const r of results) expect(r).toMatchObject({ code: 0, err: "" });
      const dirs = results.map((r) => JSON.parse(r.out).dir);
      expect(new Set(dirs).size).toBe(1);
      expect(results.filter((r) => JSON.parse(r.out).unpacked).length).toBe(1);
      expect(runtimeEntries(join(cache, "c"))).toEqual(["0123456789abcdef"]);
      expect(readdirSync(join(dirs[0], "d3")).length).toBeGreaterThan(0);
      // A later call is a lookup only: the payload is not even read.
      expect(ensureRuntime(join(cache, "c"), "0123456789abcdef", () => { throw new Error("read"); }).unpacked).toBe(false);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
