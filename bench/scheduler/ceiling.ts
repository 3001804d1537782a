// The decode ceiling: the engine's batched decode driven in a bare lockstep loop, in-process, with
// no scheduler, no HTTP and no client. Every stream starts together and decodes one token per step
// (greedy), so each step is one LlamaEngine.decode of `concurrency` tokens plus their sampling.
// Nothing a server adds can make it faster, so it bounds what Warren can reach with this model,
// this thread count and this build of llama.cpp.
//
//   bun bench/scheduler/ceiling.ts MODEL CONCURRENCY TOKENS THREADS [BATCHES] [CTX] [FLASH_ATTENTION auto|on|off] [ENGINE c-api|binding]
// Prints one JSON line: {"mode":"ceiling","concurrency":C,"tokens":N,"seconds":S,"tokensPerSecond":R,"usPerDecode":U,"slot0":[first tokens of slot 0]}
import { LlamaEngine } from "../../src/inference/llama/engine.ts";
import { lockstepDecode } from "./lockstep.ts";

const [modelPath, concurrencyArg, tokensArg, threadsArg, batchesArg, ctxArg, faArg, engineArg] = process.argv.slice(2);
if (!modelPath) throw new Error("usage: ceiling.ts MODEL CONCURRENCY TOKENS THREADS [BATCHES] [CTX]");
const concurrency = Number(concurrencyArg ?? 8);
const maxTokens = Number(tokensArg ?? 128);
const threads = Number(threadsArg ?? 1);
const batches = Number(batchesArg ?? 1);
const slotContextSize = Number(ctxArg ?? 512);
const flashAttention = (faArg ?? "auto") as "auto" | "on" | "off";

const engine = await LlamaEngine.load({ modelPath, slots: concurrency, slotContextSize, threads, flashAttention, engine: engineArg as "c-api" | "binding" | undefined });
const prompt = engine.tokenize("Once upon a time", true);
const prompts = Array.from({ length: concurrency }, () => prompt);

await lockstepDecode(engine, prompts, 4); // warm-up
const t0 = performance.now();
let generated = 0;
let decodes = 0;
let decodeMs = 0;
let slot0: number[] = [];
for (let b = 0; b < batches; b++) {
  const r = await lockstepDecode(engine, prompts, maxTokens);
  generated += r.generated;
  decodes += r.steps;
  decodeMs += r.stepMs;
  slot0 = r.slot0;
}
const seconds = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ mode: "ceiling", concurrency, tokens: generated, seconds, tokensPerSecond: generated / seconds, usPerDecode: (decodeMs / decodes) * 1000, slot0: slot0.slice(0, 16) }));
await engine.dispose();
