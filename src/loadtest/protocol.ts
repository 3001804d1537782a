// Request bodies and response interpretation for Warren's native API and the OpenAI API.
// Token counts are taken only from what the server reports (native: the final event's `tokens` /
// `prompt_tokens`; OpenAI: `usage`); nothing here estimates them from text.

import { fail, type LoadOptions, type Usage } from "./types.ts";

/** What one SSE `data` payload meant. */
type StreamStep = "content" | "none" | "done";

interface StreamDecoder {
  /** Throws RequestFailure for error events and unreadable payloads. */
  onData(data: string): StreamStep;
  /** Called at end of stream; throws when the stream ended before the server said it was done. */
  finish(): Usage;
}

export interface Adapter {
  readonly path: string;
  body(prompt: string): Record<string, unknown>;
  stream(): StreamDecoder;
  /** Interprets a complete (non-streamed) JSON body of a 2xx response. */
  full(json: unknown): Usage;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const numOrNull = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const strOrNull = (v: unknown): string | null => (typeof v === "string" ? v : null);

export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return fail("malformed", `invalid JSON in ${what}`, `invalid JSON in ${what}: ${text.slice(0, 120)}`);
  }
}

/** The `{code, message}` of an error object, in either API's shape. */
function errorOf(v: unknown): { code: string; message: string } {
  if (typeof v === "string") return { code: "error", message: v };
  const e = isObj(v) ? v : {};
  const code = strOrNull(e.code) ?? strOrNull(e.type) ?? (typeof e.code === "number" ? String(e.code) : "error");
  return { code, message: strOrNull(e.message) ?? JSON.stringify(v) };
}

/** One line for an error response body: the API's `code: message` when it is JSON, else the text. */
export function describeErrorBody(text: string): string {
  try {
    const v: unknown = JSON.parse(text);
    if (isObj(v) && v.error !== undefined) {
      const e = errorOf(v.error);
      return `${e.code}: ${e.message}`;
    }
  } catch {
    // not JSON: the raw text says it
  }
  return text.replace(/\s+/g, " ").trim();
}

export function createAdapter(o: LoadOptions): Adapter {
  return o.api === "native" ? nativeAdapter(o) : openaiAdapter(o);
}

function nativeAdapter(o: LoadOptions): Adapter {
  return {
    path: "/generate",
    body: (prompt) => ({
      prompt,
      max_tokens: o.maxTokens,
      temperature: o.temperature,
      stream: o.stream,
      ...(o.ignoreEos ? { ignore_eos: true } : {}),
    }),
    stream: () => new NativeStream(),
    full(json) {
      if (!isObj(json)) return fail("malformed", "response is not a JSON object");
      if (json.success === false) {
        const e = errorOf(json.error);
        return fail("server_error", e.code, e.message);
      }
      if (!isObj(json.data)) return fail("malformed", "no data object in response");
      return nativeUsage(json.data);
    },
  };
}

function nativeUsage(d: Obj): Usage {
  const finishReason = strOrNull(d.finish_reason);
  // A generation the server itself ended as failed is a failed request, whatever the status was.
  if (finishReason === "error" || finishReason === "cancelled") fail("server_error", `finish_reason ${finishReason}`);
  return { tokens: numOrNull(d.tokens), promptTokens: numOrNull(d.prompt_tokens), finishReason };
}

class NativeStream implements StreamDecoder {
  private usage: Usage | null = null;
  private tokensSoFar = 0;

  onData(data: string): StreamStep {
    const ev = parseJson(data, "stream event");
    if (!isObj(ev)) return fail("malformed", "stream event is not an object");
    if (ev.error !== undefined) {
      const e = errorOf(ev.error);
      return fail("server_error", e.code, e.message);
    }
    if (ev.done === true) {
      this.usage = nativeUsage(ev);
      return "done";
    }
    if (this.usage) return "none";
    if (typeof ev.text !== "string") return fail("malformed", "stream event without text");
    const tokens = numOrNull(ev.tokens) ?? this.tokensSoFar;
    const grew = tokens > this.tokensSoFar;
    this.tokensSoFar = Math.max(tokens, this.tokensSoFar);
    return ev.text.length > 0 || grew ? "content" : "none";
  }

  finish(): Usage {
    return this.usage ?? fail("malformed", "stream ended before the final event");
  }
}

function openaiAdapter(o: LoadOptions): Adapter {
  return {
    path: o.chat ? "/v1/chat/completions" : "/v1/completions",
    body: (prompt) => ({
      model: o.model,
      ...(o.chat ? { messages: [{ role: "user", content: prompt }] } : { prompt }),
      max_tokens: o.maxTokens,
      temperature: o.temperature,
      stream: o.stream,
      ...(o.stream ? { stream_options: { include_usage: true } } : {}),
      ...(o.ignoreEos ? { ignore_eos: true } : {}),
    }),
    stream: () => new OpenAiStream(o.chat),
    full(json) {
      if (!isObj(json)) return fail("malformed", "response is not a JSON object");
      if (json.error !== undefined) {
        const e = errorOf(json.error);
        return fail("server_error", e.code, e.message);
      }
      if (!Array.isArray(json.choices)) return fail("malformed", "no choices in response");
      const first: unknown = json.choices[0];
      return openaiUsage(json.usage, isObj(first) ? strOrNull(first.finish_reason) : null);
    },
  };
}

function openaiUsage(u: unknown, finishReason: string | null): Usage {
  const usage = isObj(u) ? u : {};
  return { tokens: numOrNull(usage.completion_tokens), promptTokens: numOrNull(usage.prompt_tokens), finishReason };
}

class OpenAiStream implements StreamDecoder {
  private finishReason: string | null = null;
  private usageObj: unknown = null;
  private sawDone = false;

  constructor(private readonly chat: boolean) {}

  onData(data: string): StreamStep {
    if (data.trim() === "[DONE]") {
      this.sawDone = true;
      return "done";
    }
    const ev = parseJson(data, "stream chunk");
    if (!isObj(ev)) return fail("malformed", "stream chunk is not an object");
    if (ev.error !== undefined) {
      const e = errorOf(ev.error);
      return fail("server_error", e.code, e.message);
    }
    if (isObj(ev.usage)) this.usageObj = ev.usage;
    const choice: unknown = Array.isArray(ev.choices) ? ev.choices[0] : undefined;
    if (!isObj(choice)) return "none";
    this.finishReason = strOrNull(choice.finish_reason) ?? this.finishReason;
    const text = this.chat ? (isObj(choice.delta) ? choice.delta.content : undefined) : choice.text;
    // Chat streams open with a role-only delta; that is not a token, so it does not set TTFT.
    return typeof text === "string" && text.length > 0 ? "content" : "none";
  }

  finish(): Usage {
    // Some servers omit [DONE]; a chunk carrying finish_reason is then the end marker.
    if (!this.sawDone && this.finishReason === null) fail("malformed", "stream ended before [DONE]");
    return openaiUsage(this.usageObj, this.finishReason);
  }
}
