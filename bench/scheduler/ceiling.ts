// The decode ceiling: the engine's batched decode driven in a bare lockstep loop, in-process, with
// no scheduler, no HTTP and no client. Every stream starts together and decodes one token per step
// (greedy), so each step is one LlamaEngine.decode of `concurrency` tokens plus their sampling.
// Nothing a server adds can make it faster, so it bounds what Warren can reach with this model,
// this thread count and this build of llama.cpp.
//
//   bun bench/scheduler/ceiling.ts MODEL CONCURRENCY TOKENS THREADS [BATCHES] [CTX] [FLASH_ATTENTION auto|on|off]
// Prints one JSON line: {"mode":"ceiling","concurrency":C,"tokens":N,"seconds":S,"tokensPerSecond":R,"usPerDecode":U}
import { LlamaEngine } from "../../src/inference/engine-llama.ts";
import type { BatchItem } from "../../src/inference/engine.ts";

const [modelPath, concurrencyArg, tokensArg, threadsArg, batchesArg, ctxArg, faArg] = process.argv.slice(2);
if (!modelPath) throw new Error("usage: ceiling.ts MODEL CONCURRENCY TOKENS THREADS [BATCHES] [CTX]");
const concurrency = Number(concurrencyArg ?? 8);
const maxTokens = Number(tokensArg ?? 128);
const threads = Number(threadsArg ?? 1);
const batches = Number(batchesArg ?? 1);
const slotContextSize = Number(ctxArg ?? 512);
const flashAttention = (faArg ?? "auto") as "auto" | "on" | "off";

const engine = await LlamaEngine.load({ modelPath, slots: concurrency, slotContextSize, threads, flashAttention });
const greedy = { temperature: 0, topK: 0, topP: 1, minP: 0, repeatPenalty: 1, presencePenalty: 0, frequencyPenalty: 0, penaltyLastN: 64 };
const prompt = engine.tokenize("Once upon a time", true);

/** One round: every slot evaluates the prompt, then all generate `tokens` tokens in lockstep. */
async function round(tokens: number): Promise<{ generated: number; decodes: number; decodeMs: number }> {
  const samplers = Array.from({ length: concurrency }, () => engine.createSampler(greedy, prompt));
  for (let s = 0; s < concurrency; s++) engine.clearSlot(s, 0);
  let next = await engine.decode(samplers.map((sampler, slot) => ({ slot, pos: 0, tokens: prompt, sampler })));
  let decodes = 1;
  let decodeMs = 0;
  for (let i = 1; i < tokens; i++) {
    const items: BatchItem[] = samplers.map((sampler, slot) => ({ slot, pos: prompt.length + i - 1, tokens: [next[slot]!], sampler }));
    const t0 = performance.now();
    next = await engine.decode(items);
    decodeMs += performance.now() - t0;
    decodes++;
  }
  for (const s of samplers) s.dispose();
  return { generated: tokens * concurrency, decodes, decodeMs };
}

await round(4); // warm-up
const t0 = performance.now();
let generated = 0;
let decodes = 0;
let decodeMs = 0;
for (let b = 0; b < batches; b++) {
  const r = await round(maxTokens);
  generated += r.generated;
  decodes += r.decodes - 1;
  decodeMs += r.decodeMs;
}
const seconds = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ mode: "ceiling", concurrency, tokens: generated, seconds, tokensPerSecond: generated / seconds, usPerDecode: (decodeMs / decodes) * 1000 }));
await engine.dispose();
