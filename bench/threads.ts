// What --threads auto picks, and what it measured, on real models: stories260K (steps of
// microseconds: one thread should win) and the generated 100M `bench` preset (steps of
// milliseconds: more threads should win on a 2-core machine). Each model is tuned --rounds times
// on a fresh engine, as `warren serve` does at load (inference/threads.ts).
//   bun bench/threads.ts [--rounds 3] [--parallel 8] [--bench-model PATH] [--stories PATH]
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { LlamaEngine } from "../src/inference/llama/engine.ts";
import { threadCandidates, tuneThreads } from "../src/inference/threads.ts";
import { makeModel } from "../src/models/presets.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    parallel: { type: "string", default: "8" },
    "bench-model": { type: "string", default: resolve(import.meta.dir, "../models/bench.gguf") },
    stories: { type: "string", default: resolve(import.meta.dir, "../../shared/models/stories260K.gguf") },
  },
});
const benchModel = values["bench-model"]!;
if (!existsSync(benchModel)) {
  console.error(`generating the bench preset at ${benchModel}`);
  await makeModel({ preset: "bench", out: benchModel });
}
const candidates = threadCandidates(availableParallelism());
console.log(`cores: ${availableParallelism()}, candidates: ${candidates.join(", ")}, slots: ${values.parallel}`);
for (const [name, path] of [["stories260K", values.stories!], ["bench preset (100M, Q8_0)", benchModel]] as const) {
  if (!existsSync(path)) {
    console.log(`${name}: missing (${path})`);
    continue;
  }
  for (let round = 1; round <= Number(values.rounds); round++) {
    const engine = await LlamaEngine.load({ modelPath: path, slots: Number(values.parallel), slotContextSize: 256, threads: Math.max(...candidates) });
    try {
      const r = await tuneThreads(engine, candidates);
      const rates = r.rates.map((x) => `${x.threads}t ${Math.round(x.single)}/${Math.round(x.batch)}`).join("  ");
      console.log(`${name} round ${round}: picked ${r.threads} in ${Math.round(r.ms)} ms  (tok/s alone/all slots: ${rates})`);
    } finally {
      await engine.dispose();
    }
  }
}
