// llama-server's other routes over a real socket: /props, /slots, /v1/health, /models,
// /apply-template, /embedding(s), /infill on a generated model with FIM tokens, the aliases without
// /v1, and what OpenAI answers gain: timings, system_fingerprint and a GBNF grammar.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fakeEmbedder } from "../../src/inference/embedding-fake.ts";
import { FakeEngine } from "../../src/inference/engine-fake.ts";
import { LlamaEngine } from "../../src/inference/llama/engine.ts";
import { makeModel } from "../../src/models/presets.ts";
import { requireStories } from "../helpers/models.ts";
import { setup, waitFor, type Setup } from "./helpers.ts";

/** A ChatML template whose comment names the FIM markers: the generated vocabulary gets them as control tokens. */
const FIM_TEMPLATE =
  "{#- <|fim_prefix|><|fim_suffix|><|fim_middle|><|repo_name|><|file_sep|> -#}\n" +
  "{%- for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}" +
  "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

let dir: string;
let stories: LlamaEngine;
let fim: LlamaEngine;
let s: Setup;
let f: Setup;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "warren-llama-routes-"));
  stories = await LlamaEngine.load({ modelPath: requireStories(), slots: 2, slotContextSize: 256, threads: 1 });
  s = await setup(stories);
  const model = await makeModel({ preset: "tiny", out: join(dir, "fim.gguf"), chatTemplate: FIM_TEMPLATE });
  // llama-server keeps for extra context what the slot has beyond one batch: a slot of 1024, batches of 256.
  fim = await LlamaEngine.load({ modelPath: model.path, slots: 1, slotContextSize: 1024, batchSize: 256, threads: 1 });
  f = await setup(fim, { llamaServer: { props: true, slots: false } });
});
afterAll(async () => {
  await s?.served.close();
  await f?.served.close();
  await stories?.dispose();
  await fim?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

async function call(on: Setup, method: string, path: string, body?: unknown): Promise<{ status: number; body: any; text: string }> {
  const r = await fetch(on.served.url + path, { method, headers: { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: r.status, body: parsed, text };
}

describe("monitoring routes", () => {
  test("GET /props: default settings, slots, model, template, special tokens", async () => {
    const { body } = await call(s, "GET", "/props");
    expect(body.default_generation_settings.n_ctx).toBe(256);
    expect(body.default_generation_settings.params).toMatchObject({ temperature: 0.8, top_k: 40, top_p: 0.95, min_p: 0.05, seed: 4294967295, n_predict: -1 });
    expect(body).toMatchObject({ total_slots: 2, model_path: requireStories(), bos_token: "<s>", eos_token: "</s>", endpoint_slots: true, endpoint_props: false, is_sleeping: false });
    expect(body.build_info).toMatch(/^warren-/);
    const templated = await call(f, "GET", "/props");
    expect(templated.body.chat_template).toBe(FIM_TEMPLATE);
  });

  test("POST /props: 501 unless started with --props", async () => {
    const off = await call(s, "POST", "/props", {});
    expect(off.status).toBe(501);
    expect(off.body.error).toEqual({ code: 501, type: "not_supported_error", message: "This server does not support changing global properties. Start it with `--props`" });
    expect((await call(f, "POST", "/props", {})).body).toEqual({ success: true });
  });

  test("GET /slots: each slot; a busy one shows its request; fail_on_no_slot 503 when none is idle; off with --no-slots", async () => {
    const busy = await setup(new FakeEngine({ slots: 1, decodeDelayMs: 5 }));
    try {
      const idle = await call(busy, "GET", "/slots?fail_on_no_slot=1");
      expect(idle.body).toEqual([{ id: 0, n_ctx: 512, speculative: false, is_processing: false }]);
      const running = call(busy, "POST", "/completion", { prompt: "x", n_predict: 40, temperature: 0 });
      await waitFor(() => busy.scheduler.stats().busySlots === 1, "the slot to be taken");
      const during = await call(busy, "GET", "/slots");
      expect(during.body[0]).toMatchObject({ id: 0, is_processing: true, n_prompt_tokens: 2, params: { temperature: 0, n_predict: 40 } });
      expect(during.body[0].next_token[0].n_decoded).toBeGreaterThanOrEqual(0);
      const none = await call(busy, "GET", "/slots?fail_on_no_slot=1");
      expect(none.status).toBe(503);
      expect(none.body.error).toEqual({ code: 503, type: "unavailable_error", message: "no slot available" });
      await running;
    } finally {
      await busy.served.close();
    }
    expect((await call(f, "GET", "/slots")).status).toBe(501);
  });

  test("GET /v1/health: ok when ready, 503 in llama-server's shape while loading", async () => {
    expect((await call(s, "GET", "/v1/health")).body).toEqual({ status: "ok" });
    s.state.phase = "loading";
    try {
      const loading = await call(s, "GET", "/v1/health");
      expect(loading.status).toBe(503);
      expect(loading.body.error).toEqual({ code: 503, type: "unavailable_error", message: "Loading model" });
    } finally {
      s.state.phase = "ready";
    }
  });

  test("GET /models: llama-server's models list beside OpenAI's data", async () => {
    const { body } = await call(s, "GET", "/models");
    expect(body.object).toBe("list");
    expect(body.data[0].id).toBe(stories.info.name);
    expect(body.models[0]).toMatchObject({ name: stories.info.name, model: stories.info.name, details: { format: "gguf" } });
  });
});

describe("POST /apply-template", () => {
  test("the model's template applied, without generating", async () => {
    expect((await call(f, "POST", "/apply-template", { messages: [{ role: "user", content: "hi" }] })).body).toEqual({ prompt: "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n" });
    expect((await call(s, "POST", "/apply-template", { messages: [{ role: "user", content: "hi" }] })).body).toEqual({ prompt: "User: hi\nAssistant:" });
  });
});

describe("POST /infill", () => {
  test("a model with FIM tokens: repo-level context, then BOS <PRE> prefix prompt <SUF> suffix <MID>", async () => {
    // (Not toMatchObject with expect.any: Bun writes the matchers into the object it checks.)
    expect([typeof fim.info.fim?.repo, typeof fim.info.fim?.separator]).toEqual(["number", "number"]);
    const body = { input_prefix: "def f():", input_suffix: "return 1", input_extra: [{ filename: "a.py", text: "x = 2" }], prompt: "  ", n_predict: 3, temperature: 0 };
    const { status, body: r } = await call(f, "POST", "/infill", body);
    expect(status).toBe(200);
    const plain = (t: string) => fim.tokenize(t, false);
    const { prefix, suffix, middle, repo, separator } = fim.info.fim!;
    const expected = [repo!, ...plain("myproject\n"), separator!, ...plain("a.py\n"), ...plain("x = 2"), separator!, ...plain("filename\n"), fim.info.bosToken!, prefix, ...plain("def f():"), ...fim.tokenize("  ", false, true), suffix, ...plain("return 1"), middle];
    expect(r.tokens_evaluated).toBe(expected.length);
    expect(r.prompt).toMatch(/^<\|repo_name\|>.*myproject\n<\|file_sep\|>.*a\.py\n.*x = 2<\|file_sep\|>.*filename\n<s><\|fim_prefix\|>.*def f\(\):.*<\|fim_suffix\|>.*return 1<\|fim_middle\|>$/s);
    expect(r.tokens_predicted).toBeGreaterThan(0);
  });

  test("a model without FIM tokens: 501 naming what is missing; a missing field: 400", async () => {
    const r = await call(s, "POST", "/infill", { input_prefix: "a", input_suffix: "b" });
    expect(r.status).toBe(501);
    expect([r.body.error.code, r.body.error.type]).toEqual([501, "not_supported_error"]);
    expect(r.body.error.message).toContain("no fill-in-the-middle tokens");
    const missing = await call(f, "POST", "/infill", { input_prefix: "a" });
    expect(missing.status).toBe(400);
    expect(missing.body.error.message).toMatch(/^input_suffix: /);
  });
});

describe("POST /embedding and /embeddings (llama-server's native shape)", () => {
  test("content or input -> [{index, embedding: [[...]]}], unit length; other normalizations refused", async () => {
    const e = await setup(new FakeEngine());
    e.state.embedder = fakeEmbedder({ dimensions: 8 }).embedder;
    try {
      const one = await call(e, "POST", "/embedding", { content: "hello" });
      expect(one.body.length).toBe(1);
      expect(one.body[0].index).toBe(0);
      expect(one.body[0].embedding[0].length).toBe(8);
      expect(Math.hypot(...one.body[0].embedding[0])).toBeCloseTo(1, 5);
      const two = await call(e, "POST", "/embeddings", { input: ["a", "b"] });
      expect(two.body.map((x: { index: number }) => x.index)).toEqual([0, 1]);
      expect(two.body[0].embedding).not.toEqual(two.body[1].embedding);
      const refused = await call(e, "POST", "/embedding", { content: "x", embd_normalize: -1 });
      expect(refused.status).toBe(400);
      expect(refused.body.error.message).toMatch(/^embd_normalize: /);
      expect((await call(e, "POST", "/embedding", {})).body.error.message).toMatch(/"input" or "content" must be provided/);
    } finally {
      await e.served.close();
    }
  });
});

describe("OpenAI routes: the aliases without /v1, timings, system_fingerprint, grammar", () => {
  test("/chat/completions answers as /v1/chat/completions, with timings and system_fingerprint", async () => {
    const body = { messages: [{ role: "user", content: "Hi" }], max_tokens: 5, temperature: 0 };
    const a = (await call(s, "POST", "/chat/completions", body)).body;
    const b = (await call(s, "POST", "/v1/chat/completions", body)).body;
    expect(a.choices[0].message.content).toBe(b.choices[0].message.content);
    expect(a.system_fingerprint).toMatch(/^warren-/);
    expect(a.timings.predicted_n).toBe(5);
    const streamed = await call(s, "POST", "/chat/completions", { ...body, stream: true });
    const chunks = streamed.text.split("\n").filter((l) => l.startsWith("data: {")).map((l) => JSON.parse(l.slice(6)));
    expect(chunks.every((c) => c.system_fingerprint === a.system_fingerprint)).toBe(true);
    expect(chunks[chunks.length - 1].choices[0].finish_reason).toBe("length");
    expect(chunks[chunks.length - 1].timings.predicted_n).toBe(5);
    // Errors on the alias keep OpenAI's shape.
    expect((await call(s, "POST", "/chat/completions", { messages: [] })).body.error).toMatchObject({ type: "invalid_request_error", param: "messages" });
  });

  test("/responses is an alias too", async () => {
    const r = await call(s, "POST", "/responses", { input: "Hi", max_output_tokens: 4, temperature: 0 });
    expect(r.status).toBe(200);
    expect(r.body.object).toBe("response");
  });

  test("grammar on /v1/completions and /v1/chat/completions: the output follows it", async () => {
    const grammar = 'root ::= ("yes" | "no") (" " ("yes" | "no"))*';
    const c = await call(s, "POST", "/v1/completions", { prompt: "Once upon a time", max_tokens: 12, seed: 3, grammar });
    // max_tokens may cut the last word short.
    const words = /^(yes|no)( (yes|no))*( y?e?s?| n?o?)?$/;
    expect(c.body.choices[0].text).toMatch(words);
    expect(c.body.timings.predicted_n).toBe(c.body.usage.completion_tokens);
    const chat = await call(s, "POST", "/v1/chat/completions", { messages: [{ role: "user", content: "Hi" }], max_tokens: 12, seed: 3, grammar });
    expect(chat.body.choices[0].message.content).toMatch(words);
  });

  test("a bad grammar is a 400 that says where; grammar with response_format is refused", async () => {
    const bad = await call(s, "POST", "/v1/completions", { prompt: "x", grammar: 'root ::= "a"\nitem ::= [a-' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ param: "grammar", message: 'grammar: line 2, column 10: this character class is never closed (missing "]")' });
    const both = await call(s, "POST", "/v1/completions", { prompt: "x", grammar: 'root ::= "a"', response_format: { type: "json_object" } });
    expect(both.status).toBe(400);
    expect(both.body.error.param).toBe("grammar");
  });
});
