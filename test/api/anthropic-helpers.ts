// Shared by the Anthropic Messages tests: the official SDK over a served app, raw SSE reading,
// and the Qwen-style call/thought syntax the fake engine can pretend to have.
import Anthropic from "@anthropic-ai/sdk";
import type { ChatSyntax } from "../../src/inference/chat/types.ts";
import { FakeEngine, type FakeEngineOptions } from "../../src/inference/engine-fake.ts";
import { setup, type Served, type Setup } from "./helpers.ts";

export function anthropic(s: Served, apiKey = "sk-test"): Anthropic {
  return new Anthropic({ apiKey, baseURL: s.url, fetch: s.fetch, maxRetries: 0, timeout: 30_000 });
}

export const QWEN_SYNTAX: ChatSyntax = {
  calls: { sectionPrefix: "", prefix: '<tool_call>\n{"name": "', paramsPrefix: '", "arguments": ', suffix: "}\n</tool_call>", betweenCalls: "\n", sectionSuffix: "", parallel: true },
  thought: { open: "<think>", close: "</think>" },
};

/** A call in QWEN_SYNTAX, as a model would write it. */
export const qwenCall = (name: string, args: unknown): string => `<tool_call>\n{"name": "${name}", "arguments": ${JSON.stringify(args)}}\n</tool_call>`;

/** A fake engine that records the grammar each request's sampler was given. */
class Recording extends FakeEngine {
  grammars: unknown[] = [];
  override createSampler(...args: Parameters<FakeEngine["createSampler"]>) {
    this.grammars.push(args[2]);
    return super.createSampler(...args);
  }
}

/** A served fake engine that answers every request with `reply`, in the Qwen-style syntax. */
export async function scripted(reply: string, opts: FakeEngineOptions = {}): Promise<{ s: Setup; engine: Recording; client: Anthropic }> {
  const engine = new Recording({ slots: 2, slotContextSize: 2048, reply, chatSyntax: QWEN_SYNTAX, ...opts });
  const s = await setup(engine);
  return { s, engine, client: anthropic(s.served) };
}

interface SseEvent {
  event: string;
  data: any;
}

/** Every event of a raw SSE body, strictly: each must have an event line and JSON data; comments are skipped. */
export function parseSse(text: string): SseEvent[] {
  const out: SseEvent[] = [];
  for (const chunk of text.split("\n\n")) {
    const lines = chunk.split("\n").filter((l) => l !== "" && !l.startsWith(":"));
    if (lines.length === 0) continue;
    const event = /^event: (.+)$/.exec(lines[0]!)?.[1];
    const data = /^data: (.+)$/.exec(lines[1] ?? "")?.[1];
    if (event === undefined || data === undefined || lines.length !== 2) throw new Error(`not an event: ${JSON.stringify(chunk)}`);
    out.push({ event, data: JSON.parse(data) });
  }
  return out;
}

export async function rawMessages(s: Served, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return s.fetch(`${s.url}/v1/messages`, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json", ...headers } });
}

/** The APIError a promise rejects with (fails the test if it resolves or throws something else). */
export async function apiError(p: Promise<unknown>): Promise<InstanceType<typeof Anthropic.APIError>> {
  try {
    await p;
  } catch (err) {
    if (err instanceof Anthropic.APIError) return err;
    throw err;
  }
  throw new Error("expected an APIError");
}
