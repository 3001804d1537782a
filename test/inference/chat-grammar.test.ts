// Tool-call grammars: built as text, then compiled by llama.cpp (through the real engine) and
// checked to accept exactly the calls the parser reads.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { callGrammar, callTrigger, literal, notContaining, prefixRules, stripStopTail, tightenNumbers, trimSyntax } from "../../src/inference/chat/grammar.ts";
import type { ChatSyntax } from "../../src/inference/chat/types.ts";
import { LlamaEngine } from "../../src/inference/llama/engine.ts";
import { makeModel } from "../../src/models/presets.ts";
import { QWEN_SYNTAX } from "../helpers/chat.ts";

/** The Qwen-style syntax with its section suffix before trimSyntax cuts it at the end of the turn. */
const QWEN: ChatSyntax = { ...QWEN_SYNTAX, calls: { ...QWEN_SYNTAX.calls!, sectionSuffix: "<|im_end|>\n<|im_start|>user" } };
/** The Qwen template's end of turn: the calls' section suffix is cut there. */
const STOPS = ["<|im_end|>\n"];
const QWEN_TRIMMED = trimSyntax(QWEN, STOPS);
const MISTRAL: ChatSyntax = {
  calls: { sectionPrefix: "[TOOL_CALLS][", prefix: '{"name": "', paramsPrefix: '", "arguments": ', suffix: "}", betweenCalls: ", ", sectionSuffix: "]", parallel: true },
};

describe("grammar text", () => {
  test("the trigger is the head of the call syntax, up to its first whitespace", () => {
    expect(callTrigger(QWEN)).toEqual({ trigger: "<tool_call>", rest: '\n{"name": "' });
    expect(callTrigger(MISTRAL)).toEqual({ trigger: '[TOOL_CALLS][{"name":', rest: ' "' });
    const llama: ChatSyntax = { calls: { ...MISTRAL.calls!, sectionPrefix: "", prefix: "<function=" } };
    expect(callTrigger(llama)).toEqual({ trigger: "<function=", rest: "" });
  });

  test("literals escape quotes, backslashes and control characters", () => {
    expect(literal('a"b\\c\nd\te\u0001é')).toBe('"a\\"b\\\\c\\nd\\te\\x01é"');
  });

  test("rules are renamed everywhere but inside literals, classes, braces and comments", () => {
    const g = 'root ::= item ("," item){0,3} # item list\nitem ::= "root-item" [a-z]{2} ws\nws ::= [ \\t]*';
    expect(prefixRules(g, "t0-")).toBe('t0-root ::= t0-item ("," t0-item){0,3} # item list\nt0-item ::= "root-item" [a-z]{2} t0-ws\nt0-ws ::= [ \\t]*');
  });

  test("a schema grammar's stop newlines are cut from its root only", () => {
    const g = 'root ::= "{" x "}" "\\n\\n\\n\\n" [\\n]*\nx ::= "\\n\\n\\n\\n" [\\n]*';
    expect(stripStopTail(g)).toBe('root ::= "{" x "}"\nx ::= "\\n\\n\\n\\n" [\\n]*');
  });

  test("integers lose their exponent, other numbers keep two exponent digits at most", () => {
    const g = [
      'integer-number-rule ::= "-"? ("0" | [1-9] [0-9]{0,15}) ([eE] [-+]? ("0" | [1-9] [0-9]{0,15}))?',
      'fractional-number-rule ::= "-"? ("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? ("0" | [1-9] [0-9]{0,15}))?',
    ].join("\n");
    expect(tightenNumbers(g)).toBe(
      [
        'integer-number-rule ::= "-"? ("0" | [1-9] [0-9]{0,15})',
        'fractional-number-rule ::= "-"? ("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})?',
      ].join("\n"),
    );
  });

  test("suffixes are cut where the turn ends (a template stop string)", () => {
    const qwen = trimSyntax(QWEN, STOPS);
    expect(qwen.calls!.sectionSuffix).toBe("");
    const g = callGrammar({ syntax: qwen, tools: [{ name: "f" }], parallel: true, mode: "lazy" });
    expect(g.split("\n")[0]).toBe('root ::= "\\n{\\"name\\": \\"" call ( "\\n<tool_call>\\n{\\"name\\": \\"" call )*');
    const llama32: ChatSyntax = { calls: { sectionPrefix: "", prefix: '{"name": "', paramsPrefix: '", "parameters": ', suffix: "}<|eot_id|>", betweenCalls: "", sectionSuffix: "", parallel: false } };
    expect(trimSyntax(llama32, ["<|eot_id|>"]).calls!.suffix).toBe("}");
  });

  test("one call only where the syntax has no way to write several", () => {
    const single: ChatSyntax = { calls: { ...QWEN_TRIMMED.calls!, parallel: false } };
    expect(callGrammar({ syntax: single, tools: [{ name: "f" }], parallel: true, mode: "lazy" }).split("\n")[0]).toBe('root ::= "\\n{\\"name\\": \\"" call');
  });
});

describe("grammars compiled by llama.cpp", () => {
  let dir: string;
  let engine: LlamaEngine;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "warren-grammar-"));
    const { path } = await makeModel({ preset: "tiny", out: join(dir, "tiny.gguf") });
    engine = await LlamaEngine.load({ modelPath: path, slots: 1, slotContextSize: 256, threads: 1 });
  }, 60_000);
  afterAll(async () => {
    await engine?.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  const weatherSchema = {
    type: "object",
    properties: { city: { type: "string" }, unit: { enum: ["c", "f"] }, days: { type: "integer" } },
    required: ["city", "unit", "days"],
  };

  /** Whether the compiled grammar accepts `text` as a complete answer. */
  async function accepts(gbnf: string, text: string): Promise<boolean> {
    const grammar = (await engine.createGrammar(gbnf)) as { _grammar: { isTextCompatible(t: string): boolean } };
    return grammar._grammar.isTextCompatible(text);
  }

  async function tools() {
    return [
      { name: "get_weather", argsGbnf: await engine.jsonSchemaGbnf(weatherSchema) },
      { name: "get_time", argsGbnf: await engine.jsonSchemaGbnf({ type: "object", properties: { zone: { type: "string" } } }) },
      { name: "ping" },
    ];
  }
  const call = (name: string, args: string) => `<tool_call>\n{"name": "${name}", "arguments": ${args}}\n</tool_call>`;
  const paris = '{"city": "Paris", "unit": "c", "days": 3}';

  test("forced: exactly calls that follow each tool's schema", async () => {
    const g = callGrammar({ syntax: QWEN_TRIMMED, tools: await tools(), parallel: true, mode: "forced" });
    expect(await accepts(g, call("get_weather", paris))).toBe(true);
    expect(await accepts(g, `${call("get_weather", paris)}\n${call("ping", "{}")}`)).toBe(true);
    expect(await accepts(g, call("get_weather", '{"city": "Paris", "unit": "k", "days": 3}'))).toBe(false);
    expect(await accepts(g, call("get_weather", '{"city": "Paris", "unit": "c", "days": "3"}'))).toBe(false);
    expect(await accepts(g, call("get_weather", '{"city": "Paris", "unit": "c", "days": 3e999}'))).toBe(false);
    expect(await accepts(g, call("unknown", "{}"))).toBe(false);
    expect(await accepts(g, `Sure! ${call("ping", "{}")}`)).toBe(false);
  });

  test("forced, one call only: a second call is refused", async () => {
    const g = callGrammar({ syntax: QWEN_TRIMMED, tools: await tools(), parallel: false, mode: "forced" });
    expect(await accepts(g, call("ping", "{}"))).toBe(true);
    expect(await accepts(g, `${call("ping", "{}")}\n${call("ping", "{}")}`)).toBe(false);
  });

  test("forced after an open thought: any reasoning, its close, then the call", async () => {
    const g = callGrammar({ syntax: QWEN_TRIMMED, tools: await tools(), parallel: false, mode: "forced", thoughtOpen: true });
    expect(await accepts(g, `I need the <b>time</b> first.\n</think>\n\n${call("get_time", '{"zone": "UTC"}')}`)).toBe(true);
    expect(await accepts(g, call("get_time", '{"zone": "UTC"}'))).toBe(false);
  });

  test("lazy: the rest of a call after the trigger", async () => {
    const g = callGrammar({ syntax: QWEN_TRIMMED, tools: await tools(), parallel: true, mode: "lazy" });
    const full = call("get_time", '{"zone": "UTC"}');
    expect(await accepts(g, full.slice("<tool_call>".length))).toBe(true);
    expect(await accepts(g, full)).toBe(false);
  });

  test("Mistral-style sections: calls in a JSON list", async () => {
    const g = callGrammar({ syntax: MISTRAL, tools: await tools(), parallel: true, mode: "forced" });
    expect(await accepts(g, `[TOOL_CALLS][{"name": "ping", "arguments": {}}, {"name": "get_time", "arguments": {"zone": "x"}}]`)).toBe(true);
    expect(await accepts(g, `[TOOL_CALLS][{"name": "ping", "arguments": {}}`)).toBe(false);
  });

  test("notContaining: a body that does not close early", async () => {
    const g = `root ::= ${notContaining("</think>")} "</think>"`;
    expect(await accepts(g, "a < b and </th are fine</think>")).toBe(true);
    expect(await accepts(g, "no close")).toBe(false);
  });
});
