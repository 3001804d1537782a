// Request bodies of llama-server's own routes, as TypeBox schemas. They check JSON types only:
// llama-server clamps some values into range and refuses others, and request.ts does the same, so
// the rules and their messages sit beside the mapping. Every field also takes null (= not given),
// as llama-server does. Fields llama-server does not know are ignored, as it ignores them.
import { t, type TSchema } from "elysia";
import { INFERENCE_MAX_PROMPT_CHARS, INFERENCE_MAX_STOP_CHARS, INFERENCE_MAX_STOP_STRINGS } from "../../limits.ts";
import { KeepAliveField, ModelField } from "../models.ts";

/** Optional, null allowed; `error` words the rule for the 400 (TypeBox says only "Expected union value"). */
const Opt = <T extends TSchema>(schema: T, error?: string) => t.Optional(t.Union([schema, t.Null()], error ? { error } : {}));
const Num = Opt(t.Number(), "must be a number");
const Int = Opt(t.Integer(), "must be an integer");
const Bool = Opt(t.Boolean(), "must be true or false");
const Text = t.String({ maxLength: INFERENCE_MAX_PROMPT_CHARS });

/** Prompts in one request (llama-server answers each with its own result). Threat: slots held by one request. */
export const LLAMA_MAX_PROMPTS = 64;
/** Alternatives per token with n_probs. Threat: output size per token (a JSON object each). */
export const LLAMA_MAX_N_PROBS = 100;
/** Entries of logit_bias. */
const LLAMA_MAX_LOGIT_BIAS = 4096;

/** A token id or a piece of text: a prompt may mix them. */
const Piece = t.Union([Text, t.Integer()]);
const Prompt = t.Union([Text, t.Array(t.Union([Piece, t.Array(Piece, { maxItems: INFERENCE_MAX_PROMPT_CHARS }), t.Record(t.String(), t.Unknown())]), { maxItems: INFERENCE_MAX_PROMPT_CHARS }), t.Record(t.String(), t.Unknown())], {
  error: "must be a string, a list of token ids and strings, or a list of such prompts",
});

const completionFields = {
  // Which model answers, on a server of several (llama-server's router takes `model` the same way).
  model: ModelField,
  keep_alive: KeepAliveField,
  n_predict: Int,
  max_tokens: Int,
  max_completion_tokens: Int,
  stream: Bool,
  stop: Opt(t.Union([t.String({ maxLength: INFERENCE_MAX_STOP_CHARS }), t.Array(t.String({ maxLength: INFERENCE_MAX_STOP_CHARS }), { maxItems: INFERENCE_MAX_STOP_STRINGS })])),
  temperature: Num,
  dynatemp_range: Num,
  dynatemp_exponent: Num,
  top_k: Int,
  top_p: Num,
  min_p: Num,
  top_n_sigma: Num,
  typical_p: Num,
  xtc_probability: Num,
  xtc_threshold: Num,
  repeat_penalty: Num,
  repeat_last_n: Int,
  presence_penalty: Num,
  frequency_penalty: Num,
  dry_multiplier: Num,
  dry_base: Num,
  dry_allowed_length: Int,
  dry_penalty_last_n: Int,
  dry_sequence_breakers: Opt(t.Array(t.String(), { maxItems: 64 })),
  mirostat: Int,
  mirostat_tau: Num,
  mirostat_eta: Num,
  adaptive_target: Num,
  adaptive_decay: Num,
  seed: Int,
  ignore_eos: Bool,
  logit_bias: Opt(t.Union([t.Array(t.Unknown(), { maxItems: LLAMA_MAX_LOGIT_BIAS }), t.Record(t.String(), t.Unknown())])),
  n_probs: Int,
  logprobs: Int,
  post_sampling_probs: Bool,
  min_keep: Int,
  samplers: Opt(t.Union([t.String({ maxLength: 64 }), t.Array(t.String(), { maxItems: 64 })])),
  grammar: Opt(t.String({ maxLength: INFERENCE_MAX_PROMPT_CHARS })),
  json_schema: Opt(t.Record(t.String(), t.Unknown())),
  grammar_lazy: Bool,
  grammar_triggers: Opt(t.Array(t.Unknown())),
  cache_prompt: Bool,
  id_slot: Int,
  return_tokens: Bool,
  n_indent: Int,
  n_keep: Int,
  n_discard: Int,
  n_cmpl: Int,
  n: Int,
  n_cache_reuse: Int,
  t_max_predict_ms: Int,
  t_max_prompt_ms: Int,
  timings_per_token: Bool,
  return_progress: Bool,
  sse_ping_interval: Int,
  response_fields: Opt(t.Array(t.String({ maxLength: 256 }), { maxItems: 64 })),
  lora: Opt(t.Array(t.Unknown())),
  backend_sampling: Bool,
  echo: Bool,
  reasoning_budget_tokens: Int,
  reasoning_control: Bool,
};

export const CompletionBody = t.Object({ prompt: Prompt, ...completionFields });

/** input_prefix and input_suffix: text or token ids, as llama-server's tokenize_mixed takes them. */
const Mixed = t.Union([Text, t.Array(Piece, { maxItems: INFERENCE_MAX_PROMPT_CHARS })], { error: "must be a string or a list of token ids and strings" });

export const InfillBody = t.Object({
  input_prefix: Mixed,
  input_suffix: Mixed,
  input_extra: Opt(t.Array(t.Object({ text: t.String({ maxLength: INFERENCE_MAX_PROMPT_CHARS }), filename: Opt(t.String({ maxLength: 1024 })) }), { maxItems: 256 })),
  prompt: Opt(t.String({ maxLength: INFERENCE_MAX_PROMPT_CHARS, error: "must be a string" })),
  ...completionFields,
});

export const NativeEmbeddingBody = t.Object({
  content: t.Optional(t.Unknown()),
  input: t.Optional(t.Unknown()),
  embd_normalize: Int,
  encoding_format: Opt(t.String()),
  model: ModelField,
  keep_alive: KeepAliveField,
});

export type CompletionBodyT = typeof CompletionBody.static;
export type InfillBodyT = typeof InfillBody.static;
/** The generation fields both /completion and /infill take. */
export type GenerationFields = { [K in keyof typeof completionFields]?: CompletionBodyT[K] };
