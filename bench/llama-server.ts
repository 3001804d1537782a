// Warren against llama-server on the same model, threads and slots: both started as a user would
// (warren serve with its defaults plus the flags below, access log included), loaded with
// `warren bench load --api openai` (streaming /v1/completions, a fresh connection per request,
// since llama-server resets kept-alive connections after a stream), rounds alternated.
//
// llama-server is built once from the llama.cpp source node-llama-cpp bundles
// (node_modules/node-llama-cpp/llama/gitRelease.bundle plus llama/patches) into the cache
// directory; that needs git, cmake and a C++ compiler (~15 min on 2 cores). Without them the
// script says so and exits 0. It is never part of `npm test`.
//   bun bench/llama-server.ts [--model PATH] [--threads 1] [--parallel 8] [--ctx-size 512]
//                             [--requests 256] [--warmup 64] [--max-tokens 128] [--rounds 3]
//                             [--rate R] [--variant="--cpus 0" ...] [--build-only | --no-build]
// --model bench stands for the generated 100M `bench` preset (models/bench.gguf, made if missing).
// --rate R: open-loop arrivals (Poisson at R requests/s, seeded, at most --parallel in flight) instead of
// a closed loop of --parallel clients (which starts every stream together and keeps equal-length ones in step).
// --variant adds a row: warren serve with those flags too (repeatable), in the same rotation.
// --no-build skips the comparison, saying so, when llama-server is not built yet (bench/results.ts).
// Each server is started afresh per round and first answers --warmup requests (not measured, the
// same for both): a server is judged as it runs after its first seconds, when JavaScriptCore has
// compiled the hot paths (Warren's tokens/s in its first 2 s are ~5% lower; llama-server has no
// warm-up). `--warmup 8 --requests 64` measures those first seconds.
import { spawn, spawnSync, type Subprocess } from "bun";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const ROOT = resolve(import.meta.dir, "..");
const LLAMA = join(ROOT, "node_modules", "node-llama-cpp", "llama");
const { values } = parseArgs({
  options: {
    model: { type: "string", default: resolve(ROOT, "../shared/models/stories260K.gguf") },
    threads: { type: "string", default: "1" },
    parallel: { type: "string", default: "8" },
    "ctx-size": { type: "string", default: "512" },
    requests: { type: "string", default: "256" },
    warmup: { type: "string", default: "64" },
    "max-tokens": { type: "string", default: "128" },
    rounds: { type: "string", default: "3" },
    rate: { type: "string" },
    "build-only": { type: "boolean", default: false },
    "no-build": { type: "boolean", default: false },
    variant: { type: "string", multiple: true, default: [] },
  },
});
/** Warren rows: as started by default, then one per --variant (extra serve flags), all in the same alternation. */
const WARREN_ROWS: Array<{ label: string; flags: string[] }> = [
  { label: "warren", flags: [] },
  ...values.variant!.map((v) => ({ label: `warren ${v.trim()}`, flags: v.trim().split(/\s+/) })),
];

function cacheDir(): string {
  const base = process.env.WARREN_CACHE_DIR ?? (process.env.XDG_CACHE_HOME ? join(process.env.XDG_CACHE_HOME, "warren") : join(homedir(), ".cache", "warren"));
  const tag = JSON.parse(readFileSync(join(LLAMA, "llama.cpp.info.json"), "utf8")).tag as string;
  return join(base, "llama-server", tag);
}

function run(cmd: string[], cwd: string): void {
  const r = spawnSync({ cmd, cwd, stdout: "inherit", stderr: "inherit" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed (exit ${r.exitCode})`);
}

/** The llama-server binary, built on first use; null (with the reason printed) when it cannot be built here. */
function llamaServer(): string | null {
  const dir = cacheDir();
  const bin = join(dir, "build", "bin", "llama-server");
  if (existsSync(bin)) return bin;
  if (values["no-build"]) {
    console.log(`- llama-server comparison skipped: not built yet (bun bench/llama-server.ts --build-only builds it into ${dir}, ~15 min on 2 cores)`);
    return null;
  }
  const missing = ["git", "cmake", "c++"].filter((t) => !Bun.which(t));
  if (missing.length > 0) {
    console.log(`- llama-server comparison skipped: ${missing.join(", ")} not found (apt-get install -y git cmake g++)`);
    return null;
  }
  console.error(`building llama-server into ${dir} (once; ~15 min on 2 cores)`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  run(["git", "clone", "--quiet", join(LLAMA, "gitRelease.bundle"), "src"], dir);
  const src = join(dir, "src");
  for (const patch of readdirSync(join(LLAMA, "patches")).sort()) run(["git", "apply", join(LLAMA, "patches", patch)], src);
  const flags = ["-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=ON"];
  run(["cmake", "-S", src, "-B", join(dir, "build"), ...flags], dir);
  run(["cmake", "--build", join(dir, "build"), "--target", "llama-server", "-j", String(navigator.hardwareConcurrency)], dir);
  return bin;
}

interface Server {
  proc: Subprocess;
  url: string;
}

async function healthy(url: string, proc: Subprocess, log: string): Promise<void> {
  const until = Date.now() + 120_000;
  while (Date.now() < until) {
    if (proc.exitCode !== null) throw new Error(`${url} exited (${proc.exitCode}); log: ${log}`);
    if (await fetch(`${url}/health`).then((r) => r.status === 200, () => false)) return;
    await Bun.sleep(100);
  }
  throw new Error(`${url} never became healthy; log: ${log}`);
}

function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

async function startWarren(logDir: string, flags: string[]): Promise<Server> {
  const port = freePort();
  const log = join(logDir, "warren.log");
  const args = ["serve", "--model", values.model!, "--port", String(port), "--threads", values.threads!, "--parallel", values.parallel!, "--ctx-per-slot", values["ctx-size"]!, ...flags];
  const proc = spawn({ cmd: [process.execPath, join(ROOT, "src", "main.ts"), ...args], cwd: ROOT, stdout: Bun.file(log), stderr: Bun.file(log) });
  const url = `http://127.0.0.1:${port}`;
  await healthy(url, proc, log);
  return { proc, url };
}

async function startLlamaServer(bin: string, logDir: string): Promise<Server> {
  const port = freePort();
  const log = join(logDir, "llama-server.log");
  // -c is the whole context, divided among the slots (Warren's --ctx-size too): per slot times the slots.
  const ctx = String(Number(values["ctx-size"]) * Number(values.parallel));
  const args = ["-m", values.model!, "--host", "127.0.0.1", "--port", String(port), "-t", values.threads!, "-np", values.parallel!, "-c", ctx];
  const proc = spawn({ cmd: [bin, ...args], stdout: Bun.file(log), stderr: Bun.file(log) });
  const url = `http://127.0.0.1:${port}`;
  await healthy(url, proc, log);
  return { proc, url };
}

interface Result {
  tokS: number;
  itlP99: number;
  failed: number;
}

async function load(url: string, dir: string, name: string): Promise<Result> {
  const json = join(dir, `${name}.json`);
  const cmd = [process.execPath, join(ROOT, "src", "main.ts"), "bench", "load", "--api", "openai", "--url", url, "--requests", values.requests!,
    "--concurrency", values.parallel!, "--max-tokens", values["max-tokens"]!, "--ignore-eos", "--fresh-connections", "--no-progress", "--warmup", values.warmup!, "--json", json,
    ...(values.rate ? ["--rate", values.rate] : [])];
  const r = spawnSync({ cmd, cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (!existsSync(json)) throw new Error(`bench load against ${url} failed: ${r.stderr.toString().slice(-500)}`);
  const report = JSON.parse(readFileSync(json, "utf8"));
  return { tokS: report.summary.avg_throughput_tokens_per_s ?? 0, itlP99: report.latency_ms.itl?.p99 ?? NaN, failed: report.summary.failed_requests };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const range = (xs: number[], digits = 0) => `${median(xs).toFixed(digits)} [${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)}]`;

const BENCH_PRESET = join(ROOT, "models", "bench.gguf");
const bin = llamaServer();
if (bin && !values["build-only"]) {
  if (values.model === "bench") {
    values.model = BENCH_PRESET;
    if (!existsSync(BENCH_PRESET)) {
      console.error(`generating the bench preset at ${BENCH_PRESET}`);
      const { makeModel } = await import("../src/models/presets.ts");
      await makeModel({ preset: "bench", out: BENCH_PRESET });
    }
  }
  if (!existsSync(values.model!)) throw new Error(`model not found: ${values.model}`);
  const dir = mkdtempSync(join(tmpdir(), "warren-vs-llama-"));
  const rows = [...WARREN_ROWS.map((r) => r.label), "llama-server"];
  const results = new Map<string, Result[]>(rows.map((r) => [r, []]));
  for (let round = 0; round < Number(values.rounds); round++) {
    // Rotate which goes first, so drift of a shared machine favours none.
    const order = rows.map((_, i) => rows[(i + round) % rows.length]!);
    for (const who of order) {
      const variant = WARREN_ROWS.find((r) => r.label === who);
      const server = variant ? await startWarren(dir, variant.flags) : await startLlamaServer(bin, dir);
      try {
        const r = await load(server.url, dir, `${who.replace(/\W+/g, "_")}-${round}`);
        results.get(who)!.push(r);
        console.error(`round ${round + 1} ${who}: ${r.tokS.toFixed(0)} tok/s, ITL p99 ${r.itlP99.toFixed(2)} ms, ${r.failed} failed`);
      } finally {
        server.proc.kill("SIGTERM");
        await server.proc.exited;
      }
    }
  }
  const l = results.get("llama-server")!.map((r) => r.tokS);
  console.log(`- model ${values.model}, --threads ${values.threads}, ${values.parallel} slots, ctx ${values["ctx-size"]}/slot, ` +
    `${values.requests} requests x ${values["max-tokens"]} tokens ${values.rate ? `arriving at ${values.rate}/s (Poisson), at most ${values.parallel} in flight,` : `at concurrency ${values.parallel}`} after ${values.warmup} warm-up requests, ` +
    `${values.rounds} rounds alternated (median [min-max])`);
  console.log(`| server | tok/s | ITL p99 ms | failed |\n|---|---|---|---|`);
  for (const [who, rs] of results) {
    console.log(`| ${who} | ${range(rs.map((r) => r.tokS))} | ${range(rs.map((r) => r.itlP99), 2)} | ${rs.reduce((a, r) => a + r.failed, 0)} |`);
  }
  for (const { label } of WARREN_ROWS) {
    const w = results.get(label)!.map((r) => r.tokS);
    console.log(`- ${label === "warren" ? "Warren" : `Warren (${label.slice(7)})`} / llama-server: ${(median(w) / median(l)).toFixed(2)}x (aggregate tok/s, medians)`);
  }
}
