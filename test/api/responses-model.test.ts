// POST /v1/responses on the real engine: a generated model with a Qwen-style tool template that
// answers every prompt with a scripted thought and get_weather call (test/fixtures), where grammars
// are really enforced; and stories260K for text.format JSON.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type OpenAI from "openai";
import { LlamaEngine } from "../../src/inference/llama/engine.ts";
import { makeModel } from "../../src/models/presets.ts";
import { requireStories } from "../helpers/models.ts";
import { setup, type Setup } from "./helpers.ts";

const FIXTURES = join(import.meta.dir, "../fixtures");
const dir = mkdtempSync(join(tmpdir(), "warren-responses-"));
let scripted: LlamaEngine;
let stories: LlamaEngine;
let s: Setup;
let st: Setup;
beforeAll(async () => {
  const out = join(dir, "weather.gguf");
  const script = JSON.parse(readFileSync(join(FIXTURES, "weather-script.json"), "utf8")) as string[];
  await makeModel({ preset: "tiny", out, chatTemplate: readFileSync(join(FIXTURES, "qwen-tools.jinja"), "utf8"), script });
  scripted = await LlamaEngine.load({ modelPath: out, slots: 2, slotContextSize: 1024, threads: 1 });
  s = await setup(scripted);
  stories = await LlamaEngine.load({ modelPath: requireStories(), slots: 1, slotContextSize: 256, threads: 1 });
  st = await setup(stories);
  // Writing and loading two models takes a few seconds on a small machine.
}, 60_000);
afterAll(async () => {
  await s?.served.close();
  await st?.served.close();
  await scripted?.dispose();
  await stories?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const closed = (properties: Record<string, unknown>) => ({ type: "object", properties, required: Object.keys(properties), additionalProperties: false });
const weather = { type: "function" as const, name: "get_weather", description: "Weather for a city", parameters: closed({ city: { type: "string", enum: ["Paris", "Rome"] } }), strict: true };
const time = { type: "function" as const, name: "get_time", description: "Time in a zone", parameters: closed({ zone: { type: "string", enum: ["UTC", "CET"] } }), strict: true };
const base = { model: "scripted", input: "What is the weather in Paris?", tools: [weather, time], max_output_tokens: 100 };

const calls = (r: OpenAI.Responses.Response) => r.output.filter((i): i is OpenAI.Responses.ResponseFunctionToolCall => i.type === "function_call");

describe("the scripted tool model", () => {
  test("auto: the thought as a reasoning item, then the get_weather call; the stream builds the same items", async () => {
    const r = await s.client.responses.create({ ...base, temperature: 0 });
    expect(r.status).toBe("completed");
    expect(r.output.map((i) => i.type)).toEqual(["reasoning", "function_call"]);
    expect((r.output[0] as OpenAI.Responses.ResponseReasoningItem).content).toEqual([{ type: "reasoning_text", text: "The user asks about the weather in Paris, so I call the tool." }]);
    expect(calls(r)[0]!.name).toBe("get_weather");
    expect(JSON.parse(calls(r)[0]!.arguments)).toEqual({ city: "Paris" });
    // Script pieces are single tokens: <think> and four pieces of thought come before its last character.
    expect(r.usage!.output_tokens_details.reasoning_tokens).toBe(5);
    expect(r.usage!.output_tokens).toBeGreaterThan(5);

    const stream = s.client.responses.stream({ ...base, temperature: 0 });
    const final = await stream.finalResponse();
    expect(final.output.map((i) => i.type)).toEqual(["reasoning", "function_call"]);
    expect((final.output[0] as OpenAI.Responses.ResponseReasoningItem).content).toEqual((r.output[0] as OpenAI.Responses.ResponseReasoningItem).content!);
    expect(calls(final)[0]!.arguments).toBe(calls(r)[0]!.arguments);
    expect(final.usage!.output_tokens).toBe(r.usage!.output_tokens);
  });

  test("a named function is forced, whatever the script says, and its arguments follow the schema", async () => {
    for (const temperature of [0, 1.5]) {
      const r = await s.client.responses.create({ ...base, temperature, tool_choice: { type: "function", name: "get_time" } });
      expect(r.status).toBe("completed");
      expect(calls(r)).toHaveLength(1);
      expect(calls(r)[0]!.name).toBe("get_time");
      const args = JSON.parse(calls(r)[0]!.arguments);
      expect(Object.keys(args)).toEqual(["zone"]);
      expect(["UTC", "CET"]).toContain(args.zone);
    }
  });

  test("required: a call to one of the tools, fitting that tool's schema, with no thought first", async () => {
    const r = await s.client.responses.create({ ...base, temperature: 0, tool_choice: "required", parallel_tool_calls: false });
    expect(r.output.map((i) => i.type)).toEqual(["function_call"]);
    const [call] = calls(r);
    const args = JSON.parse(call!.arguments);
    if (call!.name === "get_weather") expect(["Paris", "Rome"]).toContain(args.city);
    else expect(["UTC", "CET"]).toContain(args.zone);
    expect(r.parallel_tool_calls).toBe(false);
  });
});

describe("text.format on stories260K", () => {
  const schema = closed({ ok: { type: "boolean" }, mood: { enum: ["happy", "sad"] } });

  test("json_schema output parses and fits the schema, streamed or not", async () => {
    const params = { model: "stories", input: "How do you feel?", max_output_tokens: 64, temperature: 0, text: { format: { type: "json_schema" as const, name: "feeling", schema, strict: true } } };
    const r = await st.client.responses.create(params);
    expect(r.status).toBe("completed");
    const value = JSON.parse(r.output_text);
    expect(Object.keys(value).sort()).toEqual(["mood", "ok"]);
    expect(typeof value.ok).toBe("boolean");
    expect(["happy", "sad"]).toContain(value.mood);
    expect(r.text?.format).toMatchObject({ type: "json_schema", name: "feeling" });
    const final = await st.client.responses.stream(params).finalResponse();
    expect(final.output_text).toBe(r.output_text);
  });
});
