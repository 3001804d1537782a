// /metrics (strictly parsed Prometheus text whose counters move as requests are served),
// /openapi/json, and the app-level 413.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { FakeEngine } from "../../src/inference/engine-fake.ts";
import { parseProm, sampleValue, setup, type Setup } from "./helpers.ts";

let s: Setup;
let open = 3;
beforeAll(async () => {
  s = await setup(new FakeEngine({ slots: 2, decodeDelayMs: 1 }), { connections: () => open, maxBodyBytes: 64 * 1024 });
});
afterAll(() => s.served.close());

async function scrape() {
  const res = await s.served.fetch(`${s.served.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/plain");
  return parseProm(await res.text());
}

describe("/metrics", () => {
  test("parses strictly and has every family with the right type", async () => {
    const { types } = await scrape();
    expect(Object.fromEntries(types)).toMatchObject({
      warren_http_requests_total: "counter",
      warren_queue_depth: "gauge",
      warren_slots_busy: "gauge",
      warren_slots: "gauge",
      warren_open_connections: "gauge",
      warren_prompt_tokens_total: "counter",
      warren_generated_tokens_total: "counter",
      warren_requests_finished_total: "counter",
      warren_time_to_first_token_seconds: "histogram",
      warren_inter_token_latency_seconds: "histogram",
    });
  });

  test("counters move as requests are served", async () => {
    const before = (await scrape()).samples;
    const route = { route: "/v1/completions", status: "200" };
    await s.client.completions.create({ model: "fake", prompt: "hello", max_tokens: 5 });
    await s.client.chat.completions.create({ model: "fake", messages: [{ role: "user", content: "x" }], max_tokens: 4, stream: true }).then(async (st) => {
      for await (const _ of st);
    });
    await s.client.completions.create({ model: "fake", prompt: "x", n: 3 }).catch(() => {});
    open = 7;
    const after = (await scrape()).samples;
    const v = (samples: typeof after, name: string, labels?: Record<string, string>) => sampleValue(samples, name, labels) ?? 0;
    expect(v(after, "warren_http_requests_total", route) - v(before, "warren_http_requests_total", route)).toBe(1);
    const delta = (name: string, labels?: Record<string, string>) => v(after, name, labels) - v(before, name, labels);
    expect(delta("warren_http_requests_total", { route: "/v1/chat/completions", status: "200" })).toBe(1);
    expect(delta("warren_http_requests_total", { route: "/v1/completions", status: "400" })).toBe(1);
    expect(v(after, "warren_generated_tokens_total") - v(before, "warren_generated_tokens_total")).toBe(9);
    // The two requests served: BOS + "hello", and the rendered chat (the refused n = 3 one never ran).
    const engine = s.scheduler.engine;
    const chatPrompt = engine.renderChat({ messages: [{ role: "user", text: "x" }] }).tokens.length;
    expect(delta("warren_prompt_tokens_total")).toBe(engine.tokenize("hello", true).length + chatPrompt);
    expect(v(after, "warren_requests_finished_total", { reason: "length" }) - v(before, "warren_requests_finished_total", { reason: "length" })).toBe(2);
    // 9 tokens in 2 requests: 2 first tokens, 7 gaps between tokens.
    expect(v(after, "warren_time_to_first_token_seconds_count") - v(before, "warren_time_to_first_token_seconds_count")).toBe(2);
    expect(v(after, "warren_inter_token_latency_seconds_count") - v(before, "warren_inter_token_latency_seconds_count")).toBe(7);
    expect(v(after, "warren_open_connections")).toBe(7);
    expect(v(after, "warren_slots")).toBe(2);
    expect(v(after, "warren_slots_busy")).toBe(0);
  });

  test("unknown paths share one label (bounded cardinality)", async () => {
    const unmatched = { route: "unmatched", status: "404" };
    const before = sampleValue((await scrape()).samples, "warren_http_requests_total", unmatched) ?? 0;
    await s.served.fetch(`${s.served.url}/v1/random-${Math.random()}`);
    await s.served.fetch(`${s.served.url}/v1/random-${Math.random()}`);
    const { samples } = await scrape();
    expect(sampleValue(samples, "warren_http_requests_total", unmatched)).toBe(before + 2);
    expect(samples.some((x) => x.labels.route?.startsWith("/v1/random-"))).toBe(false);
  });

  test("busy slots and queue depth show while requests run", async () => {
    const q = await setup(new FakeEngine({ slots: 1, decodeDelayMs: 2 }), { maxQueue: 4 });
    const ac = new AbortController();
    const streams = await Promise.all(
      [0, 1].map(() => q.client.completions.create({ model: "fake", prompt: "a", max_tokens: 300, stream: true }, { signal: ac.signal })),
    );
    const res = await q.served.fetch(`${q.served.url}/metrics`);
    const { samples } = parseProm(await res.text());
    expect(sampleValue(samples, "warren_slots_busy")).toBe(1);
    expect(sampleValue(samples, "warren_queue_depth")).toBe(1);
    ac.abort();
    for (const st of streams) await (async () => {
      for await (const _ of st);
    })().catch(() => {});
    await q.served.close();
  });
});

describe("/openapi/json", () => {
  test("describes the routes from their schemas", async () => {
    const res = await s.served.fetch(`${s.served.url}/openapi/json`);
    expect(res.status).toBe(200);
    const spec = (await res.json()) as any;
    expect(spec.openapi).toStartWith("3.");
    expect(spec.info.title).toBe("Warren");
    const chat = spec.paths["/v1/chat/completions"]?.post;
    expect(chat).toBeDefined();
    expect(JSON.stringify(chat.requestBody)).toContain("messages");
    for (const p of ["/v1/completions", "/v1/models", "/tokenize", "/detokenize", "/metrics", "/generate"]) expect(spec.paths[p]).toBeDefined();
  });
});

describe("body size", () => {
  test("a body over maxBodyBytes is a 413 in OpenAI's shape on /v1", async () => {
    const big = JSON.stringify({ model: "fake", prompt: "x".repeat(70 * 1024) });
    const headers = { "content-type": "application/json", "content-length": String(big.length) };
    const res = await s.served.fetch(`${s.served.url}/v1/completions`, { method: "POST", body: big, headers });
    expect(res.status).toBe(413);
    expect(((await res.json()) as any).error.code).toBe("body_too_large");
  });
});
