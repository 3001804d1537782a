// POST /v1/responses driven by the official `openai` SDK (client.responses.create / .stream) and by
// raw SSE, over the deterministic fake engine: item mapping, events, tools, errors.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import type { ChatSyntax } from "../../src/inference/chat/types.ts";
import { FakeEngine } from "../../src/inference/engine-fake.ts";
import { apiError, setup, type Setup, waitFor } from "./helpers.ts";

const QWEN: ChatSyntax = {
  calls: { sectionPrefix: "", prefix: '<tool_call>\n{"name": "', paramsPrefix: '", "arguments": ', suffix: "}\n</tool_call>", betweenCalls: "\n", sectionSuffix: "", parallel: true },
  thought: { open: "<think>", close: "</think>" },
};
const THOUGHT = "I should check the weather.";
const REPLY = `<think>${THOUGHT}</think>Let me look.<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>`;

/** Records the grammar each request's sampler starts with: the fake does not enforce grammars. */
class Recording extends FakeEngine {
  readonly grammars: unknown[] = [];
  override createSampler(...args: Parameters<FakeEngine["createSampler"]>) {
    this.grammars.push(args[2]);
    return super.createSampler(...args);
  }
}

const weather = {
  type: "function" as const,
  name: "get_weather",
  description: "Weather for a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  strict: true,
};
const time = { type: "function" as const, name: "get_time", description: "Time in a zone", parameters: { type: "object", properties: { zone: { type: "string" } } }, strict: false };

/** `text`: random words until max_output_tokens. `tools`: answers REPLY with a Qwen-style syntax. */
let text: Setup;
let tools: Setup;
let toolEngine: Recording;
beforeAll(async () => {
  text = await setup(new FakeEngine({ slots: 2, slotContextSize: 512 }));
  toolEngine = new Recording({ slots: 2, slotContextSize: 1024, reply: REPLY, chatSyntax: QWEN });
  tools = await setup(toolEngine);
});
afterAll(async () => {
  await text.served.close();
  await tools.served.close();
});

interface Sse {
  event: string;
  data: any;
}

/** The raw stream: every block must be one `event:` line and one `data:` line. */
async function rawEvents(s: Setup, body: object): Promise<Sse[]> {
  const res = await s.served.fetch(`${s.served.url}/v1/responses`, { method: "POST", body: JSON.stringify({ ...body, stream: true }), headers: { "content-type": "application/json" } });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toStartWith("text/event-stream");
  const blocks = (await res.text()).split("\n\n").filter((b) => b !== "" && !b.startsWith(":"));
  return blocks.map((b) => {
    const m = /^event: (\S+)\ndata: (.*)$/.exec(b);
    if (!m) throw new Error(`not an event block: ${JSON.stringify(b)}`);
    return { event: m[1]!, data: JSON.parse(m[2]!) };
  });
}

const bytes = (s: string) => new TextEncoder().encode(s).length;

describe("answers", () => {
  test("string input with instructions: the transcript, one message item, usage and the echoed settings", async () => {
    // tool_choice "auto" without tools is no tools, as with OpenAI.
    const r = await text.client.responses.create({ model: "fake", input: "hi", instructions: "be brief", max_output_tokens: 12, temperature: 0, metadata: { run: "1" }, tool_choice: "auto" });
    expect(r.object).toBe("response");
    expect(r.id).toMatch(/^resp_[0-9a-f]{32}$/);
    expect(r.status).toBe("incomplete");
    expect(r.incomplete_details).toEqual({ reason: "max_output_tokens" });
    expect(r.output).toHaveLength(1);
    const msg = r.output[0] as OpenAI.Responses.ResponseOutputMessage;
    expect(msg).toMatchObject({ type: "message", role: "assistant", status: "incomplete" });
    expect(msg.id).toMatch(/^msg_/);
    expect(msg.content[0]).toMatchObject({ type: "output_text", annotations: [] });
    expect(r.output_text).toHaveLength(12);
    expect(r.output_text).toBe((msg.content[0] as OpenAI.Responses.ResponseOutputText).text);
    // BOS + the plain transcript, instructions first as the system line.
    const input = 1 + bytes("System: be brief\nUser: hi\nAssistant:");
    expect(r.usage).toMatchObject({ input_tokens: input, output_tokens: 12, total_tokens: input + 12, output_tokens_details: { reasoning_tokens: 0 } });
    // Whatever an earlier test left in the slot, at least one prompt token is evaluated.
    expect(r.usage!.input_tokens_details.cached_tokens).toBeGreaterThanOrEqual(0);
    expect(r.usage!.input_tokens_details.cached_tokens).toBeLessThan(input);
    expect(r).toMatchObject({ instructions: "be brief", max_output_tokens: 12, temperature: 0, top_p: 0.95, store: false, tools: [], tool_choice: "auto" });
    expect(r).toMatchObject({ parallel_tool_calls: true, text: { format: { type: "text" } }, previous_response_id: null, metadata: { run: "1" }, error: null });
  });

  test("item input: roles, text parts, developer as system; store: true is accepted but nothing is kept", async () => {
    const r = await tools.client.responses.create({
      model: "fake",
      input: [
        { role: "developer", content: "d" },
        { type: "message", role: "user", content: [{ type: "input_text", text: "a" }, { type: "input_text", text: "b" }] },
        { type: "message", role: "assistant", id: "msg_1", status: "completed", content: [{ type: "output_text", text: "c", annotations: [] }] },
        { role: "user", content: "e" },
      ],
      store: true,
      max_output_tokens: 200,
    });
    expect(toolEngine.lastRender!.messages).toEqual([
      { role: "system", text: "d" },
      { role: "user", text: "ab" },
      { role: "assistant", text: "c" },
      { role: "user", text: "e" },
    ]);
    // The SDK's Response type lacks `store`, which OpenAI's answers (and Warren's) carry.
    expect((r as unknown as { store: boolean }).store).toBe(false);
    expect(r.status).toBe("completed");
    expect(r.completed_at).toBeGreaterThanOrEqual(r.created_at);
  });

  test("streamed and non-streamed answers agree at temperature 0 (the SDK's stream helper)", async () => {
    const params = { model: "fake", input: "tell me", max_output_tokens: 20, temperature: 0 };
    const whole = await text.client.responses.create(params);
    const stream = text.client.responses.stream(params);
    let deltas = "";
    const types: string[] = [];
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === "response.output_text.delta") deltas += ev.delta;
    }
    const final = await stream.finalResponse();
    expect(deltas).toBe(whole.output_text);
    expect(final.output_text).toBe(whole.output_text);
    expect(final.status).toBe(whole.status);
    expect(final.output.map((i) => [i.type, (i as { status?: string }).status])).toEqual(whole.output.map((i) => [i.type, (i as { status?: string }).status]));
    expect(final.usage!.output_tokens).toBe(whole.usage!.output_tokens);
    expect(final.usage!.input_tokens).toBe(whole.usage!.input_tokens);
    expect(types[0]).toBe("response.created");
    expect(types.at(-1)).toBe("response.incomplete");
  });

  test("raw events: named, numbered from 0 by one, items and indexes consistent, the last one holds the response", async () => {
    const evs = await rawEvents(text, { model: "fake", input: "go", max_output_tokens: 6, temperature: 0 });
    evs.forEach((e, i) => {
      expect(e.data.type).toBe(e.event);
      expect(e.data.sequence_number).toBe(i);
    });
    const types = evs.map((e) => e.event);
    expect(types.slice(0, 4)).toEqual(["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]);
    expect(types.slice(-4)).toEqual(["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.incomplete"]);
    expect(evs[0]!.data.response).toMatchObject({ status: "in_progress", output: [], usage: null });
    const added = evs[2]!.data;
    expect(added).toMatchObject({ output_index: 0, item: { type: "message", status: "in_progress", content: [] } });
    const deltas = evs.filter((e) => e.event === "response.output_text.delta");
    expect(deltas.length).toBeGreaterThan(0);
    for (const d of deltas) expect(d.data).toMatchObject({ item_id: added.item.id, output_index: 0, content_index: 0 });
    const done = evs.find((e) => e.event === "response.output_text.done")!.data;
    expect(deltas.map((d) => d.data.delta).join("")).toBe(done.text);
    const last = evs.at(-1)!.data.response;
    expect(last.output).toEqual([evs.find((e) => e.event === "response.output_item.done")!.data.item]);
    expect(last.output[0]).toMatchObject({ id: added.item.id, status: "incomplete", content: [{ type: "output_text", text: done.text }] });
    expect(last.usage.output_tokens).toBe(6);
  });
});

describe("reasoning and function calls", () => {
  const base = { model: "fake", input: "Weather in Paris?", tools: [weather], max_output_tokens: 300, temperature: 0 };

  test("reasoning, text and a call become three items, in order, streamed or not", async () => {
    const r = await tools.client.responses.create(base);
    expect(r.status).toBe("completed");
    expect(r.output.map((i) => i.type)).toEqual(["reasoning", "message", "function_call"]);
    const [rs, msg, call] = r.output as [OpenAI.Responses.ResponseReasoningItem, OpenAI.Responses.ResponseOutputMessage, OpenAI.Responses.ResponseFunctionToolCall];
    expect(rs.id).toMatch(/^rs_/);
    expect(rs.summary).toEqual([]);
    expect(rs.content).toEqual([{ type: "reasoning_text", text: THOUGHT }]);
    expect(r.output_text).toBe("Let me look.");
    expect(msg.status).toBe("completed");
    expect(call).toMatchObject({ type: "function_call", name: "get_weather", status: "completed" });
    expect(call.id).toMatch(/^fc_/);
    expect(call.call_id).toMatch(/^call_/);
    expect(JSON.parse(call.arguments)).toEqual({ city: "Paris" });
    // One token per byte: the thought's share runs to its last character ("<think>" + the thought).
    expect(r.usage!.output_tokens_details.reasoning_tokens).toBe(bytes(`<think>${THOUGHT}`));
    // The end-of-text token counts too.
    expect(r.usage!.output_tokens).toBe(bytes(REPLY) + 1);

    const stream = tools.client.responses.stream(base);
    const seen = new Set<string>();
    let args = "";
    for await (const ev of stream) {
      seen.add(ev.type);
      if (ev.type === "response.function_call_arguments.delta") args += ev.delta;
    }
    const final = await stream.finalResponse();
    expect(final.output.map((i) => i.type)).toEqual(["reasoning", "message", "function_call"]);
    expect((final.output[0] as OpenAI.Responses.ResponseReasoningItem).content).toEqual(rs.content!);
    expect(final.output_text).toBe("Let me look.");
    expect(JSON.parse(args)).toEqual({ city: "Paris" });
    expect((final.output[2] as OpenAI.Responses.ResponseFunctionToolCall).arguments).toBe(call.arguments);
    for (const t of ["response.reasoning_text.delta", "response.reasoning_text.done", "response.function_call_arguments.done", "response.completed"]) expect(seen.has(t)).toBe(true);
  });

  test("round trip: the answer's items plus function_call_output reach the template, paired by call_id", async () => {
    const first = await tools.client.responses.create(base);
    const call = first.output.find((i) => i.type === "function_call") as OpenAI.Responses.ResponseFunctionToolCall;
    await tools.client.responses.create({
      ...base,
      input: [{ role: "user", content: "Weather in Paris?" }, ...(first.output as OpenAI.Responses.ResponseInputItem[]), { type: "function_call_output", call_id: call.call_id, output: "sunny, 24C" }],
    });
    expect(toolEngine.lastRender!.messages).toEqual([
      { role: "user", text: "Weather in Paris?" },
      { role: "assistant", text: "Let me look.", reasoning: THOUGHT, toolCalls: [{ name: "get_weather", arguments: { city: "Paris" }, result: "sunny, 24C" }] },
    ]);
    expect(toolEngine.lastRender!.tools!.map((t) => t.name)).toEqual(["get_weather"]);
  });

  test("a reasoning item sent back with only a summary becomes the assistant turn's reasoning", async () => {
    await tools.client.responses.create({
      ...base,
      tools: undefined,
      input: [
        { role: "user", content: "q" },
        { type: "reasoning", id: "rs_1", summary: [{ type: "summary_text", text: "earlier thought" }] },
        { role: "assistant", content: "a" },
        { role: "user", content: "q2" },
      ],
    });
    expect(toolEngine.lastRender!.messages[1]).toEqual({ role: "assistant", text: "a", reasoning: "earlier thought" });
  });

  test("tool_choice: required and a named function start under a call grammar; auto engages it at the trigger; none hides the tools", async () => {
    const gbnf = () => (toolEngine.grammars.at(-1) as { gbnf: string } | undefined)?.gbnf;
    await tools.client.responses.create({ ...base, tools: [weather, time], tool_choice: "required" });
    expect(gbnf()).toContain('"get_weather"');
    expect(gbnf()).toContain('"get_time"');
    await tools.client.responses.create({ ...base, tools: [weather, time], tool_choice: { type: "function", name: "get_time" } });
    expect(gbnf()).toContain('"get_time"');
    expect(gbnf()).not.toContain("get_weather");
    const engaged = toolEngine.engaged.length;
    await tools.client.responses.create({ ...base, tools: [weather, time], tool_choice: "auto" });
    expect(toolEngine.grammars.at(-1)).toBeUndefined();
    expect(toolEngine.engaged.length).toBe(engaged + 1);
    const none = await tools.client.responses.create({ ...base, tools: [weather], tool_choice: "none" });
    expect(toolEngine.lastRender!.tools).toBeUndefined();
    expect(none.output.map((i) => i.type)).toEqual(["reasoning", "message"]);
    expect(none.output_text).toContain("<tool_call>");
    expect(none.tool_choice).toBe("none");
  });

  test("max_output_tokens cutting the thought: incomplete, and the reasoning item says so", async () => {
    const r = await tools.client.responses.create({ ...base, max_output_tokens: 12 });
    expect(r.status).toBe("incomplete");
    expect(r.incomplete_details).toEqual({ reason: "max_output_tokens" });
    expect(r.output).toHaveLength(1);
    expect(r.output[0]).toMatchObject({ type: "reasoning", status: "incomplete", content: [{ text: "I sho" }] });
    expect(r.usage!.output_tokens_details.reasoning_tokens).toBe(12);
  });

  test("an answer that is only a thought still ends with an (empty) message, streamed or not", async () => {
    const only = await setup(new FakeEngine({ slots: 1, reply: "<think>hmm</think>", chatSyntax: QWEN }));
    try {
      const params = { model: "fake", input: "?", max_output_tokens: 50 };
      for (const r of [await only.client.responses.create(params), await only.client.responses.stream(params).finalResponse()]) {
        expect(r.status).toBe("completed");
        expect(r.output.map((i) => [i.type, (i as { status?: string }).status])).toEqual([
          ["reasoning", "completed"],
          ["message", "completed"],
        ]);
        expect(r.output_text).toBe("");
      }
    } finally {
      await only.served.close();
    }
  });

  test("text.format json_schema goes to the grammar; an unsupported keyword is a 400 naming text.format", async () => {
    const schema = { type: "object", properties: { ok: { type: "boolean" } } };
    await tools.client.responses.create({ ...base, tools: undefined, text: { format: { type: "json_schema", name: "x", schema, strict: true } } });
    expect(toolEngine.grammars.at(-1)).toEqual({ schema });
    const e = await apiError(tools.client.responses.create({ ...base, tools: undefined, text: { format: { type: "json_schema", name: "x", schema: { not: {} } } } }));
    expect(e.status).toBe(400);
    expect(e.param).toBe("text.format");
    expect(e.message).toContain('"not"');
    const both = await apiError(tools.client.responses.create({ ...base, text: { format: { type: "json_object" } } }));
    expect(both.param).toBe("text.format");
  });
});

describe("errors in OpenAI's shape, naming the field", () => {
  const user = (content: string) => ({ role: "user" as const, content });
  const cases: Array<[string, object, string, string]> = [
    ["previous_response_id", { input: "hi", previous_response_id: "resp_1" }, "previous_response_id", "stateless"],
    ["conversation", { input: "hi", conversation: "conv_1" }, "conversation", "stateless"],
    ["an empty input list", { input: [] }, "input", "at least one"],
    ["a tool without a type", { input: "hi", tools: [{ name: "f" }] }, "tools[0].type", "function"],
    ["a tool type other than function", { input: "hi", tools: [weather, { type: "web_search" }] }, "tools[1].type", "web_search"],
    ["a function_call_output with an unknown call_id", { input: [user("hi"), { type: "function_call_output", call_id: "call_nope", output: "x" }] }, "input[1]", "call_nope"],
    [
      "a function_call with no output before the next message",
      { input: [user("hi"), { type: "function_call", call_id: "call_7", name: "get_weather", arguments: "{}" }, user("again")], tools: [weather] },
      "input[1]",
      "call_7",
    ],
    ["function_call arguments that are not JSON", { input: [{ type: "function_call", call_id: "c", name: "f", arguments: "{nope" }] }, "input[0].arguments", "JSON"],
    ["an input item type Warren does not know", { input: [user("hi"), { type: "computer_call", call_id: "c" }] }, "input[1].type", "computer_call"],
    ["an item_reference", { input: [{ type: "item_reference", id: "msg_1" }] }, "input[0]", "stateless"],
    ["a message role outside the four", { input: [{ role: "tool", content: "x" }] }, "input[0].role", "tool"],
    ["an image part", { input: [{ role: "user", content: [{ type: "input_image", image_url: "http://x/y.png" }] }] }, "input[0].content[0].type", "input_image"],
    ["a named tool_choice that is not among the tools", { input: "hi", tools: [weather], tool_choice: { type: "function", name: "nope" } }, "tool_choice", "nope"],
    ["a tool_choice of another kind", { input: "hi", tools: [weather], tool_choice: { type: "web_search_preview" } }, "tool_choice.type", "web_search_preview"],
    ["top_logprobs", { input: "hi", top_logprobs: 3 }, "top_logprobs", "log-probabilities"],
    ["a temperature out of range", { input: "hi", temperature: 3 }, "temperature", "temperature"],
  ];
  for (const [what, body, param, says] of cases) {
    test(`${what}: 400, param ${param}`, async () => {
      const e = await apiError(tools.client.responses.create({ model: "fake", ...body } as never));
      expect(e.status).toBe(400);
      expect(e.type).toBe("invalid_request_error");
      expect(e.param).toBe(param);
      expect(e.message).toContain(says);
    });
  }

  test("tools for a template with no call syntax: 400 naming tools", async () => {
    const e = await apiError(text.client.responses.create({ model: "fake", input: "hi", tools: [weather] }));
    expect(e.status).toBe(400);
    expect(e.param).toBe("tools");
  });

  test("the raw body is {error: {message, type, param, code}}; a stored response cannot be fetched", async () => {
    const res = await text.served.fetch(`${text.served.url}/v1/responses`, {
      method: "POST",
      body: JSON.stringify({ input: "hi", previous_response_id: "resp_1" }),
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: { message: expect.stringContaining("stateless"), type: "invalid_request_error", param: "previous_response_id", code: "unsupported_parameter" } });
    const e = await apiError(text.client.responses.retrieve("resp_123"));
    expect(e.status).toBe(404);
    expect(e.message).toContain("stateless");
  });
});

test("/openapi/json describes the route from the same schema", async () => {
  const spec = (await (await text.served.fetch(`${text.served.url}/openapi/json`)).json()) as any;
  const body = spec.paths["/v1/responses"]?.post?.requestBody?.content?.["application/json"]?.schema;
  expect(body?.properties?.input).toBeDefined();
  expect(body?.properties?.max_output_tokens).toBeDefined();
});

describe("streams and slots", () => {
  test("aborting a stream mid-way frees its slot", async () => {
    const ac = new AbortController();
    const cancelled = text.scheduler.stats().requests.cancelled;
    const stream = await text.client.responses.create({ model: "fake", input: "go on", max_output_tokens: 400, temperature: 0, stream: true }, { signal: ac.signal });
    let n = 0;
    await (async () => {
      for await (const ev of stream) if (ev.type === "response.output_text.delta" && ++n === 3) ac.abort();
    })().catch((err) => expect(String(err)).toMatch(/abort/i));
    expect(n).toBe(3);
    await waitFor(() => text.scheduler.stats().busySlots === 0, "the slot to be freed");
    expect(text.scheduler.stats().requests.cancelled).toBe(cancelled + 1);
  });

  test("a generation failure: response.failed ends a stream; a whole answer is a 500", async () => {
    class Failing extends FakeEngine {
      calls = 0;
      override async decode(items: Parameters<FakeEngine["decode"]>[0]) {
        if (++this.calls % 4 === 0) throw new Error("device lost");
        return super.decode(items);
      }
    }
    const f = await setup(new Failing({ slots: 1 }));
    try {
      const stream = f.client.responses.stream({ model: "fake", input: "a", max_output_tokens: 50 });
      const types: string[] = [];
      for await (const ev of stream) types.push(ev.type);
      const final = await stream.finalResponse();
      expect(types.at(-1)).toBe("response.failed");
      expect(final.status).toBe("failed");
      expect(final.error?.message).toContain("device lost");
      expect(final.output[0]).toMatchObject({ type: "message", status: "incomplete" });
      const e = await apiError(f.client.responses.create({ model: "fake", input: "a", max_output_tokens: 50 }));
      expect(e.status).toBe(500);
      expect(e.message).toContain("device lost");
      await waitFor(() => f.scheduler.stats().busySlots === 0, "the slot to be freed");
    } finally {
      await f.served.close();
    }
  });
});
