// Tool calling and reasoning in /v1/chat/completions, with the official `openai` SDK over real
// sockets, on the real engine: a generated model with a Qwen-style tool template whose reply is
// scripted (a thought, then a get_weather call), and a random-weight one with the same template.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { FakeEngine } from "../../src/inference/engine-fake.ts";
import { LlamaEngine } from "../../src/inference/llama/engine.ts";
import { ALARM_TOOL, WEATHER_REASONING, isAlarm, makeTemplatedModel, makeWeatherModel } from "../helpers/chat.ts";
import { apiError, setup, type Setup } from "./helpers.ts";

let dir: string;
let weather: LlamaEngine;
let random: LlamaEngine;
let s: Setup;
let r: Setup;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "warren-tools-"));
  weather = await LlamaEngine.load({ modelPath: await makeWeatherModel(dir), slots: 2, slotContextSize: 2048, threads: 1 });
  random = await LlamaEngine.load({ modelPath: await makeTemplatedModel(dir), slots: 2, slotContextSize: 2048, threads: 1 });
  s = await setup(weather);
  r = await setup(random);
}, 60_000);
afterAll(async () => {
  await s?.served.close();
  await r?.served.close();
  await weather?.dispose();
  await random?.dispose();
  await rm(dir, { recursive: true, force: true });
});

const tools: OpenAI.ChatCompletionFunctionTool[] = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Current weather in a city",
      parameters: { type: "object", properties: { city: { type: "string", maxLength: 40 } }, required: ["city"] },
    },
  },
  { type: "function", function: { name: ALARM_TOOL.name, description: ALARM_TOOL.description, parameters: ALARM_TOOL.parameters } },
];
const ask = (content: string): OpenAI.ChatCompletionMessageParam[] => [{ role: "user", content }];

/** A streamed answer, put together the way clients do: deltas appended per tool-call index. */
async function streamed(client: OpenAI, params: OpenAI.ChatCompletionCreateParamsNonStreaming) {
  let content = "";
  let reasoning = "";
  let finish: string | null = null;
  const calls: Array<{ id: string; name: string; arguments: string }> = [];
  for await (const c of await client.chat.completions.create({ ...params, stream: true })) {
    const choice = c.choices[0];
    if (!choice) continue;
    const d = choice.delta as OpenAI.ChatCompletionChunk.Choice.Delta & { reasoning_content?: string; reasoning?: string };
    content += d.content ?? "";
    reasoning += d.reasoning_content ?? "";
    if (d.reasoning_content !== undefined) expect(d.reasoning).toBe(d.reasoning_content);
    for (const t of d.tool_calls ?? []) {
      const slot = (calls[t.index] ??= { id: "", name: "", arguments: "" });
      slot.id += t.id ?? "";
      slot.name += t.function?.name ?? "";
      slot.arguments += t.function?.arguments ?? "";
    }
    finish = choice.finish_reason ?? finish;
  }
  return { content, reasoning, finish, calls };
}

describe("tool_choice auto on the scripted model", () => {
  test("the model's call comes back as tool_calls, its thought as reasoning_content and reasoning", async () => {
    const res = await s.client.chat.completions.create({ model: "m", messages: ask("Weather in Paris?"), tools, temperature: 0 });
    const choice = res.choices[0]!;
    expect(choice.finish_reason).toBe("tool_calls");
    expect(choice.message.content).toBeNull();
    const msg = choice.message as typeof choice.message & { reasoning_content?: string; reasoning?: string };
    expect(msg.reasoning_content).toBe(WEATHER_REASONING);
    expect(msg.reasoning).toBe(WEATHER_REASONING);
    expect(choice.message.tool_calls).toHaveLength(1);
    const call = choice.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(call.type).toBe("function");
    expect(call.id).toMatch(/^call_[A-Za-z0-9]{24}$/);
    expect(call.function.name).toBe("get_weather");
    expect(JSON.parse(call.function.arguments)).toEqual({ city: "Paris" });
  });

  test("streamed: the same reasoning, the same call (delta.tool_calls), the same finish", async () => {
    const params = { model: "m", messages: ask("Weather in Paris?"), tools, temperature: 0 };
    const whole = await s.client.chat.completions.create(params);
    const st = await streamed(s.client, params);
    const msg = whole.choices[0]!.message as OpenAI.ChatCompletionMessage & { reasoning_content?: string };
    expect(st.reasoning).toBe(msg.reasoning_content!);
    expect(st.content).toBe("");
    expect(st.finish).toBe("tool_calls");
    expect(st.calls.map((c) => [c.name, JSON.parse(c.arguments)])).toEqual([["get_weather", { city: "Paris" }]]);
    expect(st.calls[0]!.id).toMatch(/^call_/);
  });

  test("n = 2 choices each carry the call (both slots run the call grammar), streamed or not, with logprobs", async () => {
    const params = { model: "m", messages: ask("Weather in Paris?"), tools, temperature: 0, n: 2, logprobs: true };
    const whole = await s.client.chat.completions.create(params);
    expect(whole.choices.map((c) => [c.index, c.finish_reason, (c.message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall).function.arguments])).toEqual([
      [0, "tool_calls", '{"city": "Paris"}'],
      [1, "tool_calls", '{"city": "Paris"}'],
    ]);
    // Entries for every generated token, reasoning and call included: the script's 15 pieces.
    for (const c of whole.choices) expect(c.logprobs!.content!.length).toBe(whole.usage!.completion_tokens / 2 - 1);
    const finishes: Record<number, string> = {};
    const calls: Record<number, string> = {};
    for await (const c of await s.client.chat.completions.create({ ...params, stream: true })) {
      for (const ch of c.choices) {
        if (ch.finish_reason) finishes[ch.index] = ch.finish_reason;
        for (const t of ch.delta.tool_calls ?? []) calls[ch.index] = (calls[ch.index] ?? "") + (t.function?.arguments ?? "");
      }
    }
    expect(finishes).toEqual({ 0: "tool_calls", 1: "tool_calls" });
    expect(calls).toEqual({ 0: '{"city": "Paris"}', 1: '{"city": "Paris"}' });
  });

  test("the SDK's own stream helper assembles the call", async () => {
    const runner = s.client.chat.completions.stream({ model: "m", messages: ask("Weather?"), tools, temperature: 0 });
    const final = await runner.finalChatCompletion();
    const call = final.choices[0]!.message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(call.function.name).toBe("get_weather");
    expect(JSON.parse(call.function.arguments)).toEqual({ city: "Paris" });
  });

  test("a tool round trip: the call and its result go back through the template", async () => {
    const first = await s.client.chat.completions.create({ model: "m", messages: ask("Weather in Paris?"), tools, temperature: 0 });
    const call = first.choices[0]!.message.tool_calls![0]!;
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      ...ask("Weather in Paris?"),
      first.choices[0]!.message,
      { role: "tool", tool_call_id: call.id, content: '{"sky": "clear", "celsius": 21}' },
    ];
    const second = await s.client.chat.completions.create({ model: "m", messages, tools, temperature: 0, max_tokens: 1 });
    // The result is in the prompt: rendered as the template writes tool responses.
    const rendered = weather.renderChat({
      messages: [
        { role: "user", text: "Weather in Paris?" },
        { role: "assistant", text: "", reasoning: WEATHER_REASONING, toolCalls: [{ name: "get_weather", arguments: { city: "Paris" }, result: '{"sky": "clear", "celsius": 21}' }] },
      ],
      tools: [{ name: "get_weather", description: "Current weather in a city", parameters: tools[0]!.function.parameters as Record<string, unknown> }, ALARM_TOOL],
    });
    expect(weather.detokenize(rendered.tokens)).toContain('<tool_response>\n{"sky": "clear", "celsius": 21}');
    expect(second.usage!.prompt_tokens).toBe(rendered.tokens.length);
  });

  test("tool_choice none: no tools in the prompt, no calls parsed", async () => {
    const none = await s.client.chat.completions.create({ model: "m", messages: ask("Weather?"), tools, tool_choice: "none", temperature: 0 });
    expect(none.choices[0]!.message.tool_calls).toBeUndefined();
    expect(none.choices[0]!.finish_reason).toBe("stop");
    expect(none.choices[0]!.message.content).toContain("<tool_call>");
    const without = await s.client.chat.completions.create({ model: "m", messages: ask("Weather?"), temperature: 0, max_tokens: 1 });
    expect(none.usage!.prompt_tokens).toBe(without.usage!.prompt_tokens);
  });

  test("reasoning_format none keeps the thought in the content", async () => {
    const res = await s.client.chat.completions.create({ model: "m", messages: ask("Hi"), temperature: 0, reasoning_format: "none" } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    expect(res.choices[0]!.message.content!.startsWith(`<think>\n${WEATHER_REASONING.slice(0, 10)}`)).toBe(true);
    expect((res.choices[0]!.message as { reasoning_content?: string }).reasoning_content).toBeUndefined();
  });
});

describe("forced calls on a random-weight model", () => {
  test("required and a named function always give a call that follows the schema (streamed or not)", async () => {
    for (const tool_choice of ["required", { type: "function", function: { name: "set_alarm" } }] as const) {
      for (const seed of [1, 2]) {
        const params = { model: "m", messages: ask(`Alarm ${seed}`), tools, tool_choice, parallel_tool_calls: false, temperature: 0.8, seed, max_tokens: 400 };
        const whole = await r.client.chat.completions.create(params);
        const st = await streamed(r.client, params);
        for (const [finish, calls] of [
          [whole.choices[0]!.finish_reason, (whole.choices[0]!.message.tool_calls ?? []).map((c) => (c as OpenAI.ChatCompletionMessageFunctionToolCall).function)],
          [st.finish, st.calls],
        ] as const) {
          expect(finish).toBe("tool_calls");
          expect(calls).toHaveLength(1);
          const args = JSON.parse(calls[0]!.arguments);
          if (typeof tool_choice === "object") expect(calls[0]!.name).toBe("set_alarm");
          if (calls[0]!.name === "set_alarm") expect(isAlarm(args)).toBe(true);
          else expect(typeof args.city).toBe("string");
        }
        expect(st.calls.map((c) => [c.name, c.arguments])).toEqual(whole.choices[0]!.message.tool_calls!.map((c) => [(c as OpenAI.ChatCompletionMessageFunctionToolCall).function.name, (c as OpenAI.ChatCompletionMessageFunctionToolCall).function.arguments]));
      }
    }
  });
});

describe("bad tool requests: a 400 naming the field, nothing leaks", () => {
  test("each is refused in OpenAI's shape", async () => {
    const cases: Array<[OpenAI.ChatCompletionCreateParamsNonStreaming, string]> = [
      [{ model: "m", messages: ask("x"), tools, tool_choice: { type: "function", function: { name: "nope" } } }, "tool_choice"],
      [{ model: "m", messages: ask("x"), tool_choice: "required" }, "tool_choice"],
      [{ model: "m", messages: ask("x"), tools: [{ type: "function", function: { name: "f", parameters: { type: "object", properties: { a: { type: "string", pattern: "^a" } } } } }] }, "tools[0].function"],
      [{ model: "m", messages: ask("x"), tools: [tools[0]!, tools[0]!] }, "tools[1].function"],
      [{ model: "m", messages: ask("x"), tools: [{ type: "function", function: { name: "bad name!" } }] }, "tools[0].function"],
      [{ model: "m", messages: [...ask("x"), { role: "tool", tool_call_id: "zzz", content: "r" }], tools }, "messages[1]"],
      [
        { model: "m", messages: [...ask("x"), { role: "assistant", content: null, tool_calls: [{ id: "a", type: "function", function: { name: "get_weather", arguments: "{" } }] }], tools },
        "messages[1].tool_calls[0].function.arguments",
      ],
      [
        { model: "m", messages: [...ask("x"), { role: "assistant", content: null, tool_calls: [{ id: "a", type: "function", function: { name: "get_weather", arguments: "{}" } }] }, ...ask("y")], tools },
        "messages[1]",
      ],
      [{ model: "m", messages: ask("x"), tools, response_format: { type: "json_object" } }, "response_format"],
    ];
    for (const [params, param] of cases) {
      const e = await apiError(s.client.chat.completions.create(params));
      expect(`${e.status} ${e.param}`).toBe(`400 ${param}`);
      expect(e.type).toBe("invalid_request_error");
      expect(e.message.length).toBeGreaterThan(10);
    }
    expect(s.scheduler.stats().busySlots).toBe(0);
  });

  test("tools for a template without tool syntax: a 400 that says why and what to do", async () => {
    const plain = await setup(new FakeEngine());
    const e = await apiError(plain.client.chat.completions.create({ model: "m", messages: ask("x"), tools }));
    expect(e.status).toBe(400);
    expect(e.param).toBe("tools");
    expect(e.message).toContain("no tool-call syntax");
    expect(e.message).toContain("--chat-template");
    // tool_choice none renders without them, so it works.
    const ok = await plain.client.chat.completions.create({ model: "m", messages: ask("x"), tools, tool_choice: "none", max_tokens: 3 });
    expect(ok.choices[0]!.finish_reason).toBe("length");
    await plain.served.close();
  });
});

describe("/v1/models says what the template supports", () => {
  test("tools and reasoning for the Qwen-style template, neither for the plain one", async () => {
    const m = (await s.client.models.list()).data[0] as unknown as { capabilities: string[]; meta: { chat_template_caps: object } };
    expect(m.capabilities).toEqual(["completion", "chat", "tools", "reasoning"]);
    expect(m.meta.chat_template_caps).toEqual({ tools: true, reasoning: true });
    const plain = await setup(new FakeEngine());
    const p = (await plain.client.models.list()).data[0] as unknown as { capabilities: string[] };
    expect(p.capabilities).toEqual(["completion", "chat"]);
    await plain.served.close();
  });
});
