// The ~100M-parameter Q8_0 bench preset: generated once here (about 2-3 s), checked against a
// pinned hash, and loaded and run by llama.cpp on one thread.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Llama, LlamaLogLevel, type LlamaModel, getLlama } from "node-llama-cpp";
import { readGguf } from "../../src/models/gguf-reader.ts";
import { type MadeModel, makeModel } from "../../src/models/presets.ts";
import { FIRST_NORMAL_ID } from "../../src/models/vocab.ts";

const PINNED_BENCH = "9f5822e895834a33eb03309105d7be99aea2d4e5789b866b047cf6418ed880f1";

let dir = "";
let made: MadeModel;
let genSeconds = 0;
let llama: Llama;
let model: LlamaModel;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "warren-bench-"));
  const t0 = performance.now();
  made = await makeModel({ preset: "bench", out: join(dir, "bench.gguf") });
  genSeconds = (performance.now() - t0) / 1000;
  llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  model = await llama.loadModel({ modelPath: made.path });
});
afterAll(async () => {
  await model?.dispose();
  await llama?.dispose();
  await rm(dir, { recursive: true, force: true });
});

test("bench: ~100M params, Q8_0 matrices, F32 norms, pinned bytes", async () => {
  console.log(`bench preset: ${made.params} params, ${made.bytes} bytes, generated in ${genSeconds.toFixed(2)} s`);
  expect(made.params).toBeGreaterThan(95e6);
  expect(made.params).toBeLessThan(105e6);
  expect(made.sha256).toBe(PINNED_BENCH);
  const f = await readGguf(made.path);
  expect(f.metadata.get("general.file_type")).toBe(7); // LLAMA_FTYPE_MOSTLY_Q8_0
  for (const t of f.tensors) expect(t.typeName).toBe(t.dims.length === 1 ? "F32" : "Q8_0");
});

test("bench: llama.cpp generates from it on one thread", async () => {
  const ctx = await model.createContext({ contextSize: 512, threads: 1 });
  try {
    const input = [model.tokens.bos!, ...model.tokenize("Once upon a time, in a small town")];
    const ids: number[] = [];
    const t0 = performance.now();
    for await (const t of ctx.getSequence().evaluate(input, { temperature: 0 })) {
      ids.push(t);
      if (ids.length >= 32) break;
    }
    const secs = (performance.now() - t0) / 1000;
    console.log(`bench preset: ${ids.length} tokens (incl. prompt eval) in ${secs.toFixed(2)} s, 1 thread`);
    expect(ids.length).toBe(32);
    for (const id of ids) expect(id).toBeGreaterThanOrEqual(FIRST_NORMAL_ID);
    const text = "Hello, world! h\u00e9llo \u4f60\u597d";
    expect(model.detokenize(model.tokenize(text))).toBe(text);
  } finally {
    await ctx.dispose();
  }
});
