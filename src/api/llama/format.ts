// llama-server's JSON pieces: timings, generation_settings, completion_probabilities, and the
// texts of tokens (prompt echo, token pieces), built as tools/server/server-task.cpp builds them.
import type { Engine } from "../../inference/engine.ts";
import type { SamplingParams, TokenLogprob, TokenLogprobs } from "../../inference/types.ts";
import type { AnswerOptions } from "./request.ts";
import { DEFAULT_SAMPLERS } from "./sampling.ts";

const utf8 = new TextDecoder();

/** The longest prefix of `bytes` that is whole UTF-8 (llama-server's validate_utf8 cut), as text. */
function validText(bytes: Uint8Array): string {
  let end = bytes.length;
  // Back up over an incomplete trailing sequence (at most 3 continuation bytes and its lead).
  for (let i = Math.max(0, end - 4); i < end; i++) {
    const b = bytes[i]!;
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    if (need > 1 && i + need > end) {
      end = i;
      break;
    }
  }
  return utf8.decode(bytes.subarray(0, end));
}

/** Tokens as text with control tokens written out ("<s> Once upon"), as llama-server echoes a prompt. */
export function tokensText(engine: Engine, tokens: readonly number[]): string {
  const parts = tokens.map((t) => engine.tokenBytes(t));
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return utf8.decode(all);
}

/** llama-server writes ln 0 as the lowest float (JSON has no -Infinity). */
const FLOAT_LOWEST = -3.4028234663852886e38;

function entry(engine: Engine, e: TokenLogprob, post: boolean): Record<string, unknown> {
  const bytes = engine.tokenBytes(e.token);
  const p = Math.exp(e.logprob);
  return { id: e.token, token: validText(bytes), bytes: Array.from(bytes), ...(post ? { prob: p } : { logprob: p > 0 ? e.logprob : FLOAT_LOWEST }) };
}

/** completion_probabilities: per token, its own (log-)probability and the top n alternatives. */
export function probabilitiesJson(engine: Engine, entries: readonly TokenLogprobs[], post: boolean): Array<Record<string, unknown>> {
  return entries.map((e) => ({
    ...entry(engine, e, post),
    [post ? "top_probs" : "top_logprobs"]: e.top.map((t) => entry(engine, t, post)),
  }));
}

/** generation_settings (and /props' and /slots' params): the settings in effect, in llama-server's keys. */
export function settingsJson(s: SamplingParams, o: Pick<AnswerOptions, "nPredict" | "stop" | "stream" | "nProbs" | "grammar" | "postSamplingProbs" | "timingsPerToken" | "fields">) {
  const f = o.fields;
  return {
    seed: s.seed ?? 0xffffffff,
    temperature: s.temperature,
    dynatemp_range: 0,
    dynatemp_exponent: f.dynatemp_exponent ?? 1,
    top_k: s.topK,
    top_p: s.topP,
    min_p: s.minP,
    top_n_sigma: f.top_n_sigma ?? -1,
    xtc_probability: s.xtcProbability ?? 0,
    xtc_threshold: s.xtcThreshold ?? f.xtc_threshold ?? 0.1,
    typical_p: f.typical_p ?? 1,
    repeat_last_n: s.penaltyLastN,
    repeat_penalty: s.repeatPenalty,
    presence_penalty: s.presencePenalty,
    frequency_penalty: s.frequencyPenalty,
    dry_multiplier: f.dry_multiplier ?? 0,
    dry_base: f.dry_base ?? 1.75,
    dry_allowed_length: f.dry_allowed_length ?? 2,
    dry_penalty_last_n: f.dry_penalty_last_n ?? 64,
    dry_sequence_breakers: f.dry_sequence_breakers ?? ["\n", ":", '"', "*"],
    mirostat: 0,
    mirostat_tau: f.mirostat_tau ?? 5,
    mirostat_eta: f.mirostat_eta ?? 0.1,
    stop: o.stop,
    max_tokens: o.nPredict,
    n_predict: o.nPredict,
    n_keep: f.n_keep ?? 0,
    n_discard: f.n_discard ?? 0,
    ignore_eos: f.ignore_eos === true,
    stream: o.stream,
    logit_bias: (s.logitBias ?? []).map(([token, bias]) => ({ bias: Number.isFinite(bias) ? bias : FLOAT_LOWEST, token })),
    n_probs: o.nProbs,
    min_keep: f.min_keep ?? 0,
    grammar: o.grammar,
    samplers: samplersOf(f.samplers),
    timings_per_token: o.timingsPerToken,
    post_sampling_probs: o.postSamplingProbs,
    lora: [],
  };
}

function samplersOf(samplers: AnswerOptions["fields"]["samplers"]): string[] {
  if (samplers == null) return [...DEFAULT_SAMPLERS];
  return typeof samplers === "string" ? [...samplers] : samplers;
}

/** response_fields: only the listed paths ("a/b" reads b inside a), each under its path as key; missing ones are left out. */
export function pickFields(result: Record<string, unknown>, paths: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const path of paths) {
    let v: unknown = result;
    for (const key of path.split("/")) v = v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>)[key] : undefined;
    if (v !== undefined) out[path] = v;
  }
  return out;
}
