// Fixtures for chat pipeline tests: the Qwen-style tool template, the scripted weather reply, the
// syntax node-llama-cpp reads from that template (for the fake engine), and models made from them.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ChatSyntax, ToolSpec } from "../../src/inference/chat/types.ts";
import { makeModel } from "../../src/models/presets.ts";
import { REPO_ROOT } from "./models.ts";

export const QWEN_TEMPLATE_PATH = join(REPO_ROOT, "test/fixtures/qwen-tools.jinja");
const QWEN_TEMPLATE = readFileSync(QWEN_TEMPLATE_PATH, "utf8");
const WEATHER_SCRIPT_PATH = join(REPO_ROOT, "test/fixtures/weather-script.json");
/** A thought, then a get_weather call for Paris, in the template's syntax. */
const WEATHER_SCRIPT: string[] = JSON.parse(readFileSync(WEATHER_SCRIPT_PATH, "utf8"));
export const WEATHER_REPLY = WEATHER_SCRIPT.join("");
export const WEATHER_REASONING = "The user asks about the weather in Paris, so I call the tool.";

/** What the engine reads from QWEN_TEMPLATE (its section suffix starts with <|im_end|>, an end-of-generation token, so it is cut): checked in chat-pipeline.test.ts. */
export const QWEN_SYNTAX: ChatSyntax = {
  calls: {
    sectionPrefix: "",
    prefix: '<tool_call>\n{"name": "',
    paramsPrefix: '", "arguments": ',
    suffix: "}\n</tool_call>",
    betweenCalls: "\n",
    sectionSuffix: "",
    parallel: true,
  },
  thought: { open: "<think>", close: "</think>" },
};

/** A tool with its schema typed as the object it is (ToolSpec takes any JSON, as requests send it). */
type SchemaTool = ToolSpec & { parameters: Record<string, unknown> };

export const WEATHER_TOOL: SchemaTool = {
  name: "get_weather",
  description: "Current weather in a city",
  parameters: { type: "object", properties: { city: { type: "string", maxLength: 40 } }, required: ["city"] },
};

/** A schema with room to go wrong: the grammar must hold a forced call to it. */
export const ALARM_TOOL: SchemaTool = {
  name: "set_alarm",
  description: "Set an alarm",
  parameters: {
    type: "object",
    properties: {
      hour: { type: "integer" },
      label: { enum: ["wake", "meeting", "tea"] },
      days: { type: "array", items: { type: "string", maxLength: 8 }, maxItems: 3 },
      loud: { type: "boolean" },
    },
    required: ["hour", "label", "days", "loud"],
  },
};

/** Checks `args` against ALARM_TOOL's schema by hand (independent of the grammar that made it). */
export function isAlarm(args: unknown): boolean {
  const a = args as Record<string, unknown>;
  return (
    typeof a === "object" &&
    a !== null &&
    Object.keys(a).sort().join() === "days,hour,label,loud" &&
    Number.isInteger(a.hour) &&
    ["wake", "meeting", "tea"].includes(a.label as string) &&
    Array.isArray(a.days) &&
    (a.days as unknown[]).length <= 3 &&
    (a.days as unknown[]).every((d) => typeof d === "string" && d.length <= 8) &&
    typeof a.loud === "boolean"
  );
}

/** A tiny model with the Qwen-style template that answers every prompt with the weather script. */
export async function makeWeatherModel(dir: string): Promise<string> {
  return (await makeModel({ preset: "tiny", out: join(dir, "weather.gguf"), chatTemplate: QWEN_TEMPLATE, script: WEATHER_SCRIPT })).path;
}

/** A tiny random-weight model with the Qwen-style template (it calls tools only when forced). */
export async function makeTemplatedModel(dir: string): Promise<string> {
  return (await makeModel({ preset: "tiny", out: join(dir, "templated.gguf"), chatTemplate: QWEN_TEMPLATE })).path;
}
