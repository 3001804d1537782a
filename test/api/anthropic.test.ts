// The Anthropic Messages API driven by the official `@anthropic-ai/sdk`, over real sockets and the
// deterministic fake engine (plain text, or a scripted reply in a Qwen-style tool/thought syntax).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import { FakeEngine } from "../../src/inference/engine-fake.ts";
import { setup, type Setup } from "./helpers.ts";
import { anthropic, apiError, parseSse, rawMessages, scripted } from "./anthropic-helpers.ts";

let s: Setup;
let client: Anthropic;
beforeAll(async () => {
  s = await setup(new FakeEngine({ slots: 2, slotContextSize: 512 }));
  client = anthropic(s.served);
});
afterAll(() => s.served.close());

const user = (content: string) => [{ role: "user" as const, content }];
const base = { model: "claude-test", max_tokens: 12, temperature: 0, messages: user("hi") };
/** BOS + "User: hi\nAssistant:" (19 bytes) in the fake engine's byte tokens. */
const BASE_PROMPT_TOKENS = 20;

const weatherTool = { name: "get_weather", description: "Weather now", input_schema: { type: "object" as const, properties: { city: { type: "string" } }, required: ["city"] } };

describe("text replies", () => {
  test("non-streamed: Anthropic's Message shape, stop_reason max_tokens, usage", async () => {
    const m = await client.messages.create(base);
    expect(m.id).toMatch(/^msg_[0-9a-f]{24}$/);
    expect(m).toMatchObject({ type: "message", role: "assistant", model: "claude-test", stop_reason: "max_tokens", stop_sequence: null });
    expect(m.content).toHaveLength(1);
    expect(m.content[0]!.type).toBe("text");
    expect((m.content[0] as Anthropic.TextBlock).text).toHaveLength(12);
    expect(m.usage.output_tokens).toBe(12);
    expect(m.usage.input_tokens + (m.usage.cache_read_input_tokens ?? 0)).toBe(BASE_PROMPT_TOKENS);
    expect(m.usage.cache_creation_input_tokens).toBe(0);
  });

  test("messages.stream(): text events and finalMessage equal the non-streamed message at temperature 0", async () => {
    const params = { ...base, max_tokens: 40 };
    const whole = await client.messages.create(params);
    const stream = client.messages.stream(params);
    let text = "";
    stream.on("text", (delta) => (text += delta));
    const final = await stream.finalMessage();
    expect(final.content as unknown).toEqual(whole.content);
    expect(text).toBe((whole.content[0] as Anthropic.TextBlock).text);
    expect(final.stop_reason).toBe(whole.stop_reason);
    expect(final.usage.output_tokens).toBe(whole.usage.output_tokens);
    expect(final.usage.input_tokens + (final.usage.cache_read_input_tokens ?? 0)).toBe(BASE_PROMPT_TOKENS);
  });

  test("raw stream: the documented event sequence, with ping, each event named by its type", async () => {
    const res = await rawMessages(s.served, { ...base, stream: true }, { "anthropic-version": "2023-06-01" });
    expect(res.headers.get("content-type")).toStartWith("text/event-stream");
    const events = parseSse(await res.text());
    for (const e of events) expect(e.data.type).toBe(e.event);
    const names = events.map((e) => e.event).join(",");
    expect(names).toMatch(/^message_start,ping,content_block_start,(content_block_delta,)+content_block_stop,message_delta,message_stop$/);
    const start = events[0]!.data.message;
    expect(start).toMatchObject({ type: "message", role: "assistant", content: [], stop_reason: null, stop_sequence: null });
    expect(start.usage.output_tokens).toBe(0);
    expect(events[2]!.data).toEqual({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } });
    const deltas = events.filter((e) => e.event === "content_block_delta");
    expect(deltas.every((e) => e.data.index === 0 && e.data.delta.type === "text_delta")).toBe(true);
    expect(deltas.map((e) => e.data.delta.text).join("")).toHaveLength(12);
    expect(events.at(-2)!.data).toEqual({ type: "message_delta", delta: { stop_reason: "max_tokens", stop_sequence: null }, usage: { output_tokens: 12 } });
  });

  test("system as a string, as text blocks, and as a system message reach the template", async () => {
    const r = await scripted("ok");
    await r.client.messages.create({ ...base, system: "Be brief." });
    expect(r.engine.lastRender!.messages[0]).toEqual({ role: "system", text: "Be brief." });
    await r.client.messages.create({ ...base, system: [{ type: "text", text: "One." }, { type: "text", text: "Two.", cache_control: { type: "ephemeral" } }] });
    expect(r.engine.lastRender!.messages[0]).toEqual({ role: "system", text: "One.\nTwo." });
    await r.client.messages.create({ ...base, messages: [{ role: "system", content: "Late." }, ...user("hi")] });
    expect(r.engine.lastRender!.messages[0]).toEqual({ role: "system", text: "Late." });
    await r.s.served.close();
  });

  test("content as text blocks; metadata and service_tier are accepted", async () => {
    const r = await scripted("Fine.");
    const m = await r.client.messages.create({
      ...base,
      messages: [{ role: "user", content: [{ type: "text", text: "a" }, { type: "text", text: "b" }] }],
      metadata: { user_id: "u-1" },
      service_tier: "auto",
    });
    expect(r.engine.lastRender!.messages).toEqual([{ role: "user", text: "a\nb" }]);
    expect(m.content as unknown).toEqual([{ type: "text", text: "Fine." }]);
    expect(m.stop_reason).toBe("end_turn");
    await r.s.served.close();
  });
});

describe("stop reasons", () => {
  test("stop_sequences: the one that matched is reported, streamed or not", async () => {
    const full = (await client.messages.create({ ...base, max_tokens: 40 })).content[0] as Anthropic.TextBlock;
    const a = full.text.slice(10, 12);
    const b = full.text.slice(22, 24);
    const first = full.text.indexOf(a) <= full.text.indexOf(b) ? a : b;
    const params = { ...base, max_tokens: 40, stop_sequences: [b, a] };
    const m = await client.messages.create(params);
    expect(m.stop_reason).toBe("stop_sequence");
    expect(m.stop_sequence).toBe(first);
    expect(m.content as unknown).toEqual([{ type: "text", text: full.text.slice(0, full.text.indexOf(first)) }]);
    const streamed = await client.messages.stream(params).finalMessage();
    expect(streamed.stop_sequence).toBe(first);
    expect(streamed.content as unknown).toEqual(m.content);
  });

  test("the template's own stop string ends the turn (end_turn), unless it is a requested stop sequence", async () => {
    const plain = await setup(new FakeEngine({ reply: "Hi\nUser: more" }));
    const c = anthropic(plain.served);
    const m = await c.messages.create(base);
    expect(m).toMatchObject({ stop_reason: "end_turn", stop_sequence: null, content: [{ type: "text", text: "Hi" }] });
    const asked = await c.messages.create({ ...base, stop_sequences: ["\nUser:"] });
    expect(asked).toMatchObject({ stop_reason: "stop_sequence", stop_sequence: "\nUser:" });
    await plain.served.close();
  });

  test("max_tokens beyond the slot's room is lowered to it: the answer fills the context", async () => {
    const m = await client.messages.create({ ...base, max_tokens: 100_000 });
    expect(m.stop_reason).toBe("model_context_window_exceeded");
    expect(m.usage.output_tokens).toBe(512 - BASE_PROMPT_TOKENS);
    const e = await apiError(client.messages.create({ ...base, messages: user("x".repeat(600)) }));
    expect(e).toBeInstanceOf(Anthropic.BadRequestError);
    expect(e.apiMessage).toStartWith("prompt is too long: 618 tokens > 511 maximum");
  });
});

describe("usage and count_tokens", () => {
  test("count_tokens equals a real request's input; a repeated prompt is read from the cache", async () => {
    const fresh = await setup(new FakeEngine({ slots: 1 }));
    const c = anthropic(fresh.served);
    const params = { ...base, system: "Count me.", messages: user("How many tokens is this?") };
    const { model, system, messages } = params;
    const counted = await c.messages.countTokens({ model, system, messages });
    const first = await c.messages.create(params);
    expect(first.usage.cache_read_input_tokens).toBe(0);
    expect(first.usage.input_tokens).toBe(counted.input_tokens);
    const again = await c.messages.create(params);
    // One slot still holds the prompt: all of it is reused but the last token, whose logits give the first answer token.
    expect(again.usage.cache_read_input_tokens).toBe(counted.input_tokens - 1);
    expect(again.usage.input_tokens).toBe(1);
    await fresh.served.close();
  });

  test("count_tokens counts tools and tool results too", async () => {
    const r = await scripted("ok");
    const messages = [
      ...user("Weather?"),
      { role: "assistant" as const, content: [{ type: "tool_use" as const, id: "toolu_1", name: "get_weather", input: { city: "Oslo" } }] },
      { role: "user" as const, content: [{ type: "tool_result" as const, tool_use_id: "toolu_1", content: "sunny" }] },
    ];
    const withTools = await r.client.messages.countTokens({ model: "x", messages, tools: [weatherTool] });
    const m = await r.client.messages.create({ ...base, messages, tools: [weatherTool] });
    expect(m.usage.input_tokens + m.usage.cache_read_input_tokens!).toBe(withTools.input_tokens);
    const without = await r.client.messages.countTokens({ model: "x", messages: user("Weather?") });
    expect(withTools.input_tokens).toBeGreaterThan(without.input_tokens + JSON.stringify(weatherTool.input_schema).length);
    await r.s.served.close();
  });
});

test("/openapi/json describes both routes from their schemas", async () => {
  const spec = (await (await s.served.fetch(`${s.served.url}/openapi/json`)).json()) as { paths: Record<string, { post?: { tags?: string[] } }> };
  expect(spec.paths["/v1/messages"]?.post?.tags).toEqual(["anthropic"]);
  expect(spec.paths["/v1/messages/count_tokens"]?.post?.tags).toEqual(["anthropic"]);
});
