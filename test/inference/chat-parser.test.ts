// The chat answer parser, fed each answer whole, split at every offset, and character by
// character: the events must not depend on how the text was cut into tokens.
import { describe, expect, test } from "bun:test";
import { ChatParser, JsonScanner, type ParserOptions } from "../../src/inference/chat/parser.ts";
import type { ChatEvent, ChatSyntax } from "../../src/inference/chat/types.ts";
import { QWEN_SYNTAX } from "../helpers/chat.ts";

/** The Qwen-style syntax (as the engine reads it from test/fixtures/qwen-tools.jinja). */
const QWEN = QWEN_SYNTAX;

const LLAMA31: ChatSyntax = {
  calls: { sectionPrefix: "", prefix: "<function=", paramsPrefix: ">", suffix: "</function>", betweenCalls: "", sectionSuffix: "", parallel: false },
};

type Ev = Exclude<ChatEvent, { type: "started" | "done" }>;

/** Merges neighbouring text events of one kind, so cuts that split a run do not count as differences. */
function merged(events: Ev[]): Ev[] {
  const out: Ev[] = [];
  for (const e of events) {
    const last = out[out.length - 1];
    if (last && last.type === e.type && e.type !== "tool_call") (last as { text: string }).text += (e as { text: string }).text;
    else out.push({ ...e });
  }
  return out;
}

function run(opts: ParserOptions, pieces: string[]): { events: Ev[]; inCall: boolean } {
  const p = new ChatParser(opts);
  const events: Ev[] = [];
  for (const piece of pieces) events.push(...p.push(piece));
  events.push(...p.end());
  return { events: merged(events), inCall: p.inCall };
}

/** The same answer cut three ways; all must agree. */
function parseAllWays(opts: ParserOptions, text: string): { events: Ev[]; inCall: boolean } {
  const whole = run(opts, [text]);
  const chars = run(opts, [...text]);
  expect(chars).toEqual(whole);
  for (let i = 1; i < text.length; i++) expect(run(opts, [text.slice(0, i), text.slice(i)])).toEqual(whole);
  return whole;
}

const opts = (over: Partial<ParserOptions> = {}): ParserOptions => ({ syntax: QWEN, reasoning: true, thoughtOpen: false, tools: ["get_weather", "get_time"], ...over });

describe("ChatParser", () => {
  test("without any syntax the text passes through exactly, whitespace included", () => {
    const text = "  Hello <think> there\n\n";
    expect(parseAllWays({ syntax: {}, reasoning: true, thoughtOpen: false, tools: [] }, text).events).toEqual([{ type: "content", text }]);
  });

  test("a thought becomes reasoning; whitespace around the delimiters is dropped", () => {
    const r = parseAllWays(opts({ tools: [] }), "<think>\nI should greet.\n</think>\n\nHello!");
    expect(r.events).toEqual([
      { type: "reasoning", text: "I should greet." },
      { type: "content", text: "Hello!" },
    ]);
  });

  test("reasoning 'none' leaves the thought in the content", () => {
    const text = "<think>x</think>Hi";
    expect(parseAllWays(opts({ reasoning: false, tools: [] }), text).events).toEqual([{ type: "content", text }]);
  });

  test("a thought the template opened: the answer starts as reasoning", () => {
    const r = parseAllWays(opts({ thoughtOpen: true, tools: [] }), "plan it</think>Done.");
    expect(r.events).toEqual([
      { type: "reasoning", text: "plan it" },
      { type: "content", text: "Done." },
    ]);
  });

  test("a thought never closed stays reasoning to the end", () => {
    expect(parseAllWays(opts({ tools: [] }), "<think>still thinking").events).toEqual([{ type: "reasoning", text: "still thinking" }]);
  });

  test("text, then a tool call: the call comes whole, after the text", () => {
    const text = 'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": [1, 2]}}\n</tool_call>';
    const r = parseAllWays(opts(), text);
    expect(r.events).toEqual([
      { type: "content", text: "Let me check." },
      { type: "tool_call", index: 0, name: "get_weather", arguments: '{"city": "Paris", "days": [1, 2]}' },
    ]);
    expect(r.inCall).toBe(false);
  });

  test("reasoning then parallel calls; braces and quotes inside strings do not end the arguments", () => {
    const call = (name: string, args: string) => `<tool_call>\n{"name": "${name}", "arguments": ${args}}\n</tool_call>`;
    const a1 = '{"city": "a}\\"b{"}';
    const a2 = '{"zone": "UTC"}';
    const r = parseAllWays(opts(), `<think>two calls</think>\n${call("get_weather", a1)}\n${call("get_time", a2)}`);
    expect(r.events).toEqual([
      { type: "reasoning", text: "two calls" },
      { type: "tool_call", index: 0, name: "get_weather", arguments: a1 },
      { type: "tool_call", index: 1, name: "get_time", arguments: a2 },
    ]);
    expect(JSON.parse((r.events[1] as { arguments: string }).arguments)).toEqual({ city: 'a}"b{' });
  });

  test("a call cut short (max_tokens) is never returned, and the parser says so", () => {
    const r = parseAllWays(opts(), 'ok <tool_call>\n{"name": "get_weather", "arguments": {"city": "Pa');
    expect(r.events).toEqual([{ type: "content", text: "ok" }]);
    expect(r.inCall).toBe(true);
  });

  test("text after the trigger that is not the syntax goes back as content, never as a call", () => {
    const text = "see <tool_call> in the docs";
    expect(parseAllWays(opts(), text).events).toEqual([{ type: "content", text: "see <tool_call> in the docs" }]);
    const unknown = '<tool_call>\n{"name": "rm_rf", "arguments": {}}\n</tool_call>';
    expect(parseAllWays(opts(), unknown).events).toEqual([{ type: "content", text: unknown }]);
  });

  test("a partial delimiter at the end of a piece is held back, then released when it is not one", () => {
    const p = new ChatParser(opts());
    expect(p.push("Hi <thi")).toEqual([{ type: "content", text: "Hi" }]);
    expect(p.push("s is fine")).toEqual([{ type: "content", text: " <this is fine" }]);
    expect(p.end()).toEqual([]);
  });

  test("with tools but no call, the content is kept whole, trailing whitespace included", () => {
    expect(parseAllWays(opts(), "Plain answer.\n").events).toEqual([{ type: "content", text: "Plain answer.\n" }]);
  });

  test("Llama 3.1 style <function=NAME>{...}</function>", () => {
    const r = parseAllWays(opts({ syntax: LLAMA31 }), 'x<function=get_time>{"zone": "CET"}</function>');
    expect(r.events).toEqual([
      { type: "content", text: "x" },
      { type: "tool_call", index: 0, name: "get_time", arguments: '{"zone": "CET"}' },
    ]);
  });

  test("calls are not parsed when no tool is callable", () => {
    const text = '<tool_call>\n{"name": "get_weather", "arguments": {}}\n</tool_call>';
    expect(parseAllWays(opts({ tools: [] }), text).events).toEqual([{ type: "content", text }]);
  });
});

describe("JsonScanner", () => {
  const end = (text: string, cuts: number[] = []) => {
    const s = new JsonScanner();
    let offset = 0;
    let at = -1;
    for (const piece of [...cuts, text.length].map((c, i, a) => text.slice(i === 0 ? 0 : a[i - 1], c))) {
      const r = s.feed(piece);
      if (r === -2) return -2;
      if (r >= 0) {
        at = offset + r;
        break;
      }
      offset += piece.length;
    }
    return at;
  };

  test("finds the end of objects, arrays, strings and scalars", () => {
    expect(end('{"a": {"b": [1, "]}"]}} tail')).toBe(23);
    expect(end('  ["x", {"y": null}]}')).toBe(20);
    expect(end('"a\\"b" rest')).toBe(6);
    expect(end("-12.5e3}")).toBe(7);
    expect(end('{"a": "\\\\"}x', [3, 8])).toBe(11);
    expect(end('{"a": 1')).toBe(-1);
    expect(end("}")).toBe(-2);
  });
});
