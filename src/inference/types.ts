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
  /**
   * XTC ("exclude top choices"): with this chance per token, every candidate above `xtcThreshold`
   * but the least probable of them is removed. 0 (or undefined) = disabled; a threshold above 0.5
   * disables it too (llama.cpp's rule).
   */
  xtcProbability?: number;
  xtcThreshold?: number;
  /** Added to these tokens' logits before any other sampler; -Infinity bans a token. */
  logitBias?: ReadonlyArray<readonly [token: number, bias: number]>;
}

export interface InferenceRequest {
  /** Caller's id (appears in logs and events). */
  id: string;
  /** Already tokenized prompt (including BOS when the model wants one). */
  promptTokens: number[];
  /** Exact upper bound of generated tokens. 0: the prompt is only evaluated (into the slot's cache). */
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
  /** Aborted when the client goes away: generation stops at the next token read (any decoded ahead are dropped) and the slot is freed. */
  signal?: AbortSignal;
  /** Give up if still queued after this long (ms). */
  queueTimeoutMs?: number;
  /**
   * Choices to generate (n, default 1), each in its own slot, decoded in parallel. The prompt is
   * evaluated once and its KV cells copied to the other choices' slots. Choice i > 0 samples with a
   * seed derived from `sampling.seed` and i, so a seeded request stays reproducible.
   */
  choices?: number;
  /**
   * Log-probabilities per generated token, with this many most probable alternatives (0: the
   * sampled token's own only). Undefined: none (they cost a sort over the candidates per token).
   */
  logprobs?: number;
  /**
   * Which distribution `logprobs` describe: "sampler" (default), the one the token was drawn from;
   * "model", the softmax of the model's raw logits over the whole vocabulary, before any sampler
   * (llama-server's n_probs). Either way the sampled token is the same.
   */
  logprobsFrom?: "sampler" | "model";
  /**
   * Text events also carry token ids: every generated token's, end-of-generation and tokens inside
   * a stop string included, each on the first event after it was generated (so events come per token).
   */
  tokenIds?: boolean;
  /** Run in this slot only (llama-server's id_slot): the request waits at the head of the queue until it is free. */
  slot?: number;
  /** false: start from an empty slot instead of reusing a cached prefix (the whole prompt is evaluated). */
  cachePrompt?: boolean;
}

/** A token and the natural log of its probability. */
export interface TokenLogprob {
  token: number;
  /**
   * ln p in the distribution the token was sampled from: the softmax over the candidates left after
   * the sampler chain (grammar, penalties, top-k, top-p, min-p, then temperature). A greedy request
   * (temperature 0) keeps the whole vocabulary, so p is the model's own distribution after penalties.
   * Floored at LOGPROB_FLOOR (p underflowed to 0).
   */
  logprob: number;
}

/** A generated token's log-probability and the most probable candidates at its position, best first. */
export interface TokenLogprobs extends TokenLogprob {
  top: TokenLogprob[];
}

/** ln p for p = 0, as OpenAI reports it (JSON has no -Infinity). */
export const LOGPROB_FLOOR = -9999;

export type TokenEvent =
  /** The request left the queue and holds a slot. */
  | { type: "started"; slot: number; queuedMs: number; cachedTokens: number }
  /**
   * New text (may be empty when a token is held back as a possible stop-string prefix or partial
   * UTF-8). `index`: the choice (n > 1; absent or 0 otherwise). `tokens`: generated so far in that
   * choice. `logprobs` (when asked) are the entries of the tokens whose text this event completes;
   * `ids` (InferenceRequest.tokenIds) the tokens generated since the previous event.
   */
  | { type: "text"; text: string; tokens: number; index?: number; logprobs?: TokenLogprobs[]; ids?: number[] }
  /** One choice of an n > 1 request ended; a "done" with the request's totals follows the last. */
  | { type: "finish"; index: number; finishReason: FinishReason; completionTokens: number }
  /**
   * The request ended. With n > 1: "error" when any choice failed, else "cancelled" when cancelled,
   * else choice 0's reason. `stopString`: the stop string that ended it (finishReason "stop" by a
   * stop string, not by end-of-generation; with n > 1, the last choice to end).
   */
  | { type: "done"; finishReason: FinishReason; usage: Usage; timings: Timings; error?: string; stopString?: string };

export interface Usage {
  /** Counted once, however many choices share the prompt. */
  promptTokens: number;
  /** Tokens the model generated, every choice together (counted even when their text was a swallowed stop string). */
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

/**
 * The model registry's refusals: a name not in the catalogue, a model whose file or engine failed to
 * load, a load the memory budget has no room for, an unload refused while the model is in use.
 */
type ModelErrorCode = "model_not_found" | "model_load_failed" | "model_over_budget" | "model_busy";

export class InferenceError extends Error {
  constructor(
    readonly code: "queue_full" | "context_exceeded" | "shutting_down" | "invalid_request" | "engine_error" | ModelErrorCode,
    message: string,
    /** The request field to blame, in the words of the API that sent it, when one is. */
    readonly param?: string,
  ) {
    super(message);
    this.name = "InferenceError";
  }
}
