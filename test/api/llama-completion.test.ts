// POST /completion (and /completions) in llama-server's shapes over a real socket on stories260K:
// the result and stream fields, prompts as text, ids, mixed and several, n_cmpl, n_probs,
// return_tokens, n_predict 0 and -1, id_slot, cache_prompt, n_indent, response_fields, and refusals
// and bad input in llama-server's error shape.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { LlamaEngine } from "../../src/inference/llama/engine.ts";
import { STORIES_ORACLE, requireStories } from "../helpers/models.ts";
import { setup, type Setup } from "./helpers.ts";

let engine: LlamaEngine;
let s: Setup;
beforeAll(async () => {
  engine = await LlamaEngine.load({ modelPath: requireStories(), slots: 2, slotContextSize: 256, threads: 1 });
  s = await setup(engine, { maxQueue: 16 });
});
afterAll(async () => {
  await s?.served.close();
  await engine?.dispose();
});

async function post(path: string, body: unknown): Promise<{ status: number; body: any; text: string }> {
  const r = await fetch(s.served.url + path, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
  const text = await r.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: r.status, body: parsed, text };
}

const events = (text: string) => text.split("\n").filter((l) => l.startsWith("data: ")).map((l) => JSON.parse(l.slice(6)));
const GREEDY = { prompt: "Once upon a time", temperature: 0 };

describe("POST /completion: the result", () => {
  test("greedy: llama.cpp's text, with every field llama-server's result has", async () => {
    const { status, body } = await post("/completion", { ...GREEDY, n_predict: 30 });
    expect(status).toBe(200);
    expect(body.content).toBe(STORIES_ORACLE);
    for (const key of ["index", "content", "tokens", "id_slot", "stop", "model", "tokens_predicted", "tokens_evaluated", "generation_settings", "prompt", "has_new_line", "truncated", "stop_type", "stopping_word", "tokens_cached", "timings"]) {
      expect(body).toHaveProperty(key);
    }
    expect(body).toMatchObject({ index: 0, tokens: [], stop: true, model: engine.info.name, tokens_predicted: 30, tokens_evaluated: 5, prompt: "<s> Once upon a time", truncated: false, stop_type: "limit", stopping_word: "", tokens_cached: 34 });
    expect(body.generation_settings).toMatchObject({ temperature: 0, top_k: 40, top_p: 0.95, min_p: 0.05, n_predict: 30, seed: 4294967295, samplers: ["penalties", "dry", "top_n_sigma", "top_k", "typ_p", "top_p", "min_p", "xtc", "temperature"] });
    expect(body.timings.predicted_n).toBe(30);
    expect(body.timings.prompt_n + body.timings.cache_n).toBe(5);
    expect(body.timings.predicted_ms).toBeGreaterThan(0);
    expect(body.completion_probabilities).toBeUndefined();
  });

  test("stop words: stop_type word and the word, not in the content; end-of-generation: eos", async () => {
    const { body } = await post("/completion", { ...GREEDY, n_predict: 30, stop: [" Lily"] });
    expect(body).toMatchObject({ content: ", there was a little girl named", stop_type: "word", stopping_word: " Lily" });
    // stories260K hardly ever ends a story within a slot: a logit bias makes </s> (id 2) certain.
    const eos = await post("/completion", { prompt: "The end.", n_predict: 20, logit_bias: [[2, 100]], return_tokens: true });
    expect(eos.body).toMatchObject({ content: "", stop_type: "eos", tokens_predicted: 1, tokens: [2] });
  });

  test("return_tokens: the ids of every generated token, which detokenize to the content", async () => {
    const { body } = await post("/completion", { ...GREEDY, n_predict: 12, return_tokens: true });
    expect(body.tokens.length).toBe(12);
    expect(engine.detokenize(body.tokens)).toBe(body.content);
  });

  test("a prompt of ids, or of ids and text, is the same prompt as its text", async () => {
    const ids = engine.tokenize("Once upon a time", true);
    const a = await post("/completion", { prompt: ids, temperature: 0, n_predict: 8 });
    const b = await post("/completion", { prompt: [ids[0], ids[1], "upon a time"], temperature: 0, n_predict: 8 });
    expect(a.body.content).toBe(STORIES_ORACLE.slice(0, a.body.content.length));
    expect(b.body.content).toBe(a.body.content);
    expect(a.body.tokens_evaluated).toBe(5);
  });

  test("several prompts, and n_cmpl: an array of results in order, each with its index", async () => {
    const { body } = await post("/completion", { prompt: ["Once upon a time", "The dog"], temperature: 0, n_predict: 6, n_cmpl: 2 });
    expect(body.map((r: { index: number }) => r.index)).toEqual([0, 1, 2, 3]);
    expect(body[0].content).toBe(body[1].content);
    expect(body[2].content).toBe(body[3].content);
    expect(body[0].content).not.toBe(body[2].content);
  });

  test("n_probs: the model's own distribution, top n per token, ln p of the sampled token among them", async () => {
    const { body } = await post("/completion", { ...GREEDY, n_predict: 4, n_probs: 3 });
    expect(body.completion_probabilities.length).toBe(4);
    for (const p of body.completion_probabilities) {
      expect(Object.keys(p).sort()).toEqual(["bytes", "id", "logprob", "token", "top_logprobs"]);
      expect(p.top_logprobs.length).toBe(3);
      // Greedy: the sampled token is the most probable one.
      expect(p.top_logprobs[0].id).toBe(p.id);
      expect(p.top_logprobs[0].logprob).toBeCloseTo(p.logprob, 6);
      expect(new TextDecoder().decode(Uint8Array.from(p.bytes))).toBe(p.token);
    }
    const post2 = await post("/completion", { ...GREEDY, temperature: 0.8, seed: 1, n_predict: 2, n_probs: 2, post_sampling_probs: true });
    for (const p of post2.body.completion_probabilities) {
      expect(p.prob).toBeGreaterThan(0);
      expect(p.prob).toBeLessThanOrEqual(1);
      expect(p.top_probs.length).toBeLessThanOrEqual(2);
    }
  });

  test("n_predict 0 evaluates the prompt only; -1 generates until the slot's context is full (truncated)", async () => {
    const zero = await post("/completion", { prompt: "Once upon a time, in a land", n_predict: 0 });
    expect(zero.body).toMatchObject({ content: "", tokens_predicted: 0, stop_type: "limit", truncated: false });
    const all = await post("/completion", { prompt: "Once upon a time", n_predict: -1, ignore_eos: true, temperature: 0 });
    expect(all.body).toMatchObject({ tokens_predicted: 256 - 5, truncated: true, stop_type: "limit" });
  });

  test("id_slot runs in that slot; cache_prompt false evaluates the whole prompt", async () => {
    const prompt = "Lily went to the park with her mom.";
    const first = await post("/completion", { prompt, n_predict: 2, id_slot: 1 });
    expect(first.body.id_slot).toBe(1);
    const again = await post("/completion", { prompt, n_predict: 2, id_slot: 1 });
    expect(again.body.timings.cache_n).toBeGreaterThan(0);
    const fresh = await post("/completion", { prompt, n_predict: 2, id_slot: 1, cache_prompt: false });
    expect(fresh.body.timings.cache_n).toBe(0);
    expect(fresh.body.timings.prompt_n).toBe(fresh.body.tokens_evaluated);
  });

  test("n_indent: generation ends before the first line that is indented less", async () => {
    const plain = await post("/completion", { prompt: "Once upon a time", temperature: 0, n_predict: 120 });
    const nl = plain.body.content.indexOf("\n");
    expect(nl).toBeGreaterThan(0);
    const cut = await post("/completion", { prompt: "Once upon a time", temperature: 0, n_predict: 120, n_indent: 4 });
    expect(cut.body.content).toBe(plain.body.content.slice(0, nl + 1));
    expect(cut.body.stop_type).toBe("limit");
  });

  test("response_fields: only those, a nested one under its path", async () => {
    const { body } = await post("/completion", { ...GREEDY, n_predict: 3, response_fields: ["content", "generation_settings/n_predict", "nope"] });
    expect(body).toEqual({ content: ", there was", "generation_settings/n_predict": 3 });
  });

  test("/completions is the same route", async () => {
    const a = await post("/completions", { ...GREEDY, n_predict: 8 });
    expect(a.body.content).toBe(STORIES_ORACLE.slice(0, a.body.content.length));
    expect(a.body.stop_type).toBe("limit");
  });
});

describe("POST /completion: the stream", () => {
  test("a chunk per token with its text and id, then the result with stop: true; the text adds up", async () => {
    const r = await post("/completion", { ...GREEDY, n_predict: 10, stream: true, n_probs: 1 });
    const ev = events(r.text);
    const chunks = ev.filter((e) => !e.stop);
    const last = ev[ev.length - 1];
    expect(chunks.length).toBe(10);
    for (const c of chunks) {
      expect(Object.keys(c).sort()).toEqual(["completion_probabilities", "content", "id_slot", "index", "stop", "tokens", "tokens_evaluated", "tokens_predicted"]);
      expect(c.tokens.length).toBe(1);
    }
    expect(chunks.map((c) => c.content).join("")).toBe(STORIES_ORACLE.slice(0, chunks.map((c) => c.content).join("").length));
    expect(last).toMatchObject({ stop: true, content: "", tokens: [], stop_type: "limit", tokens_predicted: 10 });
    expect(last.completion_probabilities).toBeUndefined();
    expect(r.text).not.toContain("[DONE]");
  });

  test("return_progress: one prompt_progress chunk before the text; timings_per_token: generation timings on each chunk", async () => {
    const r = await post("/completion", { ...GREEDY, n_predict: 5, stream: true, return_progress: true, timings_per_token: true, cache_prompt: false });
    const ev = events(r.text);
    expect(ev[0].prompt_progress).toMatchObject({ total: 5, cache: 0, processed: 5 });
    expect(ev[0].content).toBe("");
    const chunks = ev.slice(1, -1);
    expect(chunks.length).toBe(5);
    chunks.forEach((c, i) => expect(c.timings.predicted_n).toBe(i + 1));
  });

  test("t_max_predict_ms: past the time, generation ends at the next newline", async () => {
    const plain = await post("/completion", { ...GREEDY, n_predict: 120 });
    const nl = plain.body.content.indexOf("\n");
    expect(nl).toBeGreaterThan(0);
    // 1 ms is long past by the first newline (dozens of tokens in).
    const r = await post("/completion", { ...GREEDY, n_predict: 120, t_max_predict_ms: 1 });
    expect(r.body.content).toBe(plain.body.content.slice(0, nl + 1));
    expect(r.body.stop_type).toBe("limit");
  });
});

describe("refusals and bad input, in llama-server's error shape", () => {
  const CASES: Array<[string, unknown, number, RegExp]> = [
    ["no prompt", { n_predict: 3 }, 400, /^prompt: /],
    ["a wrong type", { prompt: "x", n_predict: [3] }, 400, /^n_predict: must be an integer/],
    ["not JSON", "{nope", 400, /not valid JSON/],
    ["Mirostat", { prompt: "x", mirostat: 2 }, 400, /^mirostat: Mirostat sampling is not available/],
    ["typical-p", { prompt: "x", typical_p: 0.5 }, 400, /^typical_p: /],
    ["DRY", { prompt: "x", dry_multiplier: 0.8 }, 400, /^dry_multiplier: DRY is not available: .*cannot be shown the prompt/],
    ["dynamic temperature", { prompt: "x", dynatemp_range: 0.5 }, 400, /^dynatemp_range: /],
    ["the infill sampler", { prompt: "x", samplers: ["top_k", "top_p", "infill"] }, 400, /^samplers: the "infill" sampler is not available/],
    ["samplers out of Warren's order", { prompt: "x", samplers: ["temperature", "top_k"] }, 400, /^samplers: .* "top_k" is listed after "temperature"/],
    ["a LoRA", { prompt: "x", lora: [{ id: 0, scale: 1 }] }, 400, /^lora: /],
    ["an invalid grammar", { prompt: "x", grammar: 'root ::= "a" | b' }, 400, /^grammar: line 1, column 16: the rule "b" is used but never defined$/],
    ["an unknown slot", { prompt: "x", id_slot: 5 }, 400, /^id_slot: must be -1 \(any\) or a slot from 0 to 1, got 5$/],
    ["a prompt longer than a slot", { prompt: "Once upon a time ".repeat(80) }, 400, /exceeds the available context size \(256 tokens per slot\)/],
    ["ids outside the vocabulary", { prompt: [1, 99999] }, 400, /^prompt\[1\]: 99999 is not a token id/],
    ["multimodal data", { prompt: { prompt_string: "x", multimodal_data: ["AAAA"] } }, 400, /multimodal prompts are not supported/],
  ];
  for (const [name, body, status, message] of CASES) {
    test(name, async () => {
      const r = await post("/completion", body);
      expect(r.status).toBe(status);
      expect(Object.keys(r.body.error).sort()).toEqual(["code", "message", "type"]);
      expect(r.body.error.code).toBe(status);
      expect(r.body.error.message).toMatch(message);
      expect(r.body.error.type).toBe(message.source.includes("context size") ? "exceed_context_size_error" : "invalid_request_error");
    });
  }

  test("neutral values of unsupported samplers, and samplers left out, are accepted; clamped values as llama-server clamps", async () => {
    const r = await post("/completion", { ...GREEDY, n_predict: 4, mirostat: 0, typical_p: 1, dry_multiplier: 0, top_n_sigma: -1, samplers: "kpmt", temperature: -1, top_p: 7 });
    expect(r.status).toBe(200);
    expect(r.body.generation_settings).toMatchObject({ temperature: 0, top_p: 1 });
    expect(r.body.content).toBe(", there was a");
  });
});
