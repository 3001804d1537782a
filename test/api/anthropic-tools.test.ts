// Tools and thinking on the Anthropic Messages API, over the fake engine: tool_use / tool_result
// history reaching the template, tool_use answers, tool_choice, and thinking blocks.
import { afterEach, describe, expect, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import { FakeEngine, type FakeEngineOptions } from "../../src/inference/engine-fake.ts";
import { setup, type Setup } from "./helpers.ts";
import { anthropic, apiError, parseSse, qwenCall, rawMessages, scripted as scriptedSetup } from "./anthropic-helpers.ts";

let open: Setup[] = [];
afterEach(async () => {
  await Promise.all(open.map((s) => s.served.close()));
  open = [];
});

/** scripted(), closed after the test. */
async function scripted(reply: string, opts: FakeEngineOptions = {}) {
  const r = await scriptedSetup(reply, opts);
  open.push(r.s);
  return r;
}

const user = (content: string) => [{ role: "user" as const, content }];
const base = { model: "claude-test", max_tokens: 200, temperature: 0, messages: user("Weather in Paris?") };
const weather = { name: "get_weather", description: "Weather now", input_schema: { type: "object" as const, properties: { city: { type: "string" } }, required: ["city"] } };
const lookup = { name: "lookup", input_schema: { type: "object" as const, properties: { q: { type: "string" } } } };
const withoutIds = (content: Anthropic.ContentBlock[]) => content.map((b) => (b.type === "tool_use" ? { ...b, id: "" } : b));

describe("tool_use answers", () => {
  test("a call becomes a tool_use block (toolu_ id, input object) with stop_reason tool_use, streamed or not", async () => {
    const { client, engine, s } = await scripted(`<think>I need the weather</think>${qwenCall("get_weather", { city: "Paris" })}`);
    const m = await client.messages.create({ ...base, tools: [weather] });
    expect(m.stop_reason).toBe("tool_use");
    expect(m.content).toHaveLength(2);
    expect(m.content[0]).toEqual({ type: "thinking", thinking: "I need the weather", signature: "" });
    const call = m.content[1] as Anthropic.ToolUseBlock;
    expect(call).toMatchObject({ type: "tool_use", name: "get_weather", input: { city: "Paris" } });
    expect(call.id).toMatch(/^toolu_[0-9a-f]{24}$/);
    // tool_choice auto: the call grammar is engaged lazily, at the call's opening.
    expect(engine.grammars.at(-1)).toBeUndefined();
    expect(engine.engaged).toHaveLength(1);
    const final = await client.messages.stream({ ...base, tools: [weather] }).finalMessage();
    expect(withoutIds(final.content) as unknown).toEqual(withoutIds(m.content));
    expect(final.stop_reason).toBe("tool_use");

    const events = parseSse(await (await rawMessages(s.served, { ...base, tools: [weather], stream: true })).text());
    const toolStart = events.find((e) => e.event === "content_block_start" && e.data.content_block.type === "tool_use")!;
    expect(toolStart.data.content_block).toMatchObject({ name: "get_weather", input: {} });
    const json = events.filter((e) => e.data.delta?.type === "input_json_delta");
    expect(json).toHaveLength(1);
    expect(JSON.parse(json[0]!.data.delta.partial_json)).toEqual({ city: "Paris" });
    expect(json[0]!.data.index).toBe(toolStart.data.index);
  });

  test("text before a call, and parallel calls, keep their order", async () => {
    const reply = `Checking both.${qwenCall("get_weather", { city: "Paris" })}\n${qwenCall("lookup", { q: "Paris" })}`;
    const { client } = await scripted(reply);
    const m = await client.messages.create({ ...base, tools: [weather, lookup] });
    expect(m.content.map((b) => b.type)).toEqual(["text", "tool_use", "tool_use"]);
    expect((m.content[0] as Anthropic.TextBlock).text).toBe("Checking both.");
    expect(m.content.slice(1).map((b) => (b as Anthropic.ToolUseBlock).name)).toEqual(["get_weather", "lookup"]);
    const ids = m.content.slice(1).map((b) => (b as Anthropic.ToolUseBlock).id);
    expect(new Set(ids).size).toBe(2);
  });
});

describe("tool_use / tool_result history", () => {
  test("the round trip: results are paired with their calls by id and reach the prompt", async () => {
    const { client, engine } = await scripted("It is sunny.");
    const first = await (await scripted(qwenCall("get_weather", { city: "Paris" }))).client.messages.create({ ...base, tools: [weather] });
    const call = first.content[0] as Anthropic.ToolUseBlock;
    const m = await client.messages.create({
      ...base,
      tools: [weather],
      messages: [
        ...base.messages,
        { role: "assistant", content: first.content },
        { role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: "sunny, 21C" }, { type: "text", text: "Thanks!" }] },
      ],
    });
    expect(m.content as unknown).toEqual([{ type: "text", text: "It is sunny." }]);
    expect(m.stop_reason).toBe("end_turn");
    expect(engine.lastRender!.messages).toEqual([
      { role: "user", text: "Weather in Paris?" },
      { role: "assistant", text: "", toolCalls: [{ name: "get_weather", arguments: { city: "Paris" }, result: "sunny, 21C" }] },
      { role: "user", text: "Thanks!" },
    ]);
  });

  test("parallel results in any order, block content, is_error, and thinking in history", async () => {
    const { client, engine } = await scripted("ok");
    await client.messages.create({
      ...base,
      tools: [weather, lookup],
      messages: [
        ...base.messages,
        {
          role: "assistant",
          content: [
            { type: "thinking", thinking: "two calls", signature: "" },
            { type: "text", text: "Let me look." },
            { type: "tool_use", id: "toolu_a", name: "get_weather", input: { city: "Paris" } },
            { type: "tool_use", id: "toolu_b", name: "lookup", input: { q: "Paris" } },
          ],
        },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: "toolu_b", content: [{ type: "text", text: "capital" }, { type: "text", text: "of France" }] },
            { type: "tool_result", tool_use_id: "toolu_a", content: "timeout", is_error: true },
          ],
        },
      ],
    });
    expect(engine.lastRender!.messages[1]).toEqual({
      role: "assistant",
      text: "Let me look.",
      reasoning: "two calls",
      toolCalls: [
        { name: "get_weather", arguments: { city: "Paris" }, result: "Error: timeout" },
        { name: "lookup", arguments: { q: "Paris" }, result: "capital\nof France" },
      ],
    });
    expect(engine.lastRender!.messages).toHaveLength(2);
  });
});

describe("tool_choice", () => {
  const gbnf = (g: unknown) => (g as { gbnf: string }).gbnf;
  const callRule = (g: unknown) => gbnf(g).split("\n").find((l) => l.startsWith("call ::="))!;

  test("any forces a call to one of the tools from the first token; disable_parallel_tool_use allows one", async () => {
    const { client, engine } = await scripted(qwenCall("lookup", { q: "x" }));
    const m = await client.messages.create({ ...base, tools: [weather, lookup], tool_choice: { type: "any" } });
    expect(m.stop_reason).toBe("tool_use");
    const g = engine.grammars.at(-1);
    expect(callRule(g)).toContain('"get_weather"');
    expect(callRule(g)).toContain('"lookup"');
    expect(gbnf(g)).toContain("call )*");
    await client.messages.create({ ...base, tools: [weather, lookup], tool_choice: { type: "any", disable_parallel_tool_use: true } });
    expect(gbnf(engine.grammars.at(-1))).not.toContain("call )*");
  });

  test("tool forces that tool; none shows no tools and parses no calls", async () => {
    const { client, engine } = await scripted(qwenCall("lookup", { q: "x" }));
    await client.messages.create({ ...base, tools: [weather, lookup], tool_choice: { type: "tool", name: "lookup" } });
    expect(callRule(engine.grammars.at(-1))).toContain('"lookup"');
    expect(callRule(engine.grammars.at(-1))).not.toContain("get_weather");
    const none = await client.messages.create({ ...base, tools: [weather, lookup], tool_choice: { type: "none" } });
    expect(engine.grammars.at(-1)).toBeUndefined();
    expect(engine.lastRender!.tools).toBeUndefined();
    expect(none.stop_reason).toBe("end_turn");
    expect(none.content as unknown).toEqual([{ type: "text", text: qwenCall("lookup", { q: "x" }) }]);
  });

  test("an unknown tool name, or a choice without tools: 400 naming tool_choice", async () => {
    const { client } = await scripted("ok");
    const unknown = await apiError(client.messages.create({ ...base, tools: [weather], tool_choice: { type: "tool", name: "nope" } }));
    expect(unknown).toBeInstanceOf(Anthropic.BadRequestError);
    expect(unknown.apiMessage).toBe('tool_choice.name: "nope" is not among the tools (get_weather)');
    const noTools = await apiError(client.messages.create({ ...base, tool_choice: { type: "any" } }));
    expect(noTools.apiMessage).toStartWith("tool_choice: ");
  });
});

describe("thinking", () => {
  const reply = "<think>plan it</think>The answer.";
  const blocks = [
    { type: "thinking", thinking: "plan it", signature: "" },
    { type: "text", text: "The answer." },
  ];

  test("reasoning comes back as thinking blocks whether thinking is enabled, disabled or omitted", async () => {
    const { client, engine } = await scripted(reply);
    const cases = [
      [{ thinking: { type: "enabled", budget_tokens: 1024 } }, { enable_thinking: true }],
      [{ thinking: { type: "disabled" } }, { enable_thinking: false }],
      [{}, undefined],
      [{ thinking: { type: "disabled" }, chat_template_kwargs: { enable_thinking: true, style: "x" } }, { enable_thinking: true, style: "x" }],
    ] as const;
    for (const [extra, kwargs] of cases) {
      const m = await client.messages.create({ ...base, max_tokens: 2000, ...extra } as Anthropic.MessageCreateParamsNonStreaming);
      expect(m.content as unknown).toEqual(blocks);
      expect(engine.lastRender!.templateKwargs).toEqual(kwargs);
    }
  });

  test("streamed as thinking_delta, with a signature_delta before the block stops", async () => {
    const { client, s } = await scripted(reply);
    const params = { ...base, max_tokens: 2000, thinking: { type: "enabled" as const, budget_tokens: 1500 } };
    const events = parseSse(await (await rawMessages(s.served, { ...params, stream: true })).text());
    const names = events.map((e) => `${e.event}:${e.data.delta?.type ?? e.data.content_block?.type ?? ""}`);
    expect(names.join(",")).toMatch(
      /^message_start:,ping:,content_block_start:thinking,(content_block_delta:thinking_delta,)+content_block_delta:signature_delta,content_block_stop:,content_block_start:text,(content_block_delta:text_delta,)+content_block_stop:,message_delta:,message_stop:$/,
    );
    const final = await client.messages.stream(params).finalMessage();
    expect(final.content as unknown).toEqual(blocks);
  });

  test("a template without thoughts gets no enable_thinking; bad budgets are a 400 naming thinking.budget_tokens", async () => {
    const plain = await setup(new FakeEngine({ reply: "Hello." }));
    open.push(plain);
    const c = anthropic(plain.served);
    const m = await c.messages.create({ ...base, max_tokens: 2000, thinking: { type: "enabled", budget_tokens: 1024 } });
    expect(m.content as unknown).toEqual([{ type: "text", text: "Hello." }]);
    expect(plain.state.scheduler!.engine.info.chat.reasoning).toBe(false);
    for (const thinking of [
      { type: "enabled", budget_tokens: 100 },
      { type: "enabled", budget_tokens: 4000 },
      { type: "enabled" },
    ]) {
      const e = await apiError(c.messages.create({ ...base, max_tokens: 2000, thinking } as Anthropic.MessageCreateParamsNonStreaming));
      expect(e).toBeInstanceOf(Anthropic.BadRequestError);
      expect(e.apiMessage).toStartWith("thinking.budget_tokens");
    }
  });
});
