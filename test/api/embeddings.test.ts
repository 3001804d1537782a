// POST /v1/embeddings through the official `openai` SDK and POST /v1/rerank (and its aliases)
// through fetch, over real sockets, on the deterministic fake embedder.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { FakeEngine } from "../../src/inference/engine-fake.ts";
import { fakeEmbedder, type FakeEmbeddingBackend } from "../../src/inference/embedding-fake.ts";
import { apiError, parseProm, sampleValue, setup, type Setup, waitFor } from "./helpers.ts";

const DIMS = 16;
const MAX_INPUT = 32;
let s: Setup;
let r: Setup;
let backend: FakeEmbeddingBackend;

beforeAll(async () => {
  s = await setup(new FakeEngine({ slots: 2 }));
  const made = fakeEmbedder({ dimensions: DIMS, maxInputTokens: MAX_INPUT, delayMs: 1 });
  s.state.embedder = made.embedder;
  backend = made.backend;
  r = await setup(new FakeEngine({ slots: 2 }));
  r.state.embedder = fakeEmbedder({ reranker: true, maxInputTokens: MAX_INPUT }).embedder;
});
afterAll(async () => {
  await s.served.close();
  await r.served.close();
});

async function post(on: Setup, path: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await on.served.fetch(`${on.served.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

const norm = (v: number[]) => Math.sqrt(v.reduce((a, x) => a + x * x, 0));
const embed = async (input: string | string[] | number[] | number[][]) =>
  (await s.client.embeddings.create({ model: "fake", input, encoding_format: "float" })).data.map((d) => d.embedding);

describe("POST /v1/embeddings with the openai SDK", () => {
  test("float: one unit-length vector of the model's size, usage, the model echoed", async () => {
    const res = await s.client.embeddings.create({ model: "my-embedder", input: "hello", encoding_format: "float" });
    expect(res.object).toBe("list");
    expect(res.model).toBe("my-embedder");
    expect(res.data).toHaveLength(1);
    expect(res.data[0]).toMatchObject({ object: "embedding", index: 0 });
    expect(res.data[0]!.embedding).toHaveLength(DIMS);
    expect(norm(res.data[0]!.embedding)).toBeCloseTo(1, 6);
    // BOS + 5 bytes.
    expect(res.usage).toEqual({ prompt_tokens: 6, total_tokens: 6 });
  });

  test("base64 (the SDK's default) decodes to the same floats; the wire carries little-endian float32", async () => {
    const [floats] = await embed("hello");
    const decoded = await s.client.embeddings.create({ model: "fake", input: "hello" });
    expect(decoded.data[0]!.embedding).toEqual(floats!);
    const raw = await post(s, "/v1/embeddings", { input: "hello", encoding_format: "base64" });
    expect(raw.status).toBe(200);
    const b64 = raw.body.data[0].embedding as string;
    expect(typeof b64).toBe("string");
    const bytes = Buffer.from(b64, "base64");
    expect(bytes.length).toBe(DIMS * 4);
    expect(Array.from({ length: DIMS }, (_, i) => bytes.readFloatLE(i * 4))).toEqual(floats!);
  });

  test("a list keeps its order; each vector equals the one asked for alone", async () => {
    const texts = ["alpha", "beta", "gamma", "delta"];
    const res = await s.client.embeddings.create({ model: "fake", input: texts, encoding_format: "float" });
    expect(res.data.map((d) => d.index)).toEqual([0, 1, 2, 3]);
    for (const [i, t] of texts.entries()) expect(res.data[i]!.embedding).toEqual((await embed(t))[0]!);
    expect(res.usage.prompt_tokens).toBe(texts.reduce((n, t) => n + t.length + 1, 0));
  });

  test("token ids (one list or several) embed like the text they spell", async () => {
    const ids = (t: string) => Array.from(new TextEncoder().encode(t), (b) => b + 3);
    const [hi] = await embed("hi");
    expect((await embed(ids("hi")))[0]).toEqual(hi!);
    const both = await embed([ids("hi"), ids("yo")]);
    expect(both[0]).toEqual(hi!);
    expect(both[1]).toEqual((await embed("yo"))[0]!);
  });

  test("the same text gives the same vector; different texts differ", async () => {
    const [a1, a2, b] = await embed(["same text", "same text", "other text"]);
    expect(a2).toEqual(a1!);
    expect(b).not.toEqual(a1!);
    const cosine = a1!.reduce((acc, x, i) => acc + x * b![i]!, 0);
    expect(cosine).toBeLessThan(0.999);
  });

  test("dimensions equal to the model's size is accepted", async () => {
    const res = await s.client.embeddings.create({ model: "fake", input: "x", dimensions: DIMS, encoding_format: "float" });
    expect(res.data[0]!.embedding).toHaveLength(DIMS);
  });

  test("concurrent requests all succeed, each with its own answer", async () => {
    const texts = Array.from({ length: 16 }, (_, i) => `request ${i}`);
    const alone = await Promise.all(texts.map((t) => embed(t)));
    const evaluated = backend.log.length;
    const together = await Promise.all(texts.map((t) => embed([t, `${t}!`])));
    together.forEach((vs, i) => expect(vs[0]).toEqual(alone[i]![0]!));
    expect(backend.log.length - evaluated).toBe(32);
  });
});

test("a client that disconnects has its remaining inputs dropped", async () => {
  const slow = fakeEmbedder({ dimensions: DIMS, delayMs: 20 });
  const t = await setup(new FakeEngine({ slots: 1 }));
  t.state.embedder = slow.embedder;
  try {
    const abort = new AbortController();
    const inputs = Array.from({ length: 50 }, (_, i) => `gone ${i}`);
    const gone = t.served.fetch(`${t.served.url}/v1/embeddings`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ input: inputs }), signal: abort.signal });
    await waitFor(() => slow.backend.log.length >= 2, "the first evaluations");
    abort.abort();
    await gone.catch(() => {});
    await waitFor(() => slow.embedder.stats().queued === 0, "the queue to empty");
    expect(slow.backend.log.length).toBeLessThan(10);
  } finally {
    await t.served.close();
  }
});

describe("bad embeddings input: 400 in OpenAI's shape, naming the field", () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ["empty string", { input: "" }, "input"],
    ["empty list", { input: [] }, "input"],
    ["an empty string in a list", { input: ["a", "b", ""] }, "input[2]"],
    ["an empty token list in a list", { input: [[5], []] }, "input[1]"],
    ["too long", { input: "x".repeat(MAX_INPUT) }, "input"],
    ["too long in a list", { input: ["ok", "x".repeat(MAX_INPUT)] }, "input[1]"],
    ["a token id outside the vocabulary", { input: [5, 100000] }, "input"],
    ["a negative token id in a list", { input: [[5], [-1]] }, "input[1]"],
    ["wrong dimensions", { input: "x", dimensions: 8 }, "dimensions"],
    ["zero dimensions", { input: "x", dimensions: 0 }, "dimensions"],
    ["bad encoding_format", { input: "x", encoding_format: "hex" }, "encoding_format"],
    ["input of the wrong type", { input: 5 }, "input"],
    ["a list mixing strings and ids", { input: ["a", 5] }, "input"],
    ["no input", {}, "input"],
  ];
  for (const [name, body, param] of cases) {
    test(name, async () => {
      const e = await apiError(s.client.embeddings.create({ model: "fake", ...body } as never));
      expect(`${name}: ${e.status} ${e.param}`).toBe(`${name}: 400 ${param}`);
      expect(e.type).toBe("invalid_request_error");
      expect(e.message).toContain(param);
      const raw = await post(s, "/v1/embeddings", body);
      expect(Object.keys(raw.body)).toEqual(["error"]);
      expect(Object.keys(raw.body.error).sort()).toEqual(["code", "message", "param", "type"]);
    });
  }

  test("too long says how long and the limit", async () => {
    const e = await apiError(s.client.embeddings.create({ model: "fake", input: "x".repeat(40) }));
    expect(e.code).toBe("context_exceeded");
    expect(e.message).toContain("41 tokens");
    expect(e.message).toContain(String(MAX_INPUT));
  });

  test("not JSON: 400 invalid_json; the server keeps serving", async () => {
    const res = await s.served.fetch(`${s.served.url}/v1/embeddings`, { method: "POST", headers: { "content-type": "application/json" }, body: "{nope" });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.code).toBe("invalid_json");
    expect((await embed("still fine"))[0]).toHaveLength(DIMS);
  });

  test("a reranker refuses embeddings with a 400 naming model", async () => {
    const e = await apiError(r.client.embeddings.create({ model: "fake", input: "x" }));
    expect([e.status, e.param, e.code]).toEqual([400, "model", "unsupported_model"]);
    expect(e.message).toContain("reranker");
  });

  test("before the model is loaded: 503", async () => {
    s.state.phase = "loading";
    try {
      const e = await apiError(s.client.embeddings.create({ model: "fake", input: "x" }));
      expect(e.status).toBe(503);
    } finally {
      s.state.phase = "ready";
    }
  });
});

describe("POST /v1/rerank (Jina/Cohere shape)", () => {
  const query = "cat sat";
  const documents = ["stocks fell", "a cat sat on the mat", "the dog barked", "where the cat sat"];

  test("results sorted by score, best first, with indexes into documents and usage", async () => {
    const res = await post(r, "/v1/rerank", { model: "my-reranker", query, documents });
    expect(res.status).toBe(200);
    expect(res.body.model).toBe("my-reranker");
    expect(res.body.object).toBe("list");
    const results = res.body.results as Array<{ index: number; relevance_score: number; document?: unknown }>;
    expect(results.map((x) => x.index).sort()).toEqual([0, 1, 2, 3]);
    for (let i = 1; i < results.length; i++) expect(results[i - 1]!.relevance_score).toBeGreaterThanOrEqual(results[i]!.relevance_score);
    expect(new Set(results.slice(0, 2).map((x) => x.index))).toEqual(new Set([1, 3]));
    expect(results.every((x) => x.document === undefined)).toBe(true);
    // Each pair: BOS + query + BOS + document.
    const tokens = documents.reduce((n, d) => n + 2 + query.length + d.length, 0);
    expect(res.body.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
  });

  test("top_n, return_documents, and {text} documents", async () => {
    const all = (await post(r, "/v1/rerank", { query, documents })).body.results;
    const res = await post(r, "/v1/rerank", { query, documents: documents.map((text) => ({ text })), top_n: 2, return_documents: true });
    expect(res.status).toBe(200);
    expect(res.body.results).toEqual(all.slice(0, 2).map((x: any) => ({ ...x, document: { text: documents[x.index] } })));
  });

  test("aliases: /rerank, /reranking and /v1/reranking answer the same", async () => {
    const want = (await post(r, "/v1/rerank", { query, documents })).body.results;
    for (const path of ["/rerank", "/reranking", "/v1/reranking"]) {
      const res = await post(r, path, { query, documents });
      expect(`${path} ${res.status}`).toBe(`${path} 200`);
      expect(res.body.results).toEqual(want);
    }
  });

  const bad: Array<[string, Record<string, unknown>, string]> = [
    ["no query", { documents }, "query"],
    ["empty query", { query: "", documents }, "query"],
    ["no documents", { query }, "documents"],
    ["empty documents", { query, documents: [] }, "documents"],
    ["a document of the wrong type", { query, documents: ["a", 5] }, "documents.1"],
    ["a document too long", { query, documents: ["ok", "y".repeat(MAX_INPUT)] }, "documents[1]"],
    ["top_n zero", { query, documents, top_n: 0 }, "top_n"],
  ];
  for (const [name, body, param] of bad) {
    test(`400 naming ${param}: ${name}`, async () => {
      const res = await post(r, "/v1/rerank", body);
      expect(`${name}: ${res.status} ${res.body.error?.param}`).toBe(`${name}: 400 ${param}`);
      expect(res.body.error.type).toBe("invalid_request_error");
      expect(res.body.error.message).toContain(param);
    });
  }

  test("a model that is not a reranker: 400 naming model, saying so", async () => {
    const res = await post(s, "/v1/rerank", { query, documents });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ param: "model", code: "unsupported_model", type: "invalid_request_error" });
    expect(res.body.error.message).toContain("not a reranker");
  });

  test("outside /v1 errors come in the native shape", async () => {
    const res = await post(s, "/rerank", { query, documents });
    expect(res.status).toBe(400);
    expect(res.body.success).toBe(false);
    expect(res.body.error.code).toBe("unsupported_model");
    expect(res.body.error.message).toContain("model: ");
  });
});

test("/metrics counts embedding inputs and tokens", async () => {
  const read = async () => parseProm(await (await s.served.fetch(`${s.served.url}/metrics`)).text()).samples;
  const before = await read();
  await embed(["one", "two"]);
  const after = await read();
  const delta = (name: string) => sampleValue(after, name)! - sampleValue(before, name)!;
  expect(delta("warren_embedding_inputs_total")).toBe(2);
  expect(delta("warren_embedding_tokens_total")).toBe(8);
  expect(sampleValue(after, "warren_embedding_queue_depth")).toBe(0);
  const served = (samples: typeof after) => sampleValue(samples, "warren_http_requests_total", { route: "/v1/embeddings", status: "200" }) ?? 0;
  expect(served(after) - served(before)).toBe(1);
});
