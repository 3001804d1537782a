// Baseline for the scheduler benchmark: node-llama-cpp driven directly, in-process, the naive way:
// one context sequence per request, each generating with sequence.evaluate() concurrently.
// Prints one JSON line: {"mode":"naive","concurrency":C,"tokens":N,"seconds":S,"tokensPerSecond":R}
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const [modelPath, concurrencyArg, tokensArg, threadsArg, batchesArg] = process.argv.slice(2);
if (!modelPath) throw new Error("usage: naive.ts MODEL CONCURRENCY TOKENS THREADS [BATCHES]");
const concurrency = Number(concurrencyArg ?? 8);
const maxTokens = Number(tokensArg ?? 128);
const threads = Number(threadsArg ?? 1);
/** Back-to-back rounds of `concurrency` requests measured together (longer windows, less noise). */
const batches = Number(batchesArg ?? 1);

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: threads });
const model = await llama.loadModel({ modelPath });
const context = await model.createContext({ contextSize: 512, sequences: concurrency, threads: { ideal: threads, min: threads } });
const prompt = [model.tokens.bos!, ...model.tokenize("Once upon a time")];

// One sequence per concurrent request, reused (cleared) across rounds as a server would reuse slots.
const sequences = Array.from({ length: concurrency }, () => context.getSequence());

async function one(seq: (typeof sequences)[number]): Promise<number> {
  await seq.clearHistory();
  let n = 0;
  for await (const _token of seq.evaluate(prompt, { temperature: 0 })) {
    if (++n >= maxTokens) break;
  }
  return n;
}

await one(sequences[0]!); // warm-up
const t0 = performance.now();
const counts: number[] = [];
for (let b = 0; b < batches; b++) counts.push(...(await Promise.all(sequences.map(one))));
const seconds = (performance.now() - t0) / 1000;
const tokens = counts.reduce((a, b) => a + b, 0);
console.log(JSON.stringify({ mode: "naive", concurrency, tokens, seconds, tokensPerSecond: tokens / seconds }));
await context.dispose();
await model.dispose();
