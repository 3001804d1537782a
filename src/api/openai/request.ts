// OpenAI request fields -> what the inference layer takes: sampling, stops, grammar, limits.
// Fields Warren cannot honour are refused by name (400) rather than silently ignored, so a client
// never believes it got a logit bias or an echoed prompt it did not get.
import { sseData } from "../sse.ts";
import { BUILD_INFO } from "../timings.ts";
import { GrammarError, type Engine, type JsonGrammar } from "../../inference/engine.ts";
import type { InferenceRequest, SamplingParams, Usage } from "../../inference/types.ts";
import { ApiError } from "../errors.ts";
import { samplingFrom, toInferenceRequest } from "../generation.ts";
import { userGrammar } from "../grammar.ts";
import { logprobsRequest } from "./logprobs.ts";
import type { CommonBody, Kind, ResponseFormat } from "./schemas.ts";

interface OpenAiUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

export function usageOf(u: Usage): OpenAiUsage {
  return {
    prompt_tokens: u.promptTokens,
    completion_tokens: u.completionTokens,
    total_tokens: u.promptTokens + u.completionTokens,
    prompt_tokens_details: { cached_tokens: u.cachedTokens },
  };
}

/** The answer's identity, shared by every chunk of a stream. */
export interface CallInfo {
  id: string;
  /** Unix seconds. */
  created: number;
  model: string;
  stream: boolean;
  includeUsage: boolean;
}

/** `shown`: the model's name, for a request that named none. */
export function callInfo(shown: string, id: string, b: CommonBody): CallInfo {
  return {
    id,
    created: Math.floor(Date.now() / 1000),
    // Echoed like llama-server does, so clients that check the name they asked for are satisfied.
    model: b.model || shown,
    stream: b.stream === true,
    includeUsage: b.stream_options?.include_usage === true,
  };
}

/**
 * One SSE chunk of a streamed answer (`object`: "text_completion" or "chat.completion.chunk").
 * `timings` (llama-server's) go on the chunk that ends the answer.
 */
export function streamChunk(call: CallInfo, object: string, choice: object, timings?: object): string {
  return sseData({
    id: call.id,
    object,
    created: call.created,
    model: call.model,
    system_fingerprint: BUILD_INFO,
    choices: [choice],
    // With include_usage every chunk carries usage: null and one last chunk the totals.
    ...(call.includeUsage ? { usage: null } : {}),
    ...(timings ? { timings } : {}),
  });
}

interface Refusable extends CommonBody {
  echo?: boolean | null;
  best_of?: number | null;
  suffix?: string | null;
}

const bad = (param: string, message: string) => new ApiError(400, "unsupported_parameter", `${param}: ${message}`, param);

export function refuseUnsupported(b: Refusable): void {
  if (b.best_of != null && b.best_of !== 1) throw bad("best_of", "only best_of=1 is supported");
  if (b.echo) throw bad("echo", "echoing the prompt is not supported");
  if (b.suffix) throw bad("suffix", "insertion (suffix) is not supported");
  if (b.logit_bias && Object.keys(b.logit_bias).length > 0) throw bad("logit_bias", "logit_bias is not supported");
}

/**
 * An earlier call's arguments (OpenAI sends them as JSON text, chat and Responses alike), as the
 * template renders them; "" is a call without arguments. Not JSON, or JSON that is not an object
 * (templates walk the arguments as a mapping; tools take objects, see prepareChat): a 400 naming `param`.
 */
export function parseToolArguments(text: string, param: string): unknown {
  let args: unknown;
  try {
    args = JSON.parse(text === "" ? "{}" : text);
  } catch {
    throw new ApiError(400, "invalid_request", `${param}: must be a JSON text (the arguments of an earlier call)`, param);
  }
  if (typeof args !== "object" || args === null || Array.isArray(args)) {
    const got = args === null ? "null" : Array.isArray(args) ? "a list" : `a ${typeof args}`;
    throw new ApiError(400, "invalid_request", `${param}: must be a JSON object (the arguments of an earlier call); got ${got}`, param);
  }
  return args;
}

function stopList(stop: string | string[] | null | undefined): string[] {
  if (stop == null) return [];
  return typeof stop === "string" ? [stop] : stop;
}

export function samplingOf(b: CommonBody): SamplingParams {
  const sampling = samplingFrom({
    temperature: b.temperature ?? undefined,
    top_k: b.top_k ?? undefined,
    top_p: b.top_p ?? undefined,
    min_p: b.min_p ?? undefined,
    repeat_penalty: b.repeat_penalty ?? undefined,
    presence_penalty: b.presence_penalty ?? undefined,
    frequency_penalty: b.frequency_penalty ?? undefined,
    repeat_last_n: b.repeat_last_n ?? undefined,
  });
  // OpenAI seeds are any integer and llama-server's -1 means "random"; the engine takes 32 bits.
  if (b.seed != null && b.seed >= 0) sampling.seed = b.seed >>> 0;
  return sampling;
}

/**
 * The grammar enforcing response_format, if any; unsupported schemas are a 400 naming the keyword.
 * `param` is the field's name in the caller's API (the Responses API calls it text.format).
 */
export async function grammarFor(engine: Engine, rf: ResponseFormat | null | undefined, param = "response_format"): Promise<JsonGrammar | undefined> {
  if (!rf || rf.type === "text") return undefined;
  const schema = rf.type === "json_schema" ? rf.json_schema?.schema : rf.schema;
  if (rf.type === "json_schema" && !rf.json_schema) throw bad(param, 'type "json_schema" needs a json_schema object');
  try {
    return await engine.createJsonGrammar(schema ?? null);
  } catch (err) {
    if (err instanceof GrammarError) throw new ApiError(400, "unsupported_schema", `${param}: ${err.message}`, param);
    throw err;
  }
}

/** n: every choice holds a slot of its own for the whole request, so n can't exceed the slots. */
function choicesOf(engine: Engine, n: number | null | undefined): number {
  const choices = n ?? 1;
  if (choices > engine.slots) {
    throw new ApiError(400, "invalid_request", `n: ${choices} choices need ${choices} parallel slots; this server has ${engine.slots} (--parallel)`, "n");
  }
  return choices;
}

/**
 * The InferenceRequest both OpenAI routes submit: the body's sampling and stops, plus the stops the
 * chat template and the grammar add, with the grammar enforcing response_format; n choices and
 * logprobs as asked (`kind` tells how each API spells logprobs).
 */
export async function openAiInference(
  engine: Engine,
  b: CommonBody,
  call: { id: string; promptTokens: number[]; maxTokens?: number; extraStops?: string[]; signal: AbortSignal; kind: Kind },
): Promise<InferenceRequest> {
  const choices = choicesOf(engine, b.n);
  const logprobs = logprobsRequest(call.kind, b);
  if (b.grammar && b.response_format && b.response_format.type !== "text") throw bad("grammar", "cannot be combined with response_format (send one of them)");
  const grammar = b.grammar ? { grammar: await userGrammar(engine, b.grammar), stop: [] } : await grammarFor(engine, b.response_format);
  return toInferenceRequest(
    {
      id: call.id,
      promptTokens: call.promptTokens,
      maxTokens: call.maxTokens,
      sampling: samplingOf(b),
      stop: [...stopList(b.stop), ...(call.extraStops ?? []), ...(grammar?.stop ?? [])],
      ignoreEos: b.ignore_eos ?? false,
      grammar: grammar?.grammar,
      signal: call.signal,
      choices,
      logprobs,
    },
    engine.slotContextSize,
  );
}
