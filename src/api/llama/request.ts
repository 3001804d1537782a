// A /completion or /infill body -> the inference requests to run (one per prompt and completion)
// and the answer options, with llama-server's defaults and refusals.
import { GrammarError, type Engine } from "../../inference/engine.ts";
import type { InferenceRequest, SamplingParams } from "../../inference/types.ts";
import { ApiError } from "../errors.ts";
import { newId } from "../generation.ts";
import { userGrammar } from "../grammar.ts";
import { llamaSampling } from "./sampling.ts";
import { LLAMA_MAX_N_PROBS, LLAMA_MAX_PROMPTS, type GenerationFields } from "./schema.ts";

const refuse = (param: string, message: string) => new ApiError(400, "unsupported_parameter", `${param}: ${message}`, param);
const invalid = (param: string, message: string) => new ApiError(400, "invalid_request", `${param}: ${message}`, param);

/** What shapes the answer besides the tokens (see answer.ts). */
export interface AnswerOptions {
  stream: boolean;
  returnTokens: boolean;
  nProbs: number;
  postSamplingProbs: boolean;
  /** Lines must be indented this much, or generation stops before the line (0: off). */
  nIndent: number;
  /** After this long generating (ms) and a newline, generation stops (0: off). */
  maxPredictMs: number;
  timingsPerToken: boolean;
  returnProgress: boolean;
  responseFields?: string[];
  /** -1: no SSE pings; undefined: the server's interval. */
  pingSeconds?: number;
  /** The request's n_predict (-1: until the context is full), for generation_settings. */
  nPredict: number;
  /** The request's stop strings (the grammar's own are not listed), for generation_settings. */
  stop: string[];
  grammar: string;
  fields: GenerationFields;
}

export interface LlamaCall {
  requests: InferenceRequest[];
  options: AnswerOptions;
}

/** The requests for `prompts` (several completions each with n_cmpl), and how to answer them. */
export async function llamaCall(engine: Engine, b: GenerationFields, prompts: number[][], signal: AbortSignal): Promise<LlamaCall> {
  refuseUnavailable(b);
  const sampling = llamaSampling(engine, b);
  const nPredict = b.n_predict ?? b.max_tokens ?? b.max_completion_tokens ?? -1;
  if (nPredict < -1) throw invalid("n_predict", `must be -1 (until the context is full) or more, got ${nPredict}`);
  const nProbs = Math.max(0, b.n_probs ?? b.logprobs ?? 0);
  if (nProbs > LLAMA_MAX_N_PROBS) throw invalid("n_probs", `at most ${LLAMA_MAX_N_PROBS}, got ${nProbs}`);
  const copies = b.n_cmpl ?? b.n ?? 1;
  if (copies < 1 || copies * prompts.length > LLAMA_MAX_PROMPTS) throw invalid("n_cmpl", `must be from 1 to ${Math.floor(LLAMA_MAX_PROMPTS / prompts.length)} here, got ${copies}`);
  const slot = b.id_slot ?? -1;
  if (slot !== -1 && (slot < 0 || slot >= engine.slots)) throw invalid("id_slot", `must be -1 (any) or a slot from 0 to ${engine.slots - 1}, got ${slot}`);
  const stop = stopList(b.stop);
  const { grammar, extraStops } = await grammarOf(engine, b);
  const options: AnswerOptions = {
    stream: b.stream === true,
    returnTokens: b.return_tokens === true,
    nProbs,
    postSamplingProbs: b.post_sampling_probs === true,
    nIndent: Math.max(0, b.n_indent ?? 0),
    maxPredictMs: Math.max(0, b.t_max_predict_ms ?? 0),
    timingsPerToken: b.timings_per_token === true,
    returnProgress: b.return_progress === true,
    ...(b.response_fields ? { responseFields: b.response_fields } : {}),
    ...(b.sse_ping_interval != null ? { pingSeconds: b.sse_ping_interval } : {}),
    nPredict,
    stop,
    grammar: b.grammar ?? "",
    fields: b,
  };
  const requests = prompts.flatMap((promptTokens) =>
    Array.from({ length: copies }, () => request(engine, { promptTokens, sampling, nPredict, stop: [...stop, ...extraStops], grammar, slot, signal, b, nProbs })),
  );
  return { requests, options };
}

function refuseUnavailable(b: GenerationFields): void {
  if (b.lora && b.lora.length > 0) throw refuse("lora", "LoRA adapters are not supported (none are loaded)");
  if (b.grammar_lazy) throw refuse("grammar_lazy", "lazy grammars (with grammar_triggers) are not supported on this route; send false");
  if (b.grammar_triggers && b.grammar_triggers.length > 0) throw refuse("grammar_triggers", "grammar triggers are not supported on this route");
  if (b.echo) throw refuse("echo", "echoing the prompt is not supported");
  if ((b.reasoning_budget_tokens ?? -1) >= 0) throw refuse("reasoning_budget_tokens", "a reasoning budget is not supported on this route; send -1");
  if (b.reasoning_control) throw refuse("reasoning_control", "reasoning control is not supported on this route; send false");
}

const stopList = (stop: GenerationFields["stop"]): string[] => (stop == null ? [] : typeof stop === "string" ? [stop] : stop).filter((s) => s.length > 0);

interface RequestSpec {
  promptTokens: number[];
  sampling: SamplingParams;
  nPredict: number;
  stop: string[];
  grammar: unknown;
  slot: number;
  signal: AbortSignal;
  b: GenerationFields;
  nProbs: number;
}

/** n_predict -1, or more than the slot has room for, generates until the slot's context is full. */
function request(engine: Engine, s: RequestSpec): InferenceRequest {
  const room = engine.slotContextSize - s.promptTokens.length;
  if (room <= 0) {
    const message = `the request (${s.promptTokens.length} prompt tokens) exceeds the available context size (${engine.slotContextSize} tokens per slot)`;
    throw new ApiError(400, "context_exceeded", message, "prompt");
  }
  const req: InferenceRequest = {
    id: newId(),
    promptTokens: s.promptTokens,
    maxTokens: s.nPredict === -1 ? room : Math.min(s.nPredict, room),
    sampling: s.sampling,
    stop: s.stop,
    ignoreEos: s.b.ignore_eos === true,
    signal: s.signal,
    tokenIds: true,
  };
  if (s.grammar !== undefined) req.grammar = s.grammar;
  if (s.nProbs > 0) Object.assign(req, { logprobs: s.nProbs, logprobsFrom: s.b.post_sampling_probs ? "sampler" : "model" });
  if (s.slot >= 0) req.slot = s.slot;
  if (s.b.cache_prompt === false) req.cachePrompt = false;
  return req;
}

/** `grammar` (GBNF) or, when there is none, `json_schema` (llama-server's precedence). */
async function grammarOf(engine: Engine, b: GenerationFields): Promise<{ grammar?: unknown; extraStops: string[] }> {
  if (b.grammar) return { grammar: await userGrammar(engine, b.grammar), extraStops: [] };
  if (b.json_schema) {
    try {
      const made = await engine.createJsonGrammar(b.json_schema);
      return { grammar: made.grammar, extraStops: made.stop };
    } catch (err) {
      if (err instanceof GrammarError) throw new ApiError(400, "unsupported_schema", `json_schema: ${err.message}`, "json_schema");
      throw err;
    }
  }
  return { extraStops: [] };
}
