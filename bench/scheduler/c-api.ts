// node-llama-cpp's binding against llama.cpp's C API, both driving the same prebuilt libraries in
// the same bare lockstep loop (ceiling.ts and c-api-ceiling.ts: 8 streams, greedy, no scheduler, no
// HTTP), each round a fresh process per row, rows alternated. The C API row is not the product: it
// measures what Warren's inference loop would gain by calling llama.cpp directly (synchronous decode
// and sampling, no thread-pool hand-off per call). Every row must generate the same tokens.
//   bun bench/scheduler/c-api.ts [--rounds 3] [--concurrency 8]
import { spawn } from "bun";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { makeModel } from "../../src/models/presets.ts";

const ROOT = resolve(import.meta.dir, "../..");
const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    concurrency: { type: "string", default: "8" },
  },
});
const benchModel = resolve(ROOT, "models/bench.gguf");
if (!existsSync(benchModel)) await makeModel({ preset: "bench", out: benchModel });
// [name, path, tokens per stream, threads]: the thread counts `--threads auto` picks for each on 2 cores.
const cases: Array<[string, string, number, number]> = [
  ["stories260K", resolve(ROOT, "../shared/models/stories260K.gguf"), 128, 1],
  ["bench preset (100M, Q8_0)", benchModel, 32, 1],
  ["bench preset (100M, Q8_0)", benchModel, 32, 2],
];
const rows = [
  { name: "node-llama-cpp binding (LlamaEngine.decode)", script: "ceiling.ts", extra: ["binding"] as string[] },
  { name: "C API through bun:ffi", script: "c-api-ceiling.ts", extra: [] },
  { name: "C API, ggml threadpool attached", script: "c-api-ceiling.ts", extra: ["--threadpool"] },
];

interface Result {
  tokensPerSecond: number;
  usPerDecode: number;
  slot0: number[];
}

async function run(script: string, model: string, tokens: number, threads: number, extra: string[]): Promise<Result> {
  const cmd = [process.execPath, resolve(import.meta.dir, script), model, values.concurrency!, String(tokens), String(threads), "2", "512", "auto", ...extra];
  const proc = spawn({ cmd, stdout: "pipe", stderr: "inherit" });
  const out = await new Response(proc.stdout).text();
  if ((await proc.exited) !== 0) throw new Error(`${script} failed for ${model}`);
  return JSON.parse(out.trim().split("\n").at(-1)!);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const range = (xs: number[]) => `${median(xs).toFixed(0)} [${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)}]`;
console.log(`| model | threads | driven by | tok/s, median [min-max] | ms per step | vs binding |`);
console.log(`|---|---|---|---|---|---|`);
for (const [name, path, tokens, threads] of cases) {
  if (!existsSync(path)) {
    console.error(`skipping ${name}: ${path} is missing`);
    continue;
  }
  const results: Result[][] = rows.map(() => []);
  for (let r = 0; r < Number(values.rounds); r++) {
    for (let i = 0; i < rows.length; i++) results[i]!.push(await run(rows[i]!.script, path, tokens, threads, rows[i]!.extra));
  }
  const reference = JSON.stringify(results[0]![0]!.slot0);
  for (let i = 0; i < rows.length; i++) {
    for (const res of results[i]!) {
      if (JSON.stringify(res.slot0) !== reference) throw new Error(`${rows[i]!.name} generated other tokens than the binding on ${name}`);
    }
  }
  const base = median(results[0]!.map((x) => x.tokensPerSecond));
  for (let i = 0; i < rows.length; i++) {
    const rates = results[i]!.map((x) => x.tokensPerSecond);
    const step = median(results[i]!.map((x) => x.usPerDecode)) / 1000;
    console.log(`| ${name} | ${threads} | ${rows[i]!.name} | ${range(rates)} | ${step.toFixed(2)} | ${(median(rates) / base).toFixed(2)}x |`);
  }
}
