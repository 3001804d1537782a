// Flash attention on vs off, per model: the decode ceiling (bench/scheduler/ceiling.ts) at 1 and N
// streams with --flash-attention on and off, alternating over rounds. Which is faster depends on the
// model's head size, so this is the measurement behind choosing the flag.
//   bun bench/scheduler/flash-attention.ts [--rounds 3] [--concurrency 8] [--threads 1]
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
    threads: { type: "string", default: "1" },
  },
});
const benchModel = resolve(ROOT, "models/bench.gguf");
if (!existsSync(benchModel)) await makeModel({ preset: "bench", out: benchModel });
const models: Array<[string, string, number]> = [
  ["stories260K", resolve(ROOT, "../shared/models/stories260K.gguf"), 128],
  ["bench preset (100M, Q8_0)", benchModel, 32],
];

async function ceiling(model: string, concurrency: number, tokens: number, fa: "on" | "off"): Promise<number> {
  const proc = spawn({ cmd: [process.execPath, resolve(import.meta.dir, "ceiling.ts"), model, String(concurrency), String(tokens), values.threads!, "2", "512", fa], stdout: "pipe", stderr: "inherit" });
  const out = await new Response(proc.stdout).text();
  if ((await proc.exited) !== 0) throw new Error(`ceiling.ts failed for ${model}`);
  return JSON.parse(out.trim().split("\n").at(-1)!).tokensPerSecond;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`| model | streams | flash attention on, tok/s | off, tok/s | on / off |`);
console.log(`|---|---|---|---|---|`);
for (const [name, path, tokens] of models) {
  if (!existsSync(path)) {
    console.error(`skipping ${name}: ${path} is missing`);
    continue;
  }
  for (const c of [1, Number(values.concurrency)]) {
    const on: number[] = [];
    const off: number[] = [];
    for (let r = 0; r < Number(values.rounds); r++) {
      on.push(await ceiling(path, c, tokens, "on"));
      off.push(await ceiling(path, c, tokens, "off"));
    }
    console.log(`| ${name} | ${c} | ${median(on).toFixed(0)} | ${median(off).toFixed(0)} | ${(median(on) / median(off)).toFixed(2)}x |`);
  }
}
