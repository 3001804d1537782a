// One contract for the chat pipeline, run against the fake engine (a scripted reply in the Qwen
// syntax) and the real engine (a generated model with the Qwen-style template that writes the same
// reply token by token): the same conversation must give the same reasoning, calls and finish.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pairToolResults } from "../../src/inference/chat/history.ts";
import { prepareChat, runChat, type PreparedChat } from "../../src/inference/chat-pipeline.ts";
import type { ChatEvent, ChatRequest } from "../../src/inference/chat/types.ts";
import type { Engine } from "../../src/inference/engine.ts";
import { FakeEngine } from "../../src/inference/engine-fake.ts";
import { LlamaEngine } from "../../src/inference/llama/engine.ts";
import { Scheduler } from "../../src/inference/scheduler.ts";
import { makeModel } from "../../src/models/presets.ts";
import { InferenceError } from "../../src/inference/types.ts";
import { ALARM_TOOL, QWEN_SYNTAX, WEATHER_REASONING, WEATHER_REPLY, WEATHER_TOOL, isAlarm, makeTemplatedModel, makeWeatherModel } from "../helpers/chat.ts";
import { GREEDY } from "../helpers/inference.ts";

interface Setup {
  engine: Engine;
  scheduler: Scheduler;
  /** The prompt as text (what the template rendered). */
  promptText(p: PreparedChat): string;
}

async function answer(s: Setup, req: ChatRequest, maxTokens = 200): Promise<{ events: ChatEvent[]; prepared: PreparedChat }> {
  const prepared = await prepareChat(s.engine, req);
  const inference = {
    id: "t",
    promptTokens: prepared.promptTokens,
    maxTokens,
    sampling: GREEDY,
    stop: prepared.stop,
    ignoreEos: false,
    grammar: prepared.grammar,
    lazyGrammar: prepared.lazyGrammar,
  };
  const events: ChatEvent[] = [];
  for await (const ev of runChat(s.scheduler, inference, prepared)) if (ev.type !== "started") events.push(ev);
  return { events, prepared };
}

const text = (events: ChatEvent[], type: "reasoning" | "content") =>
  events.filter((e) => e.type === type).map((e) => (e as { text: string }).text).join("");
const calls = (events: ChatEvent[]) => events.filter((e) => e.type === "tool_call") as Array<Extract<ChatEvent, { type: "tool_call" }>>;
const finish = (events: ChatEvent[]) => (events[events.length - 1] as Extract<ChatEvent, { type: "done" }>).finishReason;
const user = (t: string) => ({ role: "user" as const, text: t });

function contract(name: string, setup: () => Setup) {
  describe(`chat pipeline contract: ${name}`, () => {
    test("tool_choice auto: the model's thought is reasoning and its call comes whole", async () => {
      const { events } = await answer(setup(), { messages: [user("Weather in Paris?")], tools: [WEATHER_TOOL] });
      expect(text(events, "reasoning")).toBe(WEATHER_REASONING);
      expect(text(events, "content")).toBe("");
      expect(calls(events).map((c) => [c.index, c.name, JSON.parse(c.arguments)])).toEqual([[0, "get_weather", { city: "Paris" }]]);
      expect(finish(events)).toBe("tool_calls");
    });

    test("tools are described to the model in the prompt, and not at all with tool_choice none", async () => {
      const s = setup();
      const withTools = await answer(s, { messages: [user("Weather?")], tools: [WEATHER_TOOL] }, 1);
      expect(s.promptText(withTools.prepared)).toContain("Current weather in a city");
      const none = await answer(s, { messages: [user("Weather?")], tools: [WEATHER_TOOL], toolChoice: { type: "none" } });
      expect(s.promptText(none.prepared)).not.toContain("Current weather in a city");
      // The model writes its call anyway; with tools off it is plain content.
      expect(calls(none.events)).toEqual([]);
      expect(text(none.events, "content")).toContain('<tool_call>\n{"name": "get_weather"');
      expect(finish(none.events)).toBe("stop");
    });

    test("reasoning 'none' leaves the thought in the content", async () => {
      const { events } = await answer(setup(), { messages: [user("Hi")], reasoning: "none" });
      expect(text(events, "reasoning")).toBe("");
      expect(text(events, "content")).toBe(WEATHER_REPLY);
    });

    test("a call cut by max_tokens is not returned; the finish says length", async () => {
      const { events } = await answer(setup(), { messages: [user("Weather?")], tools: [WEATHER_TOOL] }, 12);
      expect(calls(events)).toEqual([]);
      expect(finish(events)).toBe("length");
    });

    test("an earlier call and its result are rendered back into the prompt", async () => {
      const s = setup();
      const messages = pairToolResults(
        [
          { role: "user", text: "Weather in Paris?" },
          { role: "assistant", text: "", toolCalls: [{ id: "c1", name: "get_weather", arguments: { city: "Paris" } }] },
          { role: "tool", callId: "c1", text: "sunny, 21 C" },
        ],
        (i) => `messages[${i}]`,
      );
      const { prepared } = await answer(s, { messages, tools: [WEATHER_TOOL] }, 1);
      const prompt = s.promptText(prepared);
      expect(prompt).toContain("sunny, 21 C");
      // The result is the client's text, not written again as a JSON string.
      expect(prompt).not.toContain('"sunny, 21 C"');
      expect(prompt.indexOf("Paris")).toBeLessThan(prompt.indexOf("sunny, 21 C"));
    });

    test("bad tool requests are refused naming the field, before any slot is taken", async () => {
      const s = setup();
      const refuse = async (req: ChatRequest) => {
        try {
          await prepareChat(s.engine, req);
        } catch (err) {
          expect(err).toBeInstanceOf(InferenceError);
          return (err as InferenceError).param;
        }
        throw new Error("not refused");
      };
      expect(await refuse({ messages: [user("x")], tools: [WEATHER_TOOL], toolChoice: { type: "function", name: "nope" } })).toBe("tool_choice");
      expect(await refuse({ messages: [user("x")], toolChoice: { type: "required" } })).toBe("tool_choice");
      expect(await refuse({ messages: [user("x")], tools: [WEATHER_TOOL, WEATHER_TOOL] })).toBe("tools");
      const bad = { ...WEATHER_TOOL, param: "tools[0].function", parameters: { type: "object", not: { type: "null" } } };
      expect(await refuse({ messages: [user("x")], tools: [bad] })).toBe("tools[0].function");
      expect(s.scheduler.stats().busySlots).toBe(0);
    });

    test("leaving the stream early cancels the request and frees its slot", async () => {
      const s = setup();
      const prepared = await prepareChat(s.engine, { messages: [user("Weather?")], tools: [WEATHER_TOOL] });
      const stream = runChat(s.scheduler, { id: "c", promptTokens: prepared.promptTokens, maxTokens: 200, sampling: GREEDY, stop: prepared.stop, ignoreEos: false, lazyGrammar: prepared.lazyGrammar }, prepared);
      for await (const ev of stream) if (ev.type === "reasoning") break;
      await s.scheduler.whenIdle();
      expect(s.scheduler.stats().busySlots).toBe(0);
    });
  });
}

let fake: Setup;
contract("fake engine", () => {
  const engine = new FakeEngine({ slots: 2, slotContextSize: 2048, batchSize: 512, reply: WEATHER_REPLY, chatSyntax: QWEN_SYNTAX });
  fake = { engine, scheduler: new Scheduler({ engine, maxQueue: 4 }), promptText: (p) => engine.detokenize(p.promptTokens) };
  return fake;
});

let dir: string;
let real: Setup | undefined;
let randomEngine: LlamaEngine | undefined;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "warren-chat-"));
  const engine = await LlamaEngine.load({ modelPath: await makeWeatherModel(dir), slots: 2, slotContextSize: 2048, threads: 1 });
  real = { engine, scheduler: new Scheduler({ engine, maxQueue: 4 }), promptText: (p) => engine.detokenize(p.promptTokens) };
  randomEngine = await LlamaEngine.load({ modelPath: await makeTemplatedModel(dir), slots: 1, slotContextSize: 2048, threads: 1 });
}, 60_000);
afterAll(async () => {
  await real?.engine.dispose();
  await randomEngine?.dispose();
  await rm(dir, { recursive: true, force: true });
});
contract("node-llama-cpp engine, scripted model", () => real!);

describe("real engine only", () => {
  test("node-llama-cpp reads the syntax the fake is given from the template", () => {
    const r = real!.engine.renderChat({ messages: [user("hi")] });
    expect(r.syntax).toEqual(QWEN_SYNTAX);
    expect(real!.engine.info.chat).toEqual({ template: "JinjaTemplate", tools: true, reasoning: true });
  });

  test("required and named calls follow the schema, whatever the weights (random model, several seeds)", async () => {
    const s: Setup = { engine: randomEngine!, scheduler: new Scheduler({ engine: randomEngine!, maxQueue: 4 }), promptText: () => "" };
    for (const toolChoice of [{ type: "required" as const }, { type: "function" as const, name: "set_alarm" }]) {
      for (const seed of [1, 2, 3]) {
        const prepared = await prepareChat(s.engine, { messages: [user(`Wake me up ${seed}`)], tools: [WEATHER_TOOL, ALARM_TOOL], toolChoice, parallelToolCalls: false });
        const events: ChatEvent[] = [];
        const sampling = { ...GREEDY, temperature: 1, seed };
        const req = { id: "r", promptTokens: prepared.promptTokens, maxTokens: 400, sampling, stop: prepared.stop, ignoreEos: false, grammar: prepared.grammar };
        for await (const ev of runChat(s.scheduler, req, prepared)) events.push(ev);
        const got = calls(events);
        expect(got.length).toBe(1);
        expect(finish(events)).toBe("tool_calls");
        if (toolChoice.type === "function") expect(got[0]!.name).toBe("set_alarm");
        const args = JSON.parse(got[0]!.arguments);
        if (got[0]!.name === "set_alarm") expect(isAlarm(args)).toBe(true);
        else expect(typeof args.city).toBe("string");
      }
    }
  });

  test("a call suffix is cut at an end-of-generation token it contains (Llama 3.1's <|eom_id|>)", async () => {
    // The template only lists the markers, so they become control tokens (llama.cpp takes <|eom_id|> and <|eot_id|> as end of generation).
    const { path } = await makeModel({ preset: "tiny", out: join(dir, "eom.gguf"), chatTemplate: "{# <|eom_id|> <|eot_id|> <|start_header_id|> <|end_header_id|> #}{{ messages[0].content }}" });
    const llama31 = await LlamaEngine.load({ modelPath: path, slots: 1, slotContextSize: 2048, threads: 1, chatWrapper: "llama3.1" });
    try {
      expect(llama31.renderChat({ messages: [user("x")] }).syntax.calls).toMatchObject({ prefix: "<function=", paramsPrefix: ">", suffix: "</function>" });
      const s: Setup = { engine: llama31, scheduler: new Scheduler({ engine: llama31, maxQueue: 1 }), promptText: () => "" };
      const { events } = await answer(s, { messages: [user("Weather?")], tools: [WEATHER_TOOL], toolChoice: { type: "required" } }, 300);
      expect(calls(events).map((c) => c.name)).toEqual(["get_weather"]);
      expect(finish(events)).toBe("tool_calls");
    } finally {
      await llama31.dispose();
    }
  });

  test("chat_template_kwargs reach the template (enable_thinking false closes the thought in the prompt)", async () => {
    const on = real!.engine.renderChat({ messages: [user("hi")] });
    const off = real!.engine.renderChat({ messages: [user("hi")], templateKwargs: { enable_thinking: false } });
    expect(real!.engine.detokenize(on.tokens)).not.toContain("</think>");
    expect(real!.engine.detokenize(off.tokens).trimEnd().endsWith("</think>")).toBe(true);
    expect(off.thoughtOpen).toBe(false);
  });
});
