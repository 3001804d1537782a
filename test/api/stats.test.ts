// GET /v1/stats holds the numbers /metrics shows: read one after the other with no traffic in
// between, every field equals its Prometheus line (the one request in between, the stats call
// itself, is counted in /metrics' reading and not yet in its own).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { FakeEngine } from "../../src/inference/engine-fake.ts";
import { parseProm, sampleValue, setup, type Setup } from "./helpers.ts";

interface Hist {
  bounds: number[];
  cumulative: number[];
  sum: number;
  count: number;
}
interface StatsJson {
  object: string;
  uptime_s: number;
  model: string;
  ready: boolean;
  slots: { total: number; busy: number; paused: number };
  queue_depth: number;
  threads: number;
  open_connections: number | null;
  tokens: { prompt: number; prompt_cached: number; generated: number };
  decode: { calls: number; tokens: number; seconds: number };
  requests: { answered: Array<{ route: string; status: number; count: number }>; finished: Record<string, number>; rejected: number };
  latency: { time_to_first_token_seconds: Hist; inter_token_latency_seconds: Hist };
  embedding: { inputs: number; tokens: number; queue_depth: number };
  memory: { resident_bytes: number };
}

let s: Setup;
let engine: FakeEngine;
beforeAll(async () => {
  engine = new FakeEngine({ slots: 2, decodeDelayMs: 2 });
  s = await setup(engine, { connections: () => 5 });
});
afterAll(() => s.served.close());

const stats = async () => (await (await s.served.fetch(`${s.served.url}/v1/stats`)).json()) as StatsJson;
const metrics = async () => parseProm(await (await s.served.fetch(`${s.served.url}/metrics`)).text()).samples;

async function traffic(): Promise<void> {
  await s.client.chat.completions.create({ model: "fake", messages: [{ role: "user", content: "hello" }], max_tokens: 6 });
  await s.client.completions.create({ model: "fake", prompt: "abc", max_tokens: 3 });
  await s.client.completions.create({ model: "fake", prompt: "x", n: 3 }).catch(() => {});
  await s.served.fetch(`${s.served.url}/nowhere`);
}

describe("/v1/stats", () => {
  test("every number equals its /metrics line", async () => {
    await traffic();
    const j = await stats();
    const m = await metrics();
    const v = (name: string, labels?: Record<string, string>) => sampleValue(m, name, labels);
    expect(j.object).toBe("stats");
    expect(j.model).toBe(engine.info.name);
    expect(j.ready).toBe(v("warren_model_ready") === 1);
    expect(j.slots).toEqual({ total: v("warren_slots")!, busy: v("warren_slots_busy")!, paused: v("warren_slots_paused")! });
    expect(j.queue_depth).toBe(v("warren_queue_depth")!);
    expect(j.threads).toBe(v("warren_threads")!);
    expect(j.open_connections).toBe(v("warren_open_connections")!);
    expect(j.open_connections).toBe(5);
    expect(j.tokens).toEqual({ prompt: v("warren_prompt_tokens_total")!, prompt_cached: v("warren_prompt_tokens_cached_total")!, generated: v("warren_generated_tokens_total")! });
    expect(j.tokens.generated).toBe(9);
    expect(j.decode).toEqual({ calls: v("warren_decode_calls_total")!, tokens: v("warren_decoded_tokens_total")!, seconds: v("warren_decode_seconds_total")! });
    expect(j.requests.rejected).toBe(v("warren_requests_rejected_total")!);
    for (const [reason, n] of Object.entries(j.requests.finished)) expect(n).toBe(v("warren_requests_finished_total", { reason })!);
    // Both requests that ran stopped at max_tokens ("length" is a finish reason here).
    expect(j.requests.finished["length"]).toBe(2);
    const answered = m.filter((x) => x.name === "warren_http_requests_total");
    expect(answered.length).toBe(j.requests.answered.length + 1);
    for (const a of j.requests.answered) {
      const inMetrics = v("warren_http_requests_total", { route: a.route, status: String(a.status) });
      expect(a.route === "/v1/stats" ? inMetrics! - 1 : inMetrics).toBe(a.count);
    }
    expect(j.requests.answered).toContainEqual({ route: "unmatched", status: 404, count: 1 });
    expect(v("warren_http_requests_total", { route: "/v1/stats", status: "200" })).toBe(1);
    for (const name of ["warren_time_to_first_token_seconds", "warren_inter_token_latency_seconds"] as const) {
      const h = name === "warren_time_to_first_token_seconds" ? j.latency.time_to_first_token_seconds : j.latency.inter_token_latency_seconds;
      expect(h.count).toBe(v(`${name}_count`)!);
      expect(h.sum).toBe(v(`${name}_sum`)!);
      expect(h.bounds.length).toBeGreaterThan(5);
      h.bounds.forEach((le, i) => expect(h.cumulative[i]).toBe(v(`${name}_bucket`, { le: String(le) })!));
    }
    expect(j.latency.time_to_first_token_seconds.count).toBe(2);
    expect(j.embedding).toEqual({ inputs: v("warren_embedding_inputs_total")!, tokens: v("warren_embedding_tokens_total")!, queue_depth: v("warren_embedding_queue_depth")! });
    // Memory moves between two readings; both read the process' resident size.
    const rss = v("process_resident_memory_bytes")!;
    expect(j.memory.resident_bytes).toBeGreaterThan(rss * 0.8);
    expect(j.memory.resident_bytes).toBeLessThan(rss * 1.25);
  });

  test("busy slots show while a request runs and return to 0 when its client goes away", async () => {
    const controller = new AbortController();
    const res = await s.served.fetch(`${s.served.url}/generate`, {
      method: "POST",
      // At 2 ms a decode, the whole context would take seconds: the abort comes long before.
      body: JSON.stringify({ prompt: "long", max_tokens: engine.slotContextSize - 16, ignore_eos: true, stream: true }),
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read();
    expect((await stats()).slots.busy).toBe(1);
    const cancelled = (await stats()).requests.finished.cancelled ?? 0;
    controller.abort();
    await reader.cancel().catch(() => {});
    let last = await stats();
    for (let i = 0; i < 250 && last.slots.busy !== 0; i++) {
      await Bun.sleep(20);
      last = await stats();
    }
    expect(last.slots.busy).toBe(0);
    expect(last.requests.finished.cancelled).toBe(cancelled + 1);
  });

  test("needs the key like any API route", async () => {
    const k = await setup(new FakeEngine(), { apiKeys: ["sk-1"] });
    try {
      const res = await k.served.fetch(`${k.served.url}/v1/stats`);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { type: string } }).error.type).toBe("authentication_error");
    } finally {
      await k.served.close();
    }
  });
});
