// Several models behind one app (a registry over fake engines, each answering with its own name):
// every API routes by `model`, an unknown name is a 404 in that API's shape listing the names,
// /v1/models shows each model's state and settings, POST /models/load and /models/unload, the
// per-request keep_alive, failures in each shape, and the metrics by model.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { apiError, parseProm, sampleValue, setupModels, waitFor } from "./helpers.ts";
import { harness, type Harness } from "../helpers/registry.ts";

type Served = Awaited<ReturnType<typeof setupModels>>;
let h: Harness;
let s: Served;
beforeAll(async () => {
  h = harness(["alpha", "beta", "gamma", "broken", "huge"], { maxLoaded: 2, budget: 100, bytes: { huge: 500 }, decodeDelayMs: 2, reply: (n) => `${n} says hi.` });
  h.broken.add("broken");
  s = await setupModels(h.registry);
});
afterAll(() => s.served.close());

const post = async (path: string, body: unknown) => {
  const res = await s.served.fetch(`${s.served.url}${path}`, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
  return { status: res.status, body: (await res.json()) as any, headers: res.headers };
};
const models = async () => ((await (await s.served.fetch(`${s.served.url}/v1/models`)).json()) as { data: any[] }).data;
const byId = async (id: string) => (await models()).find((m) => m.id === id);
const chat = (model: string, extra: Record<string, unknown> = {}) => s.client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 40, ...extra } as OpenAI.ChatCompletionCreateParamsNonStreaming);

describe("routing by model", () => {
  test("every API reaches the model it names, and echoes the name", async () => {
    const c = await chat("beta");
    expect([c.model, c.choices[0]!.message.content]).toEqual(["beta", "beta says hi."]);
    const t = await s.client.completions.create({ model: "alpha", prompt: "x", max_tokens: 40 });
    expect([t.model, t.choices[0]!.text]).toEqual(["alpha", "alpha says hi."]);
    const r = await post("/v1/responses", { model: "beta", input: "hi", max_output_tokens: 40 });
    expect([r.body.model, r.body.output[0].content[0].text]).toEqual(["beta", "beta says hi."]);
    const m = await post("/v1/messages", { model: "alpha", max_tokens: 40, messages: [{ role: "user", content: "hi" }] });
    expect([m.body.model, m.body.content[0].text]).toEqual(["alpha", "alpha says hi."]);
    const g = await post("/generate", { model: "beta", prompt: "x", max_tokens: 40 });
    expect(g.body.data.text).toBe("beta says hi.");
    expect((await post("/generate", { prompt: "x", max_tokens: 40 })).body.data.text).toBe("alpha says hi.");
  });

  test("llama-server's routes route by model too: /completion, /infill's refusal, /apply-template, the /v1-less aliases, /props and /slots by ?model=", async () => {
    const c = await post("/completion", { model: "gamma", prompt: "x", n_predict: 40 });
    expect([c.status, c.body.model, c.body.content]).toEqual([200, "gamma", "gamma says hi."]);
    const first = await post("/completion", { prompt: "x", n_predict: 40 });
    expect([first.body.model, first.body.content]).toEqual(["alpha", "alpha says hi."]);
    const alias = await post("/chat/completions", { model: "beta", messages: [{ role: "user", content: "hi" }], max_tokens: 40 });
    expect([alias.body.model, alias.body.choices[0].message.content]).toEqual(["beta", "beta says hi."]);
    expect((await post("/completion", { model: "nope", prompt: "x" })).status).toBe(404);
    expect((await post("/apply-template", { model: "beta", messages: [{ role: "user", content: "hi" }] })).status).toBe(200);
    const props = async (q: string) => (await (await s.served.fetch(`${s.served.url}/props${q}`)).json()) as any;
    expect((await props("?model=beta")).model_alias).toBe("beta");
    expect((await props("")).model_alias).toBe("alpha");
    const slots = (await (await s.served.fetch(`${s.served.url}/slots?model=gamma`)).json()) as unknown[];
    expect(slots).toHaveLength(2);
    expect((await s.served.fetch(`${s.served.url}/slots?model=nope`)).status).toBe(404);
    const list = (await (await s.served.fetch(`${s.served.url}/models`)).json()) as any;
    expect(list.models.map((m: { name: string }) => m.name)).toEqual(["alpha", "beta", "gamma", "broken", "huge"]);
  });

  test("an unknown name is a 404 in each API's own shape, listing the models", async () => {
    const names = "alpha, beta, gamma, broken, huge";
    const openai = await apiError(chat("gpt-4o"));
    expect(openai).toBeInstanceOf(OpenAI.NotFoundError);
    expect(openai.error).toEqual({ message: `the model 'gpt-4o' does not exist; this server has these models: ${names}`, type: "not_found_error", param: "model", code: "model_not_found" });
    const anthropic = await post("/v1/messages", { model: "claude", max_tokens: 5, messages: [{ role: "user", content: "hi" }] });
    expect(anthropic.status).toBe(404);
    expect(anthropic.body).toEqual({ type: "error", error: { type: "not_found_error", message: expect.stringContaining(names) } });
    const native = await post("/generate", { model: "nope", prompt: "x" });
    expect(native.status).toBe(404);
    expect(native.body).toEqual({ success: false, error: { code: "model_not_found", message: expect.stringContaining(names) } });
    for (const [path, body] of [
      ["/v1/embeddings", { model: "nope", input: "x" }],
      ["/v1/responses", { model: "nope", input: "x" }],
      ["/tokenize", { model: "nope", content: "x" }],
    ] as const) {
      expect((await post(path, body)).status).toBe(404);
    }
  });

  test("streams on two models at the same time interleave", async () => {
    const long = (n: string) => `${n} `.repeat(20);
    const h2 = harness(["a", "b"], { decodeDelayMs: 3, reply: long });
    const s2 = await setupModels(h2.registry);
    const order: string[] = [];
    const read = async (model: string) => {
      let text = "";
      const st = await s2.client.chat.completions.create({ model, messages: [{ role: "user", content: "go" }], max_tokens: 100, stream: true });
      for await (const c of st) {
        const d = c.choices[0]?.delta.content;
        if (d) (order.push(model), (text += d));
      }
      return text;
    };
    expect(await Promise.all([read("a"), read("b")])).toEqual([long("a"), long("b")]);
    // Each stream's tokens came while the other's were still coming.
    const lastA = order.lastIndexOf("a");
    const lastB = order.lastIndexOf("b");
    expect(order.indexOf("b")).toBeLessThan(lastA);
    expect(order.indexOf("a")).toBeLessThan(lastB);
    await s2.served.close();
  });
});

describe("the model list and the model operations", () => {
  test("/v1/models: every model with its state and settings; a loaded one with its engine facts", async () => {
    await chat("alpha");
    const alpha = await byId("alpha");
    expect(alpha.status).toMatchObject({ value: "loaded", in_flight: 0, memory_bytes: 10 });
    expect(alpha.settings).toEqual({ parallel: 2, ctx_size: 512, ctx_per_slot: 256, batch_size: 64, threads: 1, flash_attention: "auto", chat_template: null, max_queue: 8, keep_alive: "forever" });
    expect(alpha.meta.n_ctx).toBe(256);
    expect(alpha.capabilities).toEqual(["completion", "chat"]);
    const one = await (await s.served.fetch(`${s.served.url}/v1/models/alpha`)).json();
    expect((one as any).id).toBe("alpha");
    expect((await s.served.fetch(`${s.served.url}/v1/models/nope`)).status).toBe(404);
  });

  test("POST /models/load loads now; /models/unload unloads, 409 while a request holds the model", async () => {
    const loaded = await post("/models/load", { model: "gamma" });
    expect(loaded.status).toBe(200);
    expect(loaded.body.data.status.value).toBe("loaded");
    const ac = new AbortController();
    const h3 = harness(["slow"], { decodeDelayMs: 5, reply: () => "z".repeat(200) });
    const s3 = await setupModels(h3.registry);
    const st = await s3.client.completions.create({ model: "slow", prompt: "x", max_tokens: 200, stream: true }, { signal: ac.signal });
    const busy = await s3.served.fetch(`${s3.served.url}/models/unload`, { method: "POST", body: JSON.stringify({ model: "slow" }), headers: { "content-type": "application/json" } });
    expect(busy.status).toBe(409);
    expect(((await busy.json()) as any).error.code).toBe("model_busy");
    ac.abort();
    await (async () => {
      for await (const _ of st);
    })().catch(() => {});
    // The client is gone: its stream's hold ends with it, and the model can be unloaded.
    await waitFor(() => h3.registry.find("slow").holds === 0, "the stream's hold to end");
    const freed = await s3.served.fetch(`${s3.served.url}/models/unload`, { method: "POST", body: JSON.stringify({ model: "slow" }), headers: { "content-type": "application/json" } });
    expect(freed.status).toBe(200);
    await s3.served.close();
    const unloaded = await post("/models/unload", { model: "gamma" });
    expect(unloaded.body.data.status.value).toBe("unloaded");
    expect((await post("/models/load", { model: "nope" })).status).toBe(404);
  });

  test("keep_alive: a request's 0 unloads its model once answered; a bad value is a 400 naming it", async () => {
    await chat("beta", { keep_alive: 0 });
    await Bun.sleep(20);
    expect((await byId("beta")).status.value).toBe("unloaded");
    const bad = await apiError(chat("beta", { keep_alive: "soon" }));
    expect(bad.status).toBe(400);
    expect(bad.param).toBe("keep_alive");
    expect((await post("/models/load", { model: "beta", keep_alive: "5m" })).body.data.settings.keep_alive).toBe("5m");
  });
});

describe("failures", () => {
  test("a model that fails to load: 500 in the API's shape, failed with its reason in the list; the others serve", async () => {
    const e = await apiError(chat("broken"));
    expect(e.status).toBe(500);
    expect(e.code).toBe("model_load_failed");
    expect(e.message).toContain("cannot load model 'broken': broken file");
    expect((await byId("broken")).status).toMatchObject({ value: "failed", failed: true, error: "cannot load model 'broken': broken file" });
    expect((await chat("alpha")).choices[0]!.message.content).toBe("alpha says hi.");
  });

  test("a model beyond the memory budget: 503 with Retry-After, naming the budget", async () => {
    const r = await post("/v1/chat/completions", { model: "huge", messages: [{ role: "user", content: "hi" }] });
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).not.toBeNull();
    expect(r.body.error.code).toBe("model_over_budget");
    expect(r.body.error.message).toContain("memory budget");
  });
});

describe("metrics by model", () => {
  test("tokens, loads and evictions per model; the server's totals are every model's together", async () => {
    const scrape = async () => parseProm(await (await s.served.fetch(`${s.served.url}/metrics`)).text()).samples;
    const before = await scrape();
    await chat("gamma");
    await chat("alpha");
    await chat("beta");
    const after = await scrape();
    const v = (samples: typeof after, name: string, labels: Record<string, string> = {}) => sampleValue(samples, name, labels) ?? 0;
    const delta = (name: string, labels: Record<string, string> = {}) => v(after, name, labels) - v(before, name, labels);
    // Each reply is its text (one token per character) and the end-of-generation token.
    const tokens = (n: string) => `${n} says hi.`.length + 1;
    expect(delta("warren_model_generated_tokens_total", { model: "gamma" })).toBe(tokens("gamma"));
    expect(delta("warren_model_generated_tokens_total", { model: "beta" })).toBe(tokens("beta"));
    expect(delta("warren_generated_tokens_total")).toBe(tokens("gamma") + tokens("alpha") + tokens("beta"));
    expect(v(after, "warren_model_loads_total", { model: "beta" })).toBe(h.registry.find("beta").totals.loads);
    // --models-max 2: three models in turn, so the oldest was unloaded to make room.
    expect(delta("warren_model_evictions_total", { model: "gamma", reason: "room" })).toBe(1);
    expect(v(after, "warren_model_loaded", { model: "gamma" })).toBe(0);
    expect(v(after, "warren_model_loaded", { model: "beta" })).toBe(1);
    expect(v(after, "warren_model_failed", { model: "broken" })).toBe(1);
    expect(v(after, "warren_models_memory_budget_bytes")).toBe(100);
  });
});
