// The cost of sharing a prompt between the choices of an n > 1 request: LlamaEngine.copySlot (a
// sequence state file on /dev/shm) against evaluating the same prompt again in another slot.
//
//   bun bench/scheduler/copy-slot.ts MODEL [PROMPT_TOKENS=300] [COPIES=3] [THREADS=1] [ROUNDS=5]
// Prints one JSON line: {"model","promptTokens","copies","evalMs","copyMs":[per round],"copyMsMedian"}
import { basename } from "node:path";
import { LlamaEngine } from "../../src/inference/llama/engine.ts";

const [modelPath, tokensArg, copiesArg, threadsArg, roundsArg] = process.argv.slice(2);
if (!modelPath) throw new Error("usage: copy-slot.ts MODEL [PROMPT_TOKENS] [COPIES] [THREADS] [ROUNDS]");
const promptTokens = Number(tokensArg ?? 300);
const copies = Number(copiesArg ?? 3);
const rounds = Number(roundsArg ?? 5);
const engine = await LlamaEngine.load({ modelPath, slots: copies + 1, slotContextSize: promptTokens + 64, threads: Number(threadsArg ?? 1) });
const words = engine.tokenize(" Once upon a time, there was a little girl named Lily who loved to play in the park.", false);
const prompt = [engine.info.bosToken ?? words[0]!];
while (prompt.length < promptTokens) prompt.push(...words);
prompt.length = promptTokens;

const targets = Array.from({ length: copies }, (_, i) => i + 1);
let evalMs = Infinity;
const copyMs: number[] = [];
for (let r = 0; r < rounds; r++) {
  for (let s = 0; s <= copies; s++) engine.clearSlot(s, 0);
  const t0 = performance.now();
  await engine.decode([{ slot: 0, pos: 0, tokens: prompt }]);
  evalMs = Math.min(evalMs, performance.now() - t0);
  const t1 = performance.now();
  await engine.copySlot(0, targets);
  copyMs.push(performance.now() - t1);
}
const sorted = [...copyMs].sort((a, b) => a - b);
const round = (x: number) => Math.round(x * 100) / 100;
console.log(
  JSON.stringify({ model: basename(modelPath), promptTokens, copies, evalMs: round(evalMs), copyMs: copyMs.map(round), copyMsMedian: round(sorted[sorted.length >> 1]!) }),
);
await engine.dispose();
