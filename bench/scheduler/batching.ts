// Does batching pay on a compute-bound model? Aggregate tokens/s of N concurrent streams vs one,
// through the scheduler in-process (no HTTP), on the generated `bench` preset (~100M params, Q8_0).
// A second engine on the same file and settings is driven in a bare lockstep loop (engine.decode
// only, no scheduler; its own context, so the scheduler's record of what its slots hold stays
// true): that ratio is what llama.cpp's batched decode itself gives, the ceiling for the scheduler's.
//   bun bench/scheduler/batching.ts [--model PATH] [--tokens 64] [--concurrency 8] [--rounds 3] [--threads 1]
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { LlamaEngine } from "../../src/inference/llama/engine.ts";
import { makeModel } from "../../src/models/presets.ts";
import { Scheduler } from "../../src/inference/scheduler.ts";
import type { InferenceRequest, TokenEvent } from "../../src/inference/types.ts";
import { GREEDY, lockstepDecode } from "./lockstep.ts";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: resolve(import.meta.dir, "../../models/bench.gguf") },
    tokens: { type: "string", default: "64" },
    concurrency: { type: "string", default: "8" },
    rounds: { type: "string", default: "3" },
    threads: { type: "string", default: "1" },
  },
});
const tokens = Number(values.tokens);
const concurrency = Number(values.concurrency);
if (!existsSync(values.model!)) {
  console.error(`generating the bench preset at ${values.model}`);
  await makeModel({ preset: "bench", out: values.model! });
}
const engineOptions = { modelPath: values.model!, slots: concurrency, slotContextSize: 256, threads: Number(values.threads) };
const engine = await LlamaEngine.load(engineOptions);
const bare = await LlamaEngine.load(engineOptions);
const scheduler = new Scheduler({ engine, maxQueue: concurrency });

async function run(prompt: string, maxTokens: number): Promise<number> {
  const req: InferenceRequest = { id: prompt, promptTokens: engine.tokenize(prompt, true), maxTokens, sampling: GREEDY, stop: [], ignoreEos: true };
  let done: Extract<TokenEvent, { type: "done" }> | undefined;
  for await (const ev of scheduler.submit(req)) if (ev.type === "done") done = ev;
  return done!.usage.completionTokens;
}

async function rate(streams: number): Promise<number> {
  const t0 = performance.now();
  const counts = await Promise.all(Array.from({ length: streams }, (_, i) => run(`Story ${i}:`, tokens)));
  return counts.reduce((a, b) => a + b, 0) / ((performance.now() - t0) / 1000);
}

/** The same streams without the scheduler: greedy lockstep decode, one engine.decode per token step. */
async function ceilingRate(streams: number): Promise<number> {
  const r = await lockstepDecode(bare, Array.from({ length: streams }, (_, i) => bare.tokenize(`Story ${i}:`, true)), tokens);
  return r.generated / (r.ms / 1000);
}

/** Tokens per decode call of the scheduler while `streams` run together. */
async function measured(streams: number): Promise<{ rate: number; perDecode: number }> {
  const before = scheduler.stats();
  const r = await rate(streams);
  const after = scheduler.stats();
  return { rate: r, perDecode: (after.decodedTokens - before.decodedTokens) / (after.decodeCalls - before.decodeCalls) };
}

await run("warm", 4);
const single: number[] = [];
const many: number[] = [];
const ceilSingle: number[] = [];
const ceilMany: number[] = [];
let perDecode = 0;
for (let r = 0; r < Number(values.rounds); r++) {
  single.push((await measured(1)).rate);
  const m = await measured(concurrency);
  many.push(m.rate);
  perDecode = m.perDecode;
  ceilSingle.push(await ceilingRate(1));
  ceilMany.push(await ceilingRate(concurrency));
  console.error(
    `round ${r + 1}: scheduler 1 stream ${single.at(-1)!.toFixed(1)} tok/s, ${concurrency} streams ${many.at(-1)!.toFixed(1)} tok/s; ` +
      `lockstep decode 1 stream ${ceilSingle.at(-1)!.toFixed(1)} tok/s, ${concurrency} streams ${ceilMany.at(-1)!.toFixed(1)} tok/s`,
  );
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ratio = (a: number[], b: number[]) => `${(median(a) / median(b)).toFixed(2)}x`;
console.log(`| driven by | 1 stream | ${concurrency} streams | ratio | tokens per decode call at ${concurrency} streams |`);
console.log(`|---|---|---|---|---|`);
console.log(`| Warren's scheduler | ${median(single).toFixed(1)} tok/s | ${median(many).toFixed(1)} tok/s | ${ratio(many, single)} | ${perDecode.toFixed(2)} |`);
console.log(`| bare lockstep engine.decode (ceiling) | ${median(ceilSingle).toFixed(1)} tok/s | ${median(ceilMany).toFixed(1)} tok/s | ${ratio(ceilMany, ceilSingle)} | ${concurrency} |`);
await engine.dispose();
await bare.dispose();
