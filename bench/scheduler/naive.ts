// Baseline for the scheduler benchmark: node-llama-cpp driven directly, in-process, the naive way:
// one context sequence per request, each generating with sequence.evaluate() concurrently.
// Prints one JSON line: {"mode":"naive","concurrency":C,"tokens":N,"seconds":S,"tokensPerSecond":R}
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const [modelPath, concurrencyArg, tokensArg, threadsArg] = process.argv.slice(2);
if (!modelPath) throw new Error("usage: naive.ts MODEL CONCURRENCY TOKENS THREADS");
const concurrency = Number(concurrencyArg ?? 8);
const maxTokens = Number(tokensArg ?? 128);
const threads = Number(threadsArg ?? 1);

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: threads });
const model = await llama.loadModel({ modelPath });
const context = await model.createContext({ contextSize: 512, sequences: concurrency, threads: { ideal: threads, min: threads } });
const prompt = [model.tokens.bos!, ...model.tokenize("Once upon a time")];

async function one(): Promise<number> {
  const seq = context.getSequence();
  let n = 0;
  for await (const _token of seq.evaluate(prompt, { temperature: 0 })) {
    if (++n >= maxTokens) break;
  }
  seq.dispose();
  return n;
}

await one(); // warm-up
const t0 = performance.now();
const counts = await Promise.all(Array.from({ length: concurrency }, one));
const seconds = (performance.now() - t0) / 1000;
const tokens = counts.reduce((a, b) => a + b, 0);
console.log(JSON.stringify({ mode: "naive", concurrency, tokens, seconds, tokensPerSecond: tokens / seconds }));
await context.dispose();
await model.dispose();
