// The embedding service over the fake backend: loading on first use, checks before any work,
// turn-taking between concurrent callers, the queue bound, cancellation and close.
import { describe, expect, test } from "bun:test";
import { createEmbedder } from "../../src/inference/embedding-service.ts";
import { fakeEmbedder, FakeEmbeddingBackend } from "../../src/inference/embedding-fake.ts";
import { EmbeddingError, l2normalize } from "../../src/inference/embedding.ts";
import { InferenceError } from "../../src/inference/types.ts";

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  for (const until = Date.now() + 5000; !cond(); await Bun.sleep(1)) if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
}

const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

describe("embedding service", () => {
  test("loads the backend once, on first use, however many callers arrive together", async () => {
    const { embedder, backend } = fakeEmbedder();
    expect(backend.loads).toBe(0);
    await Promise.all([embedder.info(), embedder.embed(["a"]), embedder.embed(["b"])]);
    expect(backend.loads).toBe(1);
  });

  test("a failed load is an engine_error, and the next call tries again", async () => {
    let attempts = 0;
    const backend = new FakeEmbeddingBackend();
    const embedder = createEmbedder(async () => {
      if (++attempts === 1) throw new Error("out of memory");
      return backend;
    });
    const err = await rejection(embedder.embed(["x"]));
    expect(err).toBeInstanceOf(InferenceError);
    expect((err as InferenceError).code).toBe("engine_error");
    expect((err as Error).message).toContain("out of memory");
    expect((await embedder.embed(["x"])).vectors).toHaveLength(1);
    expect(attempts).toBe(2);
  });

  test("vectors are unit length, in input order, and usage counts the special tokens", async () => {
    const { embedder } = fakeEmbedder({ dimensions: 16 });
    const r = await embedder.embed(["one", "two", [104, 105]]);
    expect(r.vectors.map((v) => v.length)).toEqual([16, 16, 16]);
    for (const v of r.vectors) expect(norm(v)).toBeCloseTo(1, 6);
    // BOS + 3 bytes, twice, and BOS + 2 ids.
    expect(r.promptTokens).toBe(4 + 4 + 3);
    const alone = await embedder.embed(["two"]);
    expect(Array.from(alone.vectors[0]!)).toEqual(Array.from(r.vectors[1]!));
  });

  test("every input is checked before any is evaluated; errors name the input", async () => {
    const { embedder, backend } = fakeEmbedder({ maxInputTokens: 8 });
    const cases: Array<[unknown[], string, number]> = [
      [["ok", ""], "empty_input", 1],
      [["ok", []], "empty_input", 1],
      [["ok", "much too long for eight"], "input_too_long", 1],
      [[[5, 300]], "invalid_token", 0],
      [[[5, -1]], "invalid_token", 0],
      [[[5, 1.5]], "invalid_token", 0],
    ];
    for (const [inputs, code, index] of cases) {
      const err = (await rejection(embedder.embed(inputs as string[]))) as EmbeddingError;
      expect(err).toBeInstanceOf(EmbeddingError);
      expect(`${JSON.stringify(inputs)}: ${err.code} ${err.index}`).toBe(`${JSON.stringify(inputs)}: ${code} ${index}`);
    }
    expect(backend.log).toEqual([]);
    // Exactly the limit is fine: BOS + 7 bytes.
    expect((await embedder.embed(["1234567"])).promptTokens).toBe(8);
  });

  test("an embedder does not rank and a reranker does not embed", async () => {
    const e = (await rejection(fakeEmbedder().embedder.rank("q", ["d"]))) as EmbeddingError;
    expect(e.code).toBe("not_reranker");
    const r = (await rejection(fakeEmbedder({ reranker: true }).embedder.embed(["x"]))) as EmbeddingError;
    expect(r.code).toBe("reranker_only");
  });

  test("concurrent callers take turns, one evaluation at a time", async () => {
    const { embedder, backend } = fakeEmbedder({ delayMs: 2 });
    const a = embedder.embed(["a1", "a2", "a3", "a4"]);
    const b = embedder.embed(["b1", "b2"]);
    const c = embedder.embed(["c1"]);
    await Promise.all([a, b, c]);
    // a1 starts before b and c queue up; from then on each caller gets one turn per round.
    expect(backend.log).toEqual(["a1", "b1", "c1", "a2", "b2", "a3", "a4"]);
    expect(embedder.stats()).toEqual({ evaluated: 7, tokens: 7 * 3, queued: 0 });
  });

  test("past the queue bound a request is refused whole, at once", async () => {
    const { embedder, backend } = fakeEmbedder({ delayMs: 5, maxQueued: 4 });
    const first = embedder.embed(["a", "b", "c"]);
    const err = await rejection(embedder.embed(["d", "e"]));
    expect(err).toBeInstanceOf(InferenceError);
    expect((err as InferenceError).code).toBe("queue_full");
    expect(embedder.stats().queued).toBe(3);
    await first;
    expect(backend.log).toEqual(["a", "b", "c"]);
    expect(embedder.stats().queued).toBe(0);
  });

  test("a caller that goes away stops its remaining inputs; others are unaffected", async () => {
    const { embedder, backend } = fakeEmbedder({ delayMs: 30 });
    const abort = new AbortController();
    const gone = rejection(embedder.embed(["x1", "x2", "x3", "x4"], abort.signal));
    const stays = embedder.embed(["y1", "y2"]);
    await waitFor(() => backend.log.includes("y1"), "y1 to start");
    abort.abort();
    expect(((await gone) as EmbeddingError).code).toBe("cancelled");
    expect((await stays).vectors).toHaveLength(2);
    // x1 ran, and x2 at most (it may have started before the abort); x3 and x4 never do.
    expect(backend.log.filter((t) => t.startsWith("x")).length).toBeLessThanOrEqual(2);
    expect(embedder.stats().queued).toBe(0);
    expect((await rejection(embedder.embed(["z"], AbortSignal.abort()))) as EmbeddingError).toMatchObject({ code: "cancelled" });
  });

  test("close refuses queued and new work, lets the running evaluation finish, then disposes", async () => {
    const { embedder, backend } = fakeEmbedder({ delayMs: 10 });
    const running = embedder.embed(["r"]);
    const waiting = rejection(embedder.embed(["w"]));
    // One macrotask: "r" has started (it takes 10 ms), "w" waits.
    await Bun.sleep(0);
    await embedder.close();
    expect((await running).vectors).toHaveLength(1);
    expect(((await waiting) as InferenceError).code).toBe("shutting_down");
    expect(((await rejection(embedder.embed(["n"]))) as InferenceError).code).toBe("shutting_down");
    expect(backend.log).toEqual(["r"]);
    expect(backend.disposed).toBe(true);
  });

  test("ranking: scores in document order, usage counts each query + document pair", async () => {
    const { embedder } = fakeEmbedder({ reranker: true, maxInputTokens: 40 });
    const docs = ["a cat sat on the mat", "stocks fell", "where the cat sat"];
    const r = await embedder.rank("cat sat", docs);
    expect(r.scores).toHaveLength(3);
    expect(r.scores[0]!).toBeGreaterThan(r.scores[1]!);
    expect(r.scores[2]!).toBeGreaterThan(r.scores[1]!);
    for (const s of r.scores) expect(s >= 0 && s <= 1).toBe(true);
    expect(r.promptTokens).toBe(docs.reduce((n, d) => n + 8 + d.length + 1, 0));
    const long = (await rejection(embedder.rank("cat sat", ["short", "x".repeat(40)]))) as EmbeddingError;
    expect([long.code, long.index]).toEqual(["input_too_long", 1]);
  });

  test("l2normalize: unit length, direction kept, zero stays zero", () => {
    const v = l2normalize([3, 4]);
    expect(Array.from(v)).toEqual([Math.fround(0.6), Math.fround(0.8)]);
    expect(Array.from(l2normalize([0, 0]))).toEqual([0, 0]);
  });
});
