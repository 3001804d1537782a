// The native routes (/health, /generate) through app.handle, on the deterministic fake engine.
import { describe, expect, test } from "bun:test";
import { createApp } from "../../src/api/app.ts";
import type { ServiceState } from "../../src/api/state.ts";
import { FakeEngine } from "../../src/inference/engine-fake.ts";
import { Scheduler } from "../../src/inference/scheduler.ts";
import { createLogger } from "../../src/log.ts";

function setup(opts: { slots?: number; ctx?: number; maxQueue?: number; delay?: number } = {}) {
  const engine = new FakeEngine({ slots: opts.slots ?? 2, slotContextSize: opts.ctx ?? 128, decodeDelayMs: opts.delay ?? 0 });
  const scheduler = new Scheduler({ engine, maxQueue: opts.maxQueue ?? 4 });
  const state: ServiceState = { phase: "ready", scheduler };
  const app = createApp({ state, log: createLogger("error") });
  const post = (body: unknown, headers: Record<string, string> = { "content-type": "application/json" }) =>
    app.handle(new Request("http://localhost/generate", { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) }));
  return { engine, scheduler, state, app, post };
}

async function sseEvents(res: Response): Promise<any[]> {
  const text = await res.text();
  return text
    .split("\n\n")
    .filter((f) => f.startsWith("data: "))
    .map((f) => JSON.parse(f.slice(6)));
}

describe("GET /health", () => {
  test("is answered synchronously by app.fetch: no hook makes Elysia wait on every request", () => {
    // Elysia awaits a hook whose source looks like it may return a promise; an answer settled
    // within the call stays on the transport's synchronous path (src/api/app.ts, onRequest).
    for (const deps of [{}, { apiKeys: ["k"], corsOrigins: ["https://a.example"] }]) {
      const state: ServiceState = { phase: "ready" };
      const app = createApp({ state, log: createLogger("error"), ...deps });
      const res = app.fetch(new Request("http://localhost/health"));
      expect(res instanceof Promise ? Bun.peek.status(res) : "sync").not.toBe("pending");
    }
  });

  test("503 loading, 200 healthy, 503 draining", async () => {
    const { state, app } = setup();
    const get = () => app.handle(new Request("http://localhost/health"));
    state.phase = "loading";
    let r = await get();
    expect(r.status).toBe(503);
    expect((await r.json() as any).data.status).toBe("loading");
    state.phase = "ready";
    r = await get();
    expect(r.status).toBe(200);
    expect(await r.json() as any).toEqual({ success: true, data: { status: "healthy", model_loaded: true } });
    state.phase = "draining";
    r = await get();
    expect(r.status).toBe(503);
    expect((await r.json() as any).data.status).toBe("draining");
  });
});

describe("POST /generate", () => {
  test("the seed's shape, with max_tokens honoured exactly", async () => {
    const { post } = setup();
    const r = await post({ prompt: "Hello", max_tokens: 5 });
    expect(r.status).toBe(200);
    const body = await r.json() as any;
    expect(body.success).toBe(true);
    expect(Object.keys(body.data).sort()).toEqual(["finish_reason", "id", "prompt_tokens", "response_time", "text", "tokens", "tokens_per_second"]);
    expect(body.data.tokens).toBe(5);
    expect(body.data.finish_reason).toBe("length");
    expect(body.data.id).toMatch(/^[0-9a-f]{32}$/);
    // Seconds; the fake engine answers 5 tokens in a few milliseconds.
    expect(body.data.response_time).toBeGreaterThan(0);
    expect(body.data.response_time).toBeLessThan(5);
  });

  test("JSON is parsed even without a content-type (curl -d)", async () => {
    const { post } = setup();
    const r = await post({ prompt: "Hello", max_tokens: 2 }, {});
    expect(r.status).toBe(200);
  });

  test("streamed events concatenate to the non-streamed text; final event carries the same fields", async () => {
    const { post } = setup();
    const plain = ((await (await post({ prompt: "Hi there", max_tokens: 12, temperature: 0 })).json()) as any).data;
    const res = await post({ prompt: "Hi there", max_tokens: 12, temperature: 0, stream: true });
    expect(res.headers.get("content-type")).toStartWith("text/event-stream");
    const events = await sseEvents(res);
    const last = events.at(-1);
    expect(last.done).toBe(true);
    expect(events.slice(0, -1).map((e) => e.text).join("")).toBe(plain.text);
    expect(last.text).toBe(plain.text);
    expect(last.tokens).toBe(12);
  });

  const bad: Array<[string, unknown, number, string]> = [
    ["malformed JSON", "{nope", 400, "invalid_json"],
    ["prompt missing", { max_tokens: 3 }, 400, "invalid_request"],
    ["empty prompt", { prompt: "" }, 400, "invalid_request"],
    ["prompt of the wrong type", { prompt: 42 }, 400, "invalid_request"],
    ["negative max_tokens", { prompt: "x", max_tokens: -1 }, 400, "invalid_request"],
    ["huge max_tokens", { prompt: "x", max_tokens: 10_000_000 }, 400, "invalid_request"],
    ["fractional max_tokens", { prompt: "x", max_tokens: 1.5 }, 400, "invalid_request"],
    ["temperature of the wrong type", { prompt: "x", temperature: "hot" }, 400, "invalid_request"],
    ["stop not a list", { prompt: "x", stop: "END" }, 400, "invalid_request"],
    ["prompt longer than the context", { prompt: "x".repeat(500), max_tokens: 4 }, 400, "context_exceeded"],
  ];
  for (const [name, body, status, code] of bad) {
    test(`bad input: ${name} -> ${status} ${code}`, async () => {
      const { post } = setup();
      const r = await post(body);
      expect(r.status).toBe(status);
      const json = await r.json() as any;
      expect(json.success).toBe(false);
      expect(json.error.code).toBe(code);
      expect(typeof json.error.message).toBe("string");
      expect(json.error.message).not.toContain("    at "); // no stack traces
    });
  }

  test("a full queue answers 503 with Retry-After; the admitted requests still complete", async () => {
    const { post } = setup({ slots: 1, maxQueue: 1, delay: 2 });
    const a = post({ prompt: "a", max_tokens: 10 });
    const b = post({ prompt: "b", max_tokens: 10 });
    await Bun.sleep(1);
    const c = await post({ prompt: "c", max_tokens: 10 });
    expect(c.status).toBe(503);
    expect(c.headers.get("retry-after")).toBe("1");
    expect((await c.json() as any).error.code).toBe("queue_full");
    expect((await a).status).toBe(200);
    expect((await b).status).toBe(200);
  });

  test("503 while loading", async () => {
    const { state, post } = setup();
    state.phase = "loading";
    const r = await post({ prompt: "x" });
    expect(r.status).toBe(503);
    expect((await r.json() as any).error.code).toBe("loading");
  });

  test("unknown route: 404 in the native shape", async () => {
    const { app } = setup();
    const r = await app.handle(new Request("http://localhost/nope"));
    expect(r.status).toBe(404);
    expect((await r.json() as any).error.code).toBe("not_found");
  });
});
