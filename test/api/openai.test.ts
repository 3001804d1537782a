// The OpenAI-compatible routes driven by the official `openai` SDK, over the deterministic fake engine.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { FakeEngine } from "../../src/inference/engine-fake.ts";
import { apiError, setup, type Setup, waitFor } from "./helpers.ts";
import { FailingEngine } from "../helpers/inference.ts";

let s: Setup;
beforeAll(async () => {
  s = await setup(new FakeEngine({ slots: 2, slotContextSize: 512 }));
});
afterAll(() => s.served.close());

async function rawJson(path: string, init?: RequestInit): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await s.served.fetch(`${s.served.url}${path}`, init);
  return { status: res.status, body: await res.json(), headers: res.headers };
}

describe("models", () => {
  test("lists the loaded model with its context size", async () => {
    const page = await s.client.models.list();
    expect(page.data).toHaveLength(1);
    const m = page.data[0]! as OpenAI.Model & { max_model_len: number; meta: { n_ctx: number; chat_template: string } };
    expect(m).toMatchObject({ id: "fake", object: "model", owned_by: "warren", max_model_len: 512 });
    expect(m.meta).toMatchObject({ n_ctx: 512, chat_template: "plain" });
    expect((await s.client.models.retrieve("fake")).id).toBe("fake");
    const e = await apiError(s.client.models.retrieve("gpt-4"));
    expect(e.status).toBe(404);
    expect(e.message).toContain("gpt-4");
  });
});

describe("completions", () => {
  const base = { model: "fake", prompt: "hello", max_tokens: 8, temperature: 0 };

  test("non-streamed: text, finish_reason, usage", async () => {
    const r = await s.client.completions.create(base);
    expect(r.object).toBe("text_completion");
    expect(r.id).toStartWith("cmpl-");
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0]!.text).toHaveLength(8);
    expect(r.choices[0]!.finish_reason).toBe("length");
    // BOS + 5 bytes of "hello".
    expect(r.usage).toMatchObject({ prompt_tokens: 6, completion_tokens: 8, total_tokens: 14 });
  });

  test("streamed chunks concatenate to the whole text; include_usage adds a final usage chunk", async () => {
    const whole = await s.client.completions.create(base);
    const chunks: OpenAI.Completion[] = [];
    for await (const c of await s.client.completions.create({ ...base, stream: true, stream_options: { include_usage: true } })) chunks.push(c);
    const last = chunks[chunks.length - 1]!;
    expect(last.choices).toHaveLength(0);
    expect(last.usage).toMatchObject({ prompt_tokens: 6, completion_tokens: 8, total_tokens: 14 });
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    expect(chunks.map((c) => c.choices[0]?.text ?? "").join("")).toBe(whole.choices[0]!.text);
    expect(chunks[chunks.length - 2]!.choices[0]!.finish_reason).toBe("length");
  });

  test("without include_usage no chunk carries usage", async () => {
    const chunks: OpenAI.Completion[] = [];
    for await (const c of await s.client.completions.create({ ...base, stream: true })) chunks.push(c);
    expect(chunks.every((c) => c.usage === undefined)).toBe(true);
    expect(chunks.every((c) => c.choices.length === 1)).toBe(true);
  });

  test("stop (string and list) cuts before the stop string, finish_reason stop", async () => {
    const full = (await s.client.completions.create({ ...base, max_tokens: 40 })).choices[0]!.text;
    const stop = full.slice(10, 12);
    const expected = full.slice(0, full.indexOf(stop));
    for (const st of [stop, ["zzzz", stop]]) {
      const r = await s.client.completions.create({ ...base, max_tokens: 40, stop: st });
      expect(r.choices[0]!.text).toBe(expected);
      expect(r.choices[0]!.finish_reason).toBe("stop");
    }
  });

  test("prompt as token ids; several prompts and unknown ids are refused", async () => {
    const ids = [1, 3 + 104, 3 + 105];
    const r = await s.client.completions.create({ ...base, prompt: ids });
    expect(r.usage?.prompt_tokens).toBe(3);
    const many = await apiError(s.client.completions.create({ ...base, prompt: ["a", "b"] }));
    expect(many.status).toBe(400);
    expect(many.message).toContain("one prompt");
    const badId = await apiError(s.client.completions.create({ ...base, prompt: [1, 99999] }));
    expect(badId.status).toBe(400);
    expect(badId.message).toContain("99999");
  });

  test("llama-server extras are accepted", async () => {
    const r = await s.client.completions.create({ ...base, top_k: 5, min_p: 0.1, repeat_penalty: 1.1, ignore_eos: true } as never);
    expect((r as OpenAI.Completion).choices[0]!.text).toHaveLength(8);
  });
});

describe("chat completions", () => {
  const base = { model: "fake", messages: [{ role: "user" as const, content: "hi" }], max_tokens: 12, temperature: 0, seed: 7 };

  test("non-streamed answer in OpenAI's shape, rendered with the plain fallback template", async () => {
    const r = await s.client.chat.completions.create(base);
    expect(r.object).toBe("chat.completion");
    expect(r.id).toStartWith("chatcmpl-");
    expect(r.choices[0]!.message.role).toBe("assistant");
    expect(r.choices[0]!.message.content).toHaveLength(12);
    // BOS + "User: hi\nAssistant:" (19 bytes).
    expect(r.usage).toMatchObject({ prompt_tokens: 20, completion_tokens: 12, total_tokens: 32 });
  });

  test("streamed deltas: role first, then content that concatenates to the message; usage at the end", async () => {
    const whole = await s.client.chat.completions.create(base);
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const c of await s.client.chat.completions.create({ ...base, stream: true, stream_options: { include_usage: true } })) chunks.push(c);
    expect(chunks[0]!.choices[0]!.delta.role).toBe("assistant");
    expect(chunks.every((c) => c.object === "chat.completion.chunk" && c.id === chunks[0]!.id)).toBe(true);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
    expect(text).toBe(whole.choices[0]!.message.content!);
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe("length");
    expect(chunks.at(-1)!.usage).toEqual(whole.usage!);
  });

  test("max_completion_tokens, developer role, text content parts", async () => {
    const r = await s.client.chat.completions.create({
      model: "fake",
      messages: [
        { role: "developer", content: "be brief" },
        { role: "user", content: [{ type: "text", text: "hi" }] },
      ],
      max_completion_tokens: 3,
      temperature: 0,
    });
    expect(r.usage?.completion_tokens).toBe(3);
  });

  test("the template's own stop strings end the reply", async () => {
    const full = (await s.client.chat.completions.create({ ...base, max_tokens: 40 })).choices[0]!.message.content!;
    const marker = full.slice(8, 11);
    class Templated extends FakeEngine {
      override renderChat(input: Parameters<FakeEngine["renderChat"]>[0]) {
        const p = super.renderChat(input);
        return { ...p, stop: [...p.stop, marker] };
      }
    }
    const t = await setup(new Templated({ slots: 2, slotContextSize: 512 }));
    const r = await t.client.chat.completions.create({ ...base, max_tokens: 40 });
    expect(r.choices[0]!.message.content).toBe(full.slice(0, full.indexOf(marker)));
    expect(r.choices[0]!.finish_reason).toBe("stop");
    await t.served.close();
  });

  test("image parts and tool messages are refused by name", async () => {
    const img = await apiError(
      s.client.chat.completions.create({ model: "fake", messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "http://x/y.png" } }] }] }),
    );
    expect(img.status).toBe(400);
    expect(img.message).toContain("image_url");
    const tool = await apiError(s.client.chat.completions.create({ model: "fake", messages: [{ role: "tool", content: "x", tool_call_id: "1" }] }));
    expect(tool.status).toBe(400);
    expect(tool.message).toContain("tool");
  });
});

describe("errors", () => {
  test("n beyond the slot count is a 400 naming n (2 slots here)", async () => {
    const e = await apiError(s.client.chat.completions.create({ model: "fake", messages: [{ role: "user", content: "hi" }], n: 3 }));
    expect(e.status).toBe(400);
    expect(e.message).toContain("3 choices need 3 parallel slots");
    expect(e.param).toBe("n");
    expect(e.type).toBe("invalid_request_error");
    const c = await apiError(s.client.completions.create({ model: "fake", prompt: "hi", n: 3 }));
    expect(c.status).toBe(400);
    expect(c.param).toBe("n");
    expect(s.scheduler.stats().busySlots).toBe(0);
  });

  test("unsupported options are refused by name, not ignored", async () => {
    for (const [extra, name] of [
      [{ tools: [{ type: "function", function: { name: "f" } }] }, "tools"],
      [{ logit_bias: { "5": 10 } }, "logit_bias"],
    ] as const) {
      const e = await apiError(s.client.chat.completions.create({ model: "fake", messages: [{ role: "user", content: "hi" }], ...extra } as never));
      expect(e.status).toBe(400);
      expect(e.message).toContain(name);
    }
  });

  test("echo, best_of and suffix on completions stay refused by name", async () => {
    for (const [extra, name] of [
      [{ echo: true }, "echo"],
      [{ best_of: 2 }, "best_of"],
      [{ suffix: "end" }, "suffix"],
    ] as const) {
      const e = await apiError(s.client.completions.create({ model: "fake", prompt: "hi", ...extra }));
      expect(e.status).toBe(400);
      expect(e.param).toBe(name);
    }
  });

  test("validation failures are 400 naming the field", async () => {
    const e = await apiError(s.client.completions.create({ model: "fake", prompt: "x", temperature: 3 }));
    expect(e.status).toBe(400);
    expect(e.message).toContain("temperature");
    expect(e.param).toBe("temperature");
  });

  test("nulls for optional fields are accepted (LangChain sends them)", async () => {
    const r = await s.client.chat.completions.create({ model: "fake", messages: [{ role: "user", content: "hi" }], max_tokens: 2, stop: null, temperature: null, n: null, seed: null });
    expect(r.choices[0]!.finish_reason).toBe("length");
  });

  test("unknown /v1 route: 404 in OpenAI's shape", async () => {
    const r = await rawJson("/v1/engines", { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ error: { message: expect.any(String), type: "not_found_error", param: null, code: "not_found" } });
  });

  test("invalid JSON: 400 in OpenAI's shape", async () => {
    const r = await rawJson("/v1/chat/completions", { method: "POST", body: "{nope", headers: { "content-type": "application/json" } });
    expect(r.status).toBe(400);
    expect(r.body.error.type).toBe("invalid_request_error");
  });

  test("prompt + max_tokens beyond the slot's context: 400", async () => {
    const e = await apiError(s.client.completions.create({ model: "fake", prompt: "x".repeat(500), max_tokens: 100 }));
    expect(e.status).toBe(400);
    expect(e.message).toContain("context");
  });

  test("an unsupported schema keyword is a 400 naming it (fake engine refuses `not`)", async () => {
    const e = await apiError(
      s.client.chat.completions.create({
        model: "fake",
        messages: [{ role: "user", content: "hi" }],
        response_format: { type: "json_schema", json_schema: { name: "x", schema: { not: { type: "string" } } } },
      }),
    );
    expect(e.status).toBe(400);
    expect(e.message).toContain('"not"');
    expect(e.param).toBe("response_format");
  });

  test("while the model loads: 503 in OpenAI's shape", async () => {
    s.state.phase = "loading";
    try {
      const e = await apiError(s.client.models.list());
      expect(e.status).toBe(503);
    } finally {
      s.state.phase = "ready";
    }
  });
});

describe("tokenize / detokenize", () => {
  const post = (path: string, body: unknown) => rawJson(path, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });

  test("round trip, add_special, with_pieces", async () => {
    const t = await post("/tokenize", { content: "héllo" });
    expect(t.status).toBe(200);
    expect(t.body.tokens).toHaveLength(6);
    expect((await post("/tokenize", { content: "héllo", add_special: true })).body.tokens[0]).toBe(1);
    const d = await post("/detokenize", { tokens: t.body.tokens });
    expect(d.body).toEqual({ content: "héllo" });
    const p = await post("/tokenize", { content: "ab", with_pieces: true });
    expect(p.body.tokens).toEqual([
      { id: 3 + 97, piece: "a" },
      { id: 3 + 98, piece: "b" },
    ]);
  });

  test("ids outside the vocabulary: 400 in llama-server's error shape, naming the id", async () => {
    for (const [bad, at] of [[[-1], 0], [[259], 0], [[5, 100000], 1]] as const) {
      const r = await post("/detokenize", { tokens: bad });
      expect(r.status).toBe(400);
      expect(r.body.error).toEqual({ code: 400, type: "invalid_request_error", message: `tokens[${at}]: ${bad[at]} is not a token id of this model (0 to 258)` });
    }
  });
});

describe("streams and slots", () => {
  test("aborting a stream mid-way frees its slot", async () => {
    const ac = new AbortController();
    const cancelled = s.scheduler.stats().requests.cancelled;
    const stream = await s.client.chat.completions.create(
      { model: "fake", messages: [{ role: "user", content: "go on" }], max_tokens: 400, temperature: 0, stream: true },
      { signal: ac.signal },
    );
    let n = 0;
    // The SDK ends an aborted stream quietly or with an abort error, depending on where the abort lands.
    await (async () => {
      for await (const c of stream) if (c.choices[0]?.delta.content && ++n === 3) ac.abort();
    })().catch((err) => expect(String(err)).toMatch(/abort/i));
    expect(n).toBe(3);
    await waitFor(() => s.scheduler.stats().busySlots === 0, "the slot to be freed");
    expect(s.scheduler.stats().requests.cancelled).toBe(cancelled + 1);
  });

  test("queue full: 503 with Retry-After", async () => {
    const q = await setup(new FakeEngine({ slots: 1, decodeDelayMs: 2 }), { maxQueue: 0 });
    const ac = new AbortController();
    const holder = await q.client.completions.create({ model: "fake", prompt: "a", max_tokens: 400, stream: true }, { signal: ac.signal });
    const it = holder[Symbol.asyncIterator]();
    await it.next();
    await waitFor(() => q.scheduler.stats().busySlots === 1, "the first request to hold the slot");
    const e = await apiError(q.client.completions.create({ model: "fake", prompt: "b", max_tokens: 2 }));
    expect(e.status).toBe(503);
    expect(e.headers?.get("retry-after")).toBe("1");
    ac.abort();
    await it.next().catch(() => {});
    await waitFor(() => q.scheduler.stats().busySlots === 0, "the slot to be freed");
    await q.served.close();
  });

  test("a stream waiting in the queue gets keep-alive comments, which the SDK skips", async () => {
    const q = await setup(new FakeEngine({ slots: 1, decodeDelayMs: 15 }), { sseKeepAliveMs: 5 });
    const body = { model: "fake", messages: [{ role: "user" as const, content: "a" }], max_tokens: 8, stream: true as const };
    const holder = q.client.chat.completions.create(body).then(async (st) => {
      for await (const _ of st);
    });
    await waitFor(() => q.scheduler.stats().busySlots === 1, "the first request to hold the slot");
    const raw = q.served.fetch(`${q.served.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
    let sdkText = "";
    for await (const c of await q.client.chat.completions.create(body)) sdkText += c.choices[0]?.delta.content ?? "";
    const text = await (await raw).text();
    expect(text).toContain(": keep-alive\n\n");
    expect(text.endsWith("data: [DONE]\n\n")).toBe(true);
    expect(sdkText).toHaveLength(8);
    await holder;
    await q.served.close();
  });

  test("a generation failure mid-stream reaches the SDK as an APIError", async () => {
    const f = await setup(new FailingEngine({ slots: 1 }));
    const stream = await f.client.completions.create({ model: "fake", prompt: "a", max_tokens: 50, stream: true });
    const e = await apiError(
      (async () => {
        for await (const _ of stream);
      })(),
    );
    expect(e.message).toContain("device lost");
    await f.served.close();
  });
});
