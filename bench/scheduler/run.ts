// Scheduler benchmark: Warren over real sockets (streaming /generate, EOS ignored) against
// node-llama-cpp driven in-process by a naive loop (bench/scheduler/naive.ts), same model, same
// threads, alternating over several rounds; prints medians with min-max as markdown. A third
// contender, the decode ceiling (bench/scheduler/ceiling.ts: the engine's batched decode in a bare
// lockstep loop), shows how much of what is left is llama.cpp's own decode time.
//
//   bun bench/scheduler/run.ts [--model PATH] [--tokens 128] [--rounds 3] [--batches 3] [--threads 1] [--concurrency 1,8] [--parallel 8]
import { spawn, type Subprocess } from "bun";
import { resolve } from "node:path";
import { parseArgs } from "node:util";

const ROOT = resolve(import.meta.dir, "../..");
const { values } = parseArgs({
  options: {
    model: { type: "string", default: resolve(ROOT, "../shared/models/stories260K.gguf") },
    tokens: { type: "string", default: "128" },
    rounds: { type: "string", default: "3" },
    threads: { type: "string", default: "1" },
    concurrency: { type: "string", default: "1,8" },
    parallel: { type: "string", default: "8" },
    batches: { type: "string", default: "3" },
  },
});
const tokens = Number(values.tokens);
const rounds = Number(values.rounds);
const levels = values.concurrency!.split(",").map(Number);
const batches = Number(values.batches);

async function startWarren(): Promise<{ proc: Subprocess; url: string }> {
  const proc = spawn({
    cmd: [process.execPath, resolve(ROOT, "src/main.ts"), "serve", "--model", values.model!, "--port", "0", "--threads", values.threads!, "--parallel", values.parallel!, "--ctx-per-slot", "512", "--log-level", "info"],
    stdout: "ignore",
    stderr: "pipe",
  });
  const reader = (proc.stderr as ReadableStream<Uint8Array>).getReader();
  let seen = "";
  const deadline = Date.now() + 60_000;
  let url = "";
  while (!url && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += new TextDecoder().decode(value);
    url = seen.match(/listening on (http:\/\/\S+)/)?.[1] ?? "";
  }
  if (!url) throw new Error(`warren did not start:\n${seen}`);
  void (async () => {
    while (!(await reader.read()).done);
  })();
  while (Date.now() < deadline) {
    const ok = await fetch(url + "/health").then((r) => r.ok, () => false);
    if (ok) return { proc, url };
    await Bun.sleep(100);
  }
  throw new Error("warren never became healthy");
}

async function streamOne(url: string, prompt: string): Promise<number> {
  const res = await fetch(url + "/generate", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ prompt, max_tokens: tokens, temperature: 0, stream: true, ignore_eos: true }),
  });
  const text = await res.text();
  const final = text.split("\n\n").filter((f) => f.startsWith("data: ")).map((f) => JSON.parse(f.slice(6))).at(-1);
  if (!final?.done) throw new Error(`bad stream end: ${JSON.stringify(final)}`);
  return final.tokens as number;
}

async function warrenRun(url: string, concurrency: number): Promise<number> {
  await streamOne(url, "Once upon a time"); // warm
  const t0 = performance.now();
  const counts: number[] = [];
  for (let b = 0; b < batches; b++) counts.push(...(await Promise.all(Array.from({ length: concurrency }, () => streamOne(url, "Once upon a time")))));
  return counts.reduce((a, b) => a + b, 0) / ((performance.now() - t0) / 1000);
}

async function childRun(script: "naive.ts" | "ceiling.ts", concurrency: number): Promise<number> {
  const proc = spawn({ cmd: [process.execPath, resolve(import.meta.dir, script), values.model!, String(concurrency), String(tokens), values.threads!, String(batches)], stdout: "pipe", stderr: "inherit" });
  const out = await new Response(proc.stdout).text();
  await proc.exited;
  return JSON.parse(out.trim().split("\n").at(-1)!).tokensPerSecond;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (xs: number[]) => `${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)})`;

const warren = await startWarren();
const results = new Map<number, { naive: number[]; warren: number[]; ceiling: number[] }>();
try {
  for (let r = 0; r < rounds; r++) {
    for (const c of levels) {
      const entry = results.get(c) ?? { naive: [], warren: [], ceiling: [] };
      results.set(c, entry);
      entry.naive.push(await childRun("naive.ts", c));
      entry.warren.push(await warrenRun(warren.url, c));
      entry.ceiling.push(await childRun("ceiling.ts", c));
      console.error(
        `round ${r + 1}/${rounds} c=${c}: naive ${entry.naive.at(-1)!.toFixed(0)} tok/s, warren ${entry.warren.at(-1)!.toFixed(0)} tok/s, ceiling ${entry.ceiling.at(-1)!.toFixed(0)} tok/s`,
      );
    }
  }
} finally {
  warren.proc.kill("SIGTERM");
  await warren.proc.exited;
}

const ratio = (a: number[], b: number[]) => `${(median(a) / median(b)).toFixed(2)}x`;
console.log(`| concurrent streams | naive node-llama-cpp loop, tok/s | Warren over HTTP, tok/s | Warren / naive | decode ceiling, tok/s | ceiling / naive | Warren / ceiling |`);
console.log(`|---|---|---|---|---|---|---|`);
for (const [c, e] of results) {
  console.log(`| ${c} | ${fmt(e.naive)} | ${fmt(e.warren)} | ${ratio(e.warren, e.naive)} | ${fmt(e.ceiling)} | ${ratio(e.ceiling, e.naive)} | ${ratio(e.warren, e.ceiling)} |`);
}
