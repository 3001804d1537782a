// The OpenAI routes on the real engine and a real model (stories260K, no chat template of its own),
// where the text matters: streaming invariants, grammar-constrained JSON, chat templates, tokenizer.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { LlamaEngine } from "../../src/inference/llama/engine.ts";
import { STORIES_ORACLE, requireStories } from "../helpers/models.ts";
import { jsonPrefixStatus, setup, type Setup } from "./helpers.ts";

let engine: LlamaEngine;
let s: Setup;
beforeAll(async () => {
  engine = await LlamaEngine.load({ modelPath: requireStories(), slots: 2, slotContextSize: 256, threads: 1 });
  s = await setup(engine);
});
afterAll(async () => {
  await s?.served.close();
  await engine?.dispose();
});

const user = (content: string) => [{ role: "user" as const, content }];

async function streamedChat(params: OpenAI.ChatCompletionCreateParamsNonStreaming): Promise<{ text: string; finish: string | null }> {
  let text = "";
  let finish: string | null = null;
  for await (const c of await s.client.chat.completions.create({ ...params, stream: true })) {
    text += c.choices[0]?.delta.content ?? "";
    finish = c.choices[0]?.finish_reason ?? finish;
  }
  return { text, finish };
}

describe("completions and chat on stories260K", () => {
  test("greedy completion matches llama.cpp's server", async () => {
    const r = await s.client.completions.create({ model: "stories", prompt: "Once upon a time", max_tokens: 40, temperature: 0, stop: [" One day,"] });
    expect(r.choices[0]!.text).toBe(STORIES_ORACLE.slice(0, STORIES_ORACLE.indexOf(" One day,")));
    expect(r.choices[0]!.finish_reason).toBe("stop");
  });

  test("streamed deltas concatenate to the non-streamed message (temperature 0, and seeded sampling)", async () => {
    for (const temperature of [0, 0.9]) {
      const params = { model: "stories", messages: user("Tell me a story about a cat."), max_tokens: 60, temperature, seed: 42 };
      const whole = await s.client.chat.completions.create(params);
      const streamed = await streamedChat(params);
      expect(whole.choices[0]!.message.content!.length).toBeGreaterThan(0);
      expect(streamed.text).toBe(whole.choices[0]!.message.content!);
      expect(streamed.finish).toBe(whole.choices[0]!.finish_reason);
      const cParams = { model: "stories", prompt: "Lily and Ben", max_tokens: 60, temperature, seed: 42 };
      const cWhole = await s.client.completions.create(cParams);
      let cText = "";
      for await (const c of await s.client.completions.create({ ...cParams, stream: true })) cText += c.choices[0]?.text ?? "";
      expect(cText).toBe(cWhole.choices[0]!.text);
    }
  });

  test("without a template of its own the model gets the plain User/Assistant transcript", async () => {
    const messages = [
      { role: "system" as const, content: "Be kind." },
      { role: "user" as const, content: "Hi" },
      { role: "assistant" as const, content: "Hello." },
      { role: "user" as const, content: "Who are you?" },
    ];
    const r = await s.client.chat.completions.create({ model: "stories", messages, max_tokens: 20, temperature: 0 });
    const expected = engine.tokenize("System: Be kind.\nUser: Hi\nAssistant: Hello.\nUser: Who are you?\nAssistant:", true);
    expect(r.usage!.prompt_tokens).toBe(expected.length);
    expect(engine.renderChat({ messages: messages.map((m) => ({ role: m.role, text: m.content })) }).tokens).toEqual(expected);
  });
});

describe("response_format on stories260K", () => {
  // The grammar admits only `{ "ok": <bool>, "mood": "happy"|"sad" }` with at most a few spaces,
  // newlines and indents, then the four newlines node-llama-cpp's schema grammars end with (our
  // stop string): under 50 characters, so under 50 tokens. max_tokens 64 cannot cut it short and
  // finish_reason must be "stop", at any temperature.
  const schema = {
    type: "object",
    properties: { ok: { type: "boolean" }, mood: { enum: ["happy", "sad"] } },
    required: ["ok", "mood"],
    additionalProperties: false,
  };

  test("json_schema output parses and fits the schema, streamed or not", async () => {
    for (const temperature of [0, 1.5]) {
      const params = {
        model: "stories",
        messages: user("How do you feel?"),
        max_tokens: 64,
        temperature,
        seed: 3,
        response_format: { type: "json_schema" as const, json_schema: { name: "feeling", schema, strict: true } },
      };
      const r = await s.client.chat.completions.create(params);
      expect(r.choices[0]!.finish_reason).toBe("stop");
      const value = JSON.parse(r.choices[0]!.message.content!);
      expect(Object.keys(value).sort()).toEqual(["mood", "ok"]);
      expect(typeof value.ok).toBe("boolean");
      expect(["happy", "sad"]).toContain(value.mood);
      expect((await streamedChat(params)).text).toBe(r.choices[0]!.message.content!);
    }
  });

  test("json_object: valid JSON when it stops; when max_tokens cuts it, still a JSON prefix", async () => {
    // "Any JSON object" has no length bound, and a 260K-parameter story model happily writes long
    // strings, so finish_reason "length" is possible here (as with OpenAI, which documents it).
    // What the grammar guarantees is that every character fits JSON.
    for (const content of ["Give me JSON.", "Tell me a story."]) {
      const r = await s.client.chat.completions.create({ model: "stories", messages: user(content), max_tokens: 48, temperature: 0, response_format: { type: "json_object" } });
      const text = r.choices[0]!.message.content!;
      expect(text.startsWith("{")).toBe(true);
      if (r.choices[0]!.finish_reason === "stop") expect(() => JSON.parse(text)).not.toThrow();
      else expect(jsonPrefixStatus(text)).toBe("prefix");
    }
    // llama-server's form, json_object with a schema, is bounded like json_schema above.
    const r = await s.client.completions.create({ model: "stories", prompt: "Mood:", max_tokens: 64, temperature: 0, response_format: { type: "json_object", schema } } as never);
    const c = (r as OpenAI.Completion).choices[0]!;
    expect(c.finish_reason).toBe("stop");
    expect(JSON.parse(c.text)).toHaveProperty("mood");
  });

  test("schemas outside node-llama-cpp's subset are a 400 naming the keyword", async () => {
    const cases: Array<[object, string]> = [
      [{ type: "object", properties: { name: { type: "string", pattern: "^[a-z]+$" } } }, "pattern"],
      [{ type: "integer", minimum: 3 }, "minimum"],
      [{ allOf: [{ type: "string" }] }, "allOf"],
      [{ type: "string", format: "email" }, "format"],
      [{ $ref: "#/definitions/x", definitions: { x: { type: "string" } } }, "definitions"],
    ];
    for (const [bad, keyword] of cases) {
      const e = await s.client.chat.completions
        .create({ model: "stories", messages: user("x"), response_format: { type: "json_schema", json_schema: { name: "x", schema: bad as never } } })
        .catch((err) => err);
      expect(e).toBeInstanceOf(OpenAI.BadRequestError);
      expect(e.message).toContain(`"${keyword}"`);
    }
  });
});

describe("tokenizer routes on stories260K", () => {
  const post = async (path: string, body: unknown) =>
    (await (await s.served.fetch(`${s.served.url}${path}`, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } })).json()) as any;

  test("/tokenize and /detokenize round trip, pieces keep their spaces", async () => {
    const text = "Once upon a time, Lily saw a big dog.";
    const { tokens } = await post("/tokenize", { content: text });
    expect(tokens).toEqual(engine.tokenize(text, false));
    expect((await post("/detokenize", { tokens })).content).toBe(text);
    const pieces = (await post("/tokenize", { content: "Once upon a time", with_pieces: true })).tokens;
    expect(pieces.map((p: { piece: string }) => p.piece).join("")).toBe("Once upon a time");
    expect((await post("/tokenize", { content: "hi", add_special: true })).tokens[0]).toBe(engine.info.bosToken);
    expect((await post("/detokenize", { tokens: [512] })).error).toEqual({ code: 400, type: "invalid_request_error", message: "tokens[0]: 512 is not a token id of this model (0 to 511)" });
  });
});

describe("chat templates from GGUF metadata", () => {
  test("a Jinja template is used when the model has one (ChatML here), with its stop trigger", async () => {
    const chatml =
      "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
      "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    const templated = await LlamaEngine.load({ modelPath: requireStories(), slots: 1, slotContextSize: 256, threads: 1, chatTemplate: chatml });
    try {
      const p = templated.renderChat({
        messages: [
          { role: "system", text: "Be kind." },
          { role: "user", text: "hi" },
        ],
      });
      expect(p.template).toBe("ChatML");
      expect(p.tokens[0]).toBe(templated.info.bosToken!);
      const text = templated.detokenize(p.tokens);
      expect(text).toContain("<|im_start|>user\nhi");
      expect(text.trimEnd().endsWith("<|im_start|>assistant")).toBe(true);
      expect(p.stop).toContain("<|im_end|>");
      const t = await setup(templated);
      const models = await t.client.models.list();
      expect((models.data[0] as unknown as { meta: { chat_template: string } }).meta.chat_template).toBe("ChatML");
      const r = await t.client.chat.completions.create({ model: "x", messages: user("hi"), max_tokens: 30, temperature: 0 });
      expect(r.choices[0]!.message.content).not.toContain("<|im_end|>");
      await t.served.close();
    } finally {
      await templated.dispose();
    }
  });
});
