// Shared by the native and OpenAI routes: request parameters -> InferenceRequest, and running one.
import type { Scheduler } from "../inference/scheduler.ts";
import type { InferenceRequest, SamplingParams, TokenEvent, Usage } from "../inference/types.ts";
import { INFERENCE_DEFAULT_MAX_TOKENS } from "../limits.ts";
import { ApiError } from "./errors.ts";
import type { ServiceState } from "./state.ts";

/** Sampling fields as they arrive (snake_case, all optional). Defaults follow llama-server's. */
interface SamplingInput {
  temperature?: number;
  top_k?: number;
  top_p?: number;
  min_p?: number;
  seed?: number;
  repeat_penalty?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  repeat_last_n?: number;
}

export function samplingFrom(b: SamplingInput): SamplingParams {
  return {
    temperature: b.temperature ?? 0.8,
    topK: b.top_k ?? 40,
    topP: b.top_p ?? 0.95,
    minP: b.min_p ?? 0.05,
    seed: b.seed,
    repeatPenalty: b.repeat_penalty ?? 1,
    presencePenalty: b.presence_penalty ?? 0,
    frequencyPenalty: b.frequency_penalty ?? 0,
    penaltyLastN: b.repeat_last_n ?? 64,
  };
}

/**
 * While draining, work that still arrives on an open connection is served (its answer closes the
 * connection): the client sent it before it could know, and a proxy cannot safely retry a POST.
 * The scheduler itself refuses once main.ts closes it, after the connections are gone.
 */
export function readyScheduler(state: ServiceState): Scheduler {
  if (state.phase === "loading" || !state.scheduler) throw new ApiError(503, "loading", "the model is still loading");
  return state.scheduler;
}

interface GenerationSpec {
  id: string;
  promptTokens: number[];
  maxTokens?: number;
  sampling: SamplingParams;
  stop?: string[];
  ignoreEos?: boolean;
  grammar?: unknown;
  signal?: AbortSignal;
  /** n (default 1) and logprobs, as InferenceRequest takes them. */
  choices?: number;
  logprobs?: number;
}

/** Without max_tokens a request gets the default, shortened to what fits the slot after the prompt. */
export function toInferenceRequest(s: GenerationSpec, slotContextSize: number): InferenceRequest {
  const room = slotContextSize - s.promptTokens.length;
  const maxTokens = s.maxTokens ?? Math.max(1, Math.min(INFERENCE_DEFAULT_MAX_TOKENS, room));
  return {
    id: s.id,
    promptTokens: s.promptTokens,
    maxTokens,
    sampling: s.sampling,
    stop: s.stop ?? [],
    ignoreEos: s.ignoreEos ?? false,
    grammar: s.grammar,
    signal: s.signal,
    ...(s.choices !== undefined && s.choices !== 1 ? { choices: s.choices } : {}),
    ...(s.logprobs !== undefined ? { logprobs: s.logprobs } : {}),
  };
}

interface Completed {
  text: string;
  done: Extract<TokenEvent, { type: "done" }>;
}

export async function runToEnd(stream: AsyncIterable<TokenEvent>): Promise<Completed> {
  let text = "";
  for await (const ev of stream) {
    if (ev.type === "text") text += ev.text;
    else if (ev.type === "done") return { text, done: ev };
  }
  throw new ApiError(500, "internal_error", "generation ended without a result");
}

export const newId = (): string => crypto.randomUUID().replace(/-/g, "");

export function usageTotals(u: Usage): { prompt: number; completion: number } {
  return { prompt: u.promptTokens, completion: u.completionTokens };
}
