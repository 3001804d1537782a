// Does batching pay on a compute-bound model? Aggregate tokens/s of N concurrent streams vs one,
// through the scheduler in-process (no HTTP), on the generated `bench` preset (~100M params, Q8_0).
//   bun bench/scheduler/batching.ts [--model PATH] [--tokens 64] [--concurrency 8] [--rounds 3] [--threads 1]
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { LlamaEngine } from "../../src/inference/engine-llama.ts";
import { makeModel } from "../../src/models/presets.ts";
import { Scheduler } from "../../src/inference/scheduler.ts";
import type { InferenceRequest, TokenEvent } from "../../src/inference/types.ts";

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
const engine = await LlamaEngine.load({ modelPath: values.model!, slots: concurrency, slotContextSize: 256, threads: Number(values.threads) });
const scheduler = new Scheduler({ engine, maxQueue: concurrency });
const greedy = { temperature: 0, topK: 0, topP: 1, minP: 0, repeatPenalty: 1, presencePenalty: 0, frequencyPenalty: 0, penaltyLastN: 64 };

async function run(prompt: string, maxTokens: number): Promise<number> {
  const req: InferenceRequest = { id: prompt, promptTokens: engine.tokenize(prompt, true), maxTokens, sampling: greedy, stop: [], ignoreEos: true };
  let done: Extract<TokenEvent, { type: "done" }> | undefined;
  for await (const ev of scheduler.submit(req)) if (ev.type === "done") done = ev;
  return done!.usage.completionTokens;
}

async function rate(streams: number): Promise<number> {
  const t0 = performance.now();
  const counts = await Promise.all(Array.from({ length: streams }, (_, i) => run(`Story ${i}:`, tokens)));
  return counts.reduce((a, b) => a + b, 0) / ((performance.now() - t0) / 1000);
}

await run("warm", 4);
const single: number[] = [];
const many: number[] = [];
for (let r = 0; r < Number(values.rounds); r++) {
  single.push(await rate(1));
  many.push(await rate(concurrency));
  console.error(`round ${r + 1}: 1 stream ${single.at(-1)!.toFixed(1)} tok/s, ${concurrency} streams ${many.at(-1)!.toFixed(1)} tok/s`);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const st = scheduler.stats();
console.log(`| 1 stream | ${concurrency} streams | ratio | tokens per decode call |`);
console.log(`|---|---|---|---|`);
console.log(`| ${median(single).toFixed(1)} tok/s | ${median(many).toFixed(1)} tok/s | ${(median(many) / median(single)).toFixed(2)}x | ${(st.decodedTokens / st.decodeCalls).toFixed(2)} |`);
await engine.dispose();
