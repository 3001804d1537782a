// The generated reranker's file: deterministic, and shaped as llama.cpp's qwen3 loader and
// node-llama-cpp's reranker check expect (loading and scoring it is test/inference/llama-embedding.test.ts).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readGguf } from "../../src/models/gguf-reader.ts";
import { RERANKER_HEAD, RERANKER_LABELS, makeReranker } from "../../src/models/reranker.ts";
import { PRESETS, headDim } from "../../src/models/shapes.ts";

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "warren-reranker-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("same seed, same bytes; another seed, other bytes", async () => {
  await makeReranker(join(dir, "a.gguf"));
  await makeReranker(join(dir, "b.gguf"), 1);
  await makeReranker(join(dir, "c.gguf"), 2);
  const [a, b, c] = await Promise.all(["a", "b", "c"].map((n) => readFile(join(dir, `${n}.gguf`))));
  expect(Buffer.compare(a!, b!)).toBe(0);
  expect(Buffer.compare(a!, c!)).not.toBe(0);
});

test("qwen3 keys, rank pooling, two labels, Q/K norms per block and the classifier head", async () => {
  await makeReranker(join(dir, "r.gguf"));
  const f = await readGguf(join(dir, "r.gguf"));
  const s = PRESETS.tiny.shape;
  expect(f.metadata.get("general.architecture")).toBe("qwen3");
  expect(f.metadata.get("qwen3.embedding_length")).toBe(s.nEmbd);
  expect(f.metadata.get("qwen3.pooling_type")).toBe(4);
  expect(f.metadata.get("qwen3.classifier.output_labels")).toEqual([...RERANKER_LABELS]);
  expect([...f.metadata.keys()].filter((k) => k.startsWith("llama."))).toEqual([]);
  const dims = new Map(f.tensors.map((t) => [t.name, t.dims]));
  expect(dims.get(RERANKER_HEAD)).toEqual([s.nEmbd, 2]);
  for (let i = 0; i < s.nLayer; i++) {
    expect(dims.get(`blk.${i}.attn_q_norm.weight`)).toEqual([headDim(s)]);
    expect(dims.get(`blk.${i}.attn_k_norm.weight`)).toEqual([headDim(s)]);
  }
  expect(dims.has("output.weight")).toBe(true);
});
