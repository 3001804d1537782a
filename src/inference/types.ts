// Plain data shared by the inference layer and its callers (api/). No HTTP, no JSON shapes.

export type FinishReason = "stop" | "length" | "cancelled" | "error";

export interface SamplingParams {
  /** 0 = greedy. */
  temperature: number;
  /** 0 = disabled. */
  topK: number;
  /** 1 = disabled. */
  topP: number;
  /** 0 = disabled. */
  minP: number;
  /** Same seed + same prompt + temperature > 0 gives the same tokens. Undefined = random. */
  seed?: number;
  /** 1 = disabled. */
  repeatPenalty: number;
  /** 0 = disabled. */
  presencePenalty: number;
  /** 0 = disabled. */
  frequencyPenalty: number;
  /** How many of the last tokens penalties look at. */
  penaltyLastN: number;
}

export interface InferenceRequest {
  /** Caller's id (appears in logs and events). */
  id: string;
  /** Already tokenized prompt (including BOS when the model wants one). */
  promptTokens: number[];
  /** Exact upper bound of generated tokens. */
  maxTokens: number;
  sampling: SamplingParams;
  /** Generation ends before any of these strings; they are never emitted. */
  stop: string[];
  /** Keep generating past end-of-generation tokens (benchmarks). */
  ignoreEos: boolean;
  /** Opaque grammar handle made by the engine (JSON schema / JSON object constrained output). */
  grammar?: unknown;
  /**
   * A grammar that starts when the generated text first contains one of `triggers` (a tool call's
   * opening): from there it constrains the rest, starting just after the trigger. Stop strings no
   * longer apply once it has started: the grammar decides where the answer ends.
   */
  lazyGrammar?: { triggers: readonly string[]; grammar: unknown };
  /** Aborted when the client goes away: generation stops within one token and the slot is freed. */
  signal?: AbortSignal;
  /** Give up if still queued after this long (ms). */
  queueTimeoutMs?: number;
}

export type TokenEvent =
  /** The request left the queue and holds a slot. */
  | { type: "started"; slot: number; queuedMs: number; cachedTokens: number }
  /** New text (may be empty when a token is held back as a possible stop-string prefix or partial UTF-8). */
  | { type: "text"; text: string; tokens: number }
  /** `stopString`: the stop string that ended generation (finishReason "stop" by a stop string, not by end-of-generation). */
  | { type: "done"; finishReason: FinishReason; usage: Usage; timings: Timings; error?: string; stopString?: string };

export interface Usage {
  promptTokens: number;
  /** Tokens the model generated (counted even when their text was a swallowed stop string). */
  completionTokens: number;
  /** Prompt tokens served from the slot's KV cache (prefix reuse). */
  cachedTokens: number;
}

export interface Timings {
  queuedMs: number;
  /** From slot start to the first generated token. */
  timeToFirstTokenMs: number;
  totalMs: number;
}

export class InferenceError extends Error {
  constructor(
    readonly code: "queue_full" | "queue_timeout" | "context_exceeded" | "shutting_down" | "invalid_request" | "engine_error",
    message: string,
    /** The request field to blame, in the words of the API that sent it, when one is. */
    readonly param?: string,
  ) {
    super(message);
    this.name = "InferenceError";
  }
}
