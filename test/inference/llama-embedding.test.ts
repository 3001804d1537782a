// The node-llama-cpp embedding backend on generated models, checked against values computed
// another way through llama.cpp itself:
// - mean pooling: in a causal model the state of token i depends only on tokens 0..i, so the last
//   token's state of each prefix (a plain, unpooled context) is the state mean pooling averages;
// - reranking: the generated Qwen3-style reranker scores a pair as softmax(head · h)[0], where h is
//   the last token's state of the pair (again from a plain context) and head is read from the file.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getLlama, type Llama, type LlamaEmbeddingContext, LlamaLogLevel, type LlamaModel, type Token } from "node-llama-cpp";
import { createEmbedder } from "../../src/inference/embedding-service.ts";
import { EmbeddingError, type Embedder } from "../../src/inference/embedding.ts";
import { LlamaEngine } from "../../src/inference/llama/engine.ts";
import { loadLlamaEmbedding } from "../../src/inference/llama/embedding.ts";
import { Scheduler } from "../../src/inference/scheduler.ts";
import { readGguf, readTensorBytes } from "../../src/models/gguf-reader.ts";
import { makeModel } from "../../src/models/presets.ts";
import { RERANKER_HEAD, RERANKER_LABELS, makeReranker } from "../../src/models/reranker.ts";
import { collect, request } from "../helpers/inference.ts";

const MAX_INPUT = 48;
let dir = "";
let llama: Llama;
let tinyPath = "";
let rerankPath = "";
let embedder: Embedder;
let reranker: Embedder;
/** The same files with pooling forced to none: node-llama-cpp then returns the last token's state. */
let plainTiny: { model: LlamaModel; ctx: LlamaEmbeddingContext };
let plainRerank: { model: LlamaModel; ctx: LlamaEmbeddingContext };

async function plain(path: string, arch: string) {
  const model = await llama.loadModel({ modelPath: path, metadataOverrides: { [arch]: { pooling_type: 0 } } as never });
  return { model, ctx: await model.createEmbeddingContext({ contextSize: 128, batchSize: 128, threads: 1 }) };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "warren-embed-"));
  tinyPath = join(dir, "tiny.gguf");
  rerankPath = join(dir, "rerank.gguf");
  await makeModel({ preset: "tiny", out: tinyPath });
  await makeReranker(rerankPath);
  llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: 1 });
  embedder = createEmbedder(() => loadLlamaEmbedding({ modelPath: tinyPath, threads: 1, maxInputTokens: MAX_INPUT }));
  reranker = createEmbedder(() => loadLlamaEmbedding({ modelPath: rerankPath, threads: 1, maxInputTokens: MAX_INPUT }));
  plainTiny = await plain(tinyPath, "llama");
  plainRerank = await plain(rerankPath, "qwen3");
  // Generates and loads four model instances: more than bun's 5 s default on a busy machine.
}, 30_000);
afterAll(async () => {
  await embedder?.close();
  await reranker?.close();
  for (const p of [plainTiny, plainRerank]) {
    await p?.ctx.dispose();
    await p?.model.dispose();
  }
  await rm(dir, { recursive: true, force: true });
});

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (x, i) => Math.abs(x - b[i]!)));
const unit = (v: number[]) => {
  const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return v.map((x) => x / n);
};

async function lastTokenState(p: { ctx: LlamaEmbeddingContext }, tokens: number[]): Promise<number[]> {
  return [...(await p.ctx.getEmbeddingFor(tokens as Token[])).vector];
}

describe("embeddings on a generated llama model (its GGUF says no pooling)", () => {
  test("info: the model's width, mean pooling, not a reranker", async () => {
    expect(await embedder.info()).toEqual({ dimensions: 64, maxInputTokens: MAX_INPUT, pooling: "mean", reranker: false, vocabSize: 768 });
  });

  test("the vector is the normalized mean of the token states, not the last token's state", async () => {
    const text = "the quick brown fox jumps";
    const ids = [plainTiny.model.tokens.bos!, ...(plainTiny.model.tokenize(text) as number[])];
    const r = await embedder.embed([text]);
    expect(r.promptTokens).toBe(ids.length);
    const mean = new Array<number>(64).fill(0);
    for (let i = 1; i <= ids.length; i++) {
      const state = await lastTokenState(plainTiny, ids.slice(0, i));
      state.forEach((x, j) => (mean[j]! += x / ids.length));
    }
    expect(maxAbsDiff(r.vectors[0]!, unit(mean))).toBeLessThan(1e-5);
    const last = unit(await lastTokenState(plainTiny, ids));
    expect(maxAbsDiff(r.vectors[0]!, last)).toBeGreaterThan(0.05);
  });

  test("deterministic; text and its token ids agree; different texts differ", async () => {
    const ids = plainTiny.model.tokenize("hello world") as number[];
    const r = await embedder.embed(["hello world", ids, "hello world", "goodbye world"]);
    expect(Array.from(r.vectors[2]!)).toEqual(Array.from(r.vectors[0]!));
    expect(maxAbsDiff(r.vectors[1]!, r.vectors[0]!)).toBeLessThan(1e-6);
    expect(maxAbsDiff(r.vectors[3]!, r.vectors[0]!)).toBeGreaterThan(0.01);
  });

  test("an input of exactly the limit fits; one more token is refused before anything runs", async () => {
    const ids = Array.from({ length: MAX_INPUT - 1 }, (_, i) => 300 + i);
    expect((await embedder.embed([ids])).promptTokens).toBe(MAX_INPUT);
    const before = embedder.stats().evaluated;
    const err = (await embedder.embed(["ok", [...ids, 400]]).catch((e) => e)) as EmbeddingError;
    expect(err).toBeInstanceOf(EmbeddingError);
    expect([err.code, err.index]).toEqual(["input_too_long", 1]);
    expect(embedder.stats().evaluated).toBe(before);
  });

  test("token ids outside the vocabulary never reach llama.cpp", async () => {
    const err = (await embedder.embed([[5, 768]]).catch((e) => e)) as EmbeddingError;
    expect([err.code, err.index]).toEqual(["invalid_token", 0]);
  });

  test("concurrent requests each get their own sequential answer", async () => {
    const texts = Array.from({ length: 12 }, (_, i) => `sentence number ${i} about ${"abc"[i % 3]}`);
    const alone = await Promise.all(texts.map((t) => embedder.embed([t])));
    const together = await Promise.all(texts.map((t) => embedder.embed([t, t])));
    together.forEach((r, i) => {
      expect(Array.from(r.vectors[0]!)).toEqual(Array.from(alone[i]!.vectors[0]!));
      expect(Array.from(r.vectors[1]!)).toEqual(Array.from(alone[i]!.vectors[0]!));
    });
  });

  test("embedding while the scheduler generates on the same file leaves the generated text unchanged", async () => {
    const engine = await LlamaEngine.load({ modelPath: tinyPath, slots: 2, slotContextSize: 128, threads: 1 });
    try {
      const scheduler = new Scheduler({ engine, maxQueue: 4 });
      const prompt = engine.tokenize("Once upon a time", true);
      const quiet = await collect(scheduler.submit(request(prompt, { maxTokens: 24, ignoreEos: true })));
      const busy = collect(scheduler.submit(request(prompt, { maxTokens: 24, ignoreEos: true })));
      const vectors = await Promise.all(Array.from({ length: 6 }, (_, i) => embedder.embed([`text ${i}`, `more text ${i}`])));
      expect((await busy).text).toBe(quiet.text);
      expect(vectors.every((v) => v.vectors.length === 2)).toBe(true);
    } finally {
      await engine.dispose();
    }
  }, 20_000);

  test("the model does not rank", async () => {
    expect(((await embedder.rank("q", ["d"]).catch((e) => e)) as EmbeddingError).code).toBe("not_reranker");
  });
});

describe("reranking on the generated Qwen3-style reranker", () => {
  test("info says reranker, rank pooling; it does not embed", async () => {
    expect(await reranker.info()).toMatchObject({ reranker: true, pooling: "rank", maxInputTokens: MAX_INPUT });
    expect(((await reranker.embed(["x"]).catch((e) => e)) as EmbeddingError).code).toBe("reranker_only");
  });

  test("scores are softmax(head · h)[0] over the pair's last token state", async () => {
    const file = await readGguf(rerankPath);
    const raw = await readTensorBytes(rerankPath, file, RERANKER_HEAD);
    const head = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    expect(head.length).toBe(64 * RERANKER_LABELS.length);
    const m = plainRerank.model;
    const tok = (s: string) => m.tokenize(s, false, "trimLeadingSpace") as number[];
    const query = "where do cats sleep";
    const docs = ["the cat sleeps on the mat", "stocks fell today", "a dog runs in the park"];
    const r = await reranker.rank(query, docs);
    let tokens = 0;
    for (const [i, doc] of docs.entries()) {
      // node-llama-cpp's layout without a rerank template: BOS query EOS document EOS (this vocabulary has no SEP).
      const pair = [m.tokens.bos!, ...tok(query), m.tokens.eos!, ...tok(doc), m.tokens.eos!];
      tokens += pair.length;
      const h = await lastTokenState(plainRerank, pair);
      let yes = 0;
      let no = 0;
      for (let j = 0; j < 64; j++) {
        yes += head[j]! * h[j]!;
        no += head[64 + j]! * h[j]!;
      }
      expect(Math.abs(r.scores[i]! - 1 / (1 + Math.exp(no - yes)))).toBeLessThan(1e-5);
    }
    expect(r.promptTokens).toBe(tokens);
    expect(new Set(r.scores).size).toBe(3);
  });

  test("a document that does not fit with the query is refused by index", async () => {
    const err = (await reranker.rank("query", ["short", "word ".repeat(60)]).catch((e) => e)) as EmbeddingError;
    expect([err.code, err.index]).toEqual(["input_too_long", 1]);
  });
});
