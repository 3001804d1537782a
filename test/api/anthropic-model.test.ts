// The Anthropic Messages API on the real engine (node-llama-cpp): a generated model with a
// Qwen-style tool template that answers with a scripted thought and get_weather call, the same
// template on random weights, and stories260K (no template: the plain transcript, no tools).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RenderInput } from "../../src/inference/chat/types.ts";
import { LlamaEngine } from "../../src/inference/llama/engine.ts";
import { makeModel } from "../../src/models/presets.ts";
import { requireStories, REPO_ROOT } from "../helpers/models.ts";
import { setup, type Setup } from "./helpers.ts";
import { anthropic, apiError } from "./anthropic-helpers.ts";

const template = readFileSync(join(REPO_ROOT, "test/fixtures/qwen-tools.jinja"), "utf8");
const script = JSON.parse(readFileSync(join(REPO_ROOT, "test/fixtures/weather-script.json"), "utf8")) as string[];

interface Served {
  engine: LlamaEngine;
  s: Setup;
  client: Anthropic;
  /** Text of every prompt the template rendered, in order. */
  prompts: string[];
}

let dir: string;
const served: Served[] = [];
async function serveModel(path: string, chatTemplate?: string): Promise<Served> {
  const engine = await LlamaEngine.load({ modelPath: path, slots: 1, slotContextSize: 1024, threads: 1, chatTemplate });
  const prompts: string[] = [];
  const render = engine.renderChat.bind(engine);
  engine.renderChat = (input: RenderInput) => {
    const r = render(input);
    prompts.push(engine.detokenize(r.tokens));
    return r;
  };
  const s = await setup(engine);
  const x = { engine, s, client: anthropic(s.served), prompts };
  served.push(x);
  return x;
}

let weather: Served;
let random: Served;
let stories: Served;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "warren-anthropic-"));
  const scripted = await makeModel({ preset: "tiny", out: join(dir, "weather.gguf"), chatTemplate: template, script });
  const plain = await makeModel({ preset: "tiny", out: join(dir, "random.gguf"), chatTemplate: template });
  weather = await serveModel(scripted.path);
  random = await serveModel(plain.path);
  stories = await serveModel(requireStories());
}, 60_000);
afterAll(async () => {
  for (const x of served) {
    await x.s.served.close();
    await x.engine.dispose();
  }
  rmSync(dir, { recursive: true, force: true });
});

const user = (content: string) => [{ role: "user" as const, content }];
const getWeather = { name: "get_weather", description: "Current weather", input_schema: { type: "object" as const, properties: { city: { type: "string" } }, required: ["city"] } };
/** Bounded: enum and boolean only, so a forced call always completes well within max_tokens. */
const setMood = {
  name: "set_mood",
  input_schema: { type: "object" as const, properties: { mood: { enum: ["happy", "sad"] }, ok: { type: "boolean" } }, required: ["mood", "ok"], additionalProperties: false },
};
const withoutIds = (content: Anthropic.ContentBlock[]) => content.map((b) => (b.type === "tool_use" ? { ...b, id: "" } : b));

function expectMood(input: unknown): void {
  const v = input as { mood: unknown; ok: unknown };
  expect(Object.keys(v).sort()).toEqual(["mood", "ok"]);
  expect(["happy", "sad"]).toContain(v.mood as string);
  expect(typeof v.ok).toBe("boolean");
}

describe("scripted tool model (Qwen-style template)", () => {
  const params = { model: "qwen-test", max_tokens: 200, temperature: 0, messages: user("What is the weather in Paris?"), tools: [getWeather] };

  test("the scripted thought and call: a thinking block and a tool_use, streamed or not", async () => {
    const m = await weather.client.messages.create({ ...params, thinking: { type: "enabled", budget_tokens: 1024 }, max_tokens: 2000 });
    expect(m.stop_reason).toBe("tool_use");
    expect(m.content).toHaveLength(2);
    expect(m.content[0]).toEqual({ type: "thinking", thinking: "The user asks about the weather in Paris, so I call the tool.", signature: "" });
    expect(m.content[1]).toMatchObject({ type: "tool_use", name: "get_weather", input: { city: "Paris" } });
    const final = await weather.client.messages.stream(params).finalMessage();
    expect(withoutIds(final.content) as unknown).toEqual(withoutIds(m.content));
    expect(final.usage.output_tokens).toBe(m.usage.output_tokens);
    const counted = await weather.client.messages.countTokens({ model: "x", messages: params.messages, tools: params.tools });
    expect(final.usage.input_tokens + final.usage.cache_read_input_tokens!).toBe(counted.input_tokens);
  });

  test("the tool_result goes back through the template's own tool-response syntax", async () => {
    const first = await weather.client.messages.create(params);
    const call = first.content.find((b) => b.type === "tool_use")!;
    await weather.client.messages.create({
      ...params,
      messages: [...params.messages, { role: "assistant", content: first.content }, { role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: "18C and sunny" }] }],
    });
    const prompt = weather.prompts.at(-1)!;
    expect(prompt).toContain('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>');
    // node-llama-cpp writes a text result as a JSON string (quoted); the result is there either way.
    expect(prompt).toMatch(/<tool_response>\n"?18C and sunny"?\s*\n<\/tool_response>/);
  });

  test("a forced tool the script does not call: the grammar writes a call that follows its schema", async () => {
    for (const temperature of [0, 1]) {
      const m = await weather.client.messages.create({ ...params, temperature, tools: [getWeather, setMood], tool_choice: { type: "tool", name: "set_mood" } } as Anthropic.MessageCreateParamsNonStreaming);
      expect(m.stop_reason).toBe("tool_use");
      expect(m.content).toHaveLength(1);
      expect(m.content[0]).toMatchObject({ type: "tool_use", name: "set_mood" });
      expectMood((m.content[0] as Anthropic.ToolUseBlock).input);
    }
  });
});

describe("random tiny model with the same template", () => {
  test("tool_choice any: one call whose input follows the schema, streamed or not", async () => {
    const params = { model: "x", max_tokens: 300, temperature: 0, messages: user("How do you feel?"), tools: [setMood], tool_choice: { type: "any" as const } };
    const m = await random.client.messages.create(params);
    expect(m.stop_reason).toBe("tool_use");
    const calls = m.content.filter((b) => b.type === "tool_use");
    expect(calls.length).toBeGreaterThanOrEqual(1);
    for (const c of calls) expectMood(c.input);
    const final = await random.client.messages.stream(params).finalMessage();
    expect(withoutIds(final.content) as unknown).toEqual(withoutIds(m.content));
  });
});

describe("stories260K (plain transcript)", () => {
  const params = { model: "stories", max_tokens: 40, temperature: 0, messages: user("Tell me a story.") };

  test("text reply, streamed equal to non-streamed; count_tokens equals input_tokens", async () => {
    const counted = await stories.client.messages.countTokens({ model: "x", messages: params.messages });
    const m = await stories.client.messages.create(params);
    expect(m.usage.input_tokens + m.usage.cache_read_input_tokens!).toBe(counted.input_tokens);
    expect(stories.prompts.at(-1)!.trimStart()).toBe("User: Tell me a story.\nAssistant:");
    const text = (m.content[0] as Anthropic.TextBlock).text;
    expect(text.length).toBeGreaterThan(20);
    const final = await stories.client.messages.stream(params).finalMessage();
    expect(final.content as unknown).toEqual(m.content);
    expect(final.stop_reason).toBe(m.stop_reason);
  });

  test("a stop sequence met inside real tokens is reported and cut", async () => {
    const full = ((await stories.client.messages.create(params)).content[0] as Anthropic.TextBlock).text;
    const words = full.split(" ").filter((w) => w.length >= 3);
    const stop = words[2]!.slice(1);
    const m = await stories.client.messages.create({ ...params, stop_sequences: ["zzz", stop] });
    expect(m.stop_reason).toBe("stop_sequence");
    expect(m.stop_sequence).toBe(stop);
    expect(m.content as unknown).toEqual([{ type: "text", text: full.slice(0, full.indexOf(stop)) }]);
  });

  test("tools: 400 naming tools (the plain transcript has no tool-call syntax)", async () => {
    const e = await apiError(stories.client.messages.create({ ...params, tools: [getWeather] }));
    expect(e).toBeInstanceOf(Anthropic.BadRequestError);
    expect(e.apiMessage).toStartWith("tools: ");
  });
});
