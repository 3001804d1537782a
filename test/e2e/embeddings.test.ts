// Embeddings and reranking end to end: the real CLI process (main.ts's wiring), real sockets, the
// official `openai` SDK, generated models (a tiny llama model, and the tiny Qwen3-style reranker).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { makeModel } from "../../src/models/presets.ts";
import { makeReranker } from "../../src/models/reranker.ts";
import { parseProm, sampleValue } from "../api/helpers.ts";
import { startWarren, type WarrenProcess } from "../helpers/warren-process.ts";

const post = (url: string, body: unknown) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

let dir: string;
let embedServer: WarrenProcess;
let rerankServer: WarrenProcess;
let client: OpenAI;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "warren-e2e-embed-"));
  await makeModel({ preset: "tiny", out: join(dir, "tiny.gguf") });
  await makeReranker(join(dir, "rerank.gguf"));
  // --batch-size 64: the longest embedding input is 64 tokens. A short keep-alive keeps the drain
  // after SIGTERM short (open connections are still served that long).
  [embedServer, rerankServer] = await Promise.all([
    startWarren(["--model", join(dir, "tiny.gguf"), "--threads", "1", "--parallel", "2", "--batch-size", "64", "--keep-alive-timeout-ms", "300"]),
    startWarren(["--model", join(dir, "rerank.gguf"), "--threads", "1", "--parallel", "2"]),
  ]);
  client = new OpenAI({ apiKey: "none", baseURL: `${embedServer.url}/v1`, maxRetries: 0 });
  // Two servers start at once; on a busy 2-core machine that takes longer than bun's 5 s default.
}, 60_000);
afterAll(async () => {
  await embedServer?.stop("SIGKILL");
  await rerankServer?.stop("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

describe("warren serve: embeddings", () => {
  test("the embedding side is made on first use, not at start: its ready line is logged then, once", async () => {
    // Weights are read into memory, not mapped, so the second instance shows in the log, not in /proc/PID/maps.
    const readyLines = () => embedServer.log().match(/: embedding context ready: \d+ dimensions, mean pooling/g)?.length ?? 0;
    const metrics = parseProm(await (await fetch(`${embedServer.url}/metrics`)).text()).samples;
    expect(sampleValue(metrics, "warren_embedding_inputs_total")).toBe(0);
    expect(readyLines()).toBe(0);
    await client.embeddings.create({ model: "tiny", input: "first" });
    await client.embeddings.create({ model: "tiny", input: "second" });
    const until = Date.now() + 2000;
    while (readyLines() === 0 && Date.now() < until) await Bun.sleep(20);
    expect(readyLines()).toBe(1);
  });

  test("the SDK gets unit vectors of the model's width, float and base64 alike", async () => {
    const floats = await client.embeddings.create({ model: "tiny", input: ["Once upon a time", "the end"], encoding_format: "float" });
    const decoded = await client.embeddings.create({ model: "tiny", input: ["Once upon a time", "the end"] });
    expect(floats.data.map((d) => d.embedding.length)).toEqual([64, 64]);
    for (const d of floats.data) expect(Math.hypot(...d.embedding)).toBeCloseTo(1, 5);
    expect(decoded.data.map((d) => d.embedding)).toEqual(floats.data.map((d) => d.embedding));
    expect(floats.data[0]!.embedding).not.toEqual(floats.data[1]!.embedding);
    expect(floats.model).toBe("tiny");
    expect(floats.usage.prompt_tokens).toBeGreaterThan(4);
  });

  test("embeddings and chat at the same time: every request succeeds", async () => {
    const chats = Array.from({ length: 4 }, (_, i) =>
      client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: `hi ${i}` }], max_tokens: 16 }),
    );
    const embeds = Array.from({ length: 8 }, (_, i) => client.embeddings.create({ model: "tiny", input: [`text ${i}`, `more ${i}`] }));
    const [c, e] = await Promise.all([Promise.all(chats), Promise.all(embeds)]);
    expect(c.every((x) => x.choices[0]!.message.content !== null)).toBe(true);
    expect(e.every((x) => x.data.length === 2)).toBe(true);
  });

  test("too long, and a rerank on a model that is not a reranker: 400s naming the field; the server lives on", async () => {
    const long = await post(`${embedServer.url}/v1/embeddings`, { input: "word ".repeat(200) });
    expect(long.status).toBe(400);
    expect(((await long.json()) as any).error).toMatchObject({ param: "input", code: "context_exceeded" });
    const rerank = await post(`${embedServer.url}/v1/rerank`, { query: "q", documents: ["d"] });
    expect(rerank.status).toBe(400);
    expect(((await rerank.json()) as any).error).toMatchObject({ param: "model", code: "unsupported_model" });
    expect((await fetch(`${embedServer.url}/health`)).status).toBe(200);
  });
});

test("SIGTERM with embedding requests in flight: they are answered, the context is freed, exit 0", async () => {
  const inputs = Array.from({ length: 200 }, (_, i) => `input number ${i}`);
  const metric = async (name: string) => sampleValue(parseProm(await (await fetch(`${embedServer.url}/metrics`)).text()).samples, name)!;
  const before = await metric("warren_embedding_inputs_total");
  const inFlight = Array.from({ length: 3 }, () => post(`${embedServer.url}/v1/embeddings`, { input: inputs }).then((r) => r.status));
  // All three accepted (queued or done) before the signal.
  while ((await metric("warren_embedding_inputs_total")) - before + (await metric("warren_embedding_queue_depth")) < 3 * inputs.length) await Bun.sleep(5);
  const code = await embedServer.stop("SIGTERM");
  expect(await Promise.all(inFlight)).toEqual([200, 200, 200]);
  expect(code).toBe(0);
  expect(embedServer.log()).toContain("stopped");
}, 15_000);

describe("warren serve: a reranker", () => {
  test("POST /v1/rerank scores and sorts the documents", async () => {
    const documents = ["the cat sleeps on the mat", "stocks fell today", "a dog runs in the park"];
    const res = await post(`${rerankServer.url}/v1/rerank`, { model: "r", query: "where do cats sleep", documents, return_documents: true });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body.results.map((x: any) => x.index).sort()).toEqual([0, 1, 2]);
    for (const x of body.results) {
      expect(x.relevance_score > 0 && x.relevance_score < 1).toBe(true);
      expect(x.document.text).toBe(documents[x.index]);
    }
    expect(body.results[0].relevance_score).toBeGreaterThanOrEqual(body.results[2].relevance_score);
    expect(body.usage.prompt_tokens).toBeGreaterThan(0);
  });

  test("the same model refuses embeddings with a 400 naming model", async () => {
    const res = await post(`${rerankServer.url}/v1/embeddings`, { input: "x" });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error).toMatchObject({ param: "model", code: "unsupported_model" });
  });
});
