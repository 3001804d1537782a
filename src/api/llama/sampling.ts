// llama-server's sampling fields -> SamplingParams, with llama-server's defaults, its clamping
// (server-schema.cpp: soft limits clamp, hard limits refuse) and its sampler order.
//
// Warren's sampler chain is llama.cpp's, in llama-server's default order (inference/llama/sampler.ts),
// so the same fields and seed draw the same tokens. What that chain cannot do is refused by name:
// typical-p, top-n-sigma, dynamic temperature, Mirostat, adaptive-p, the infill sampler, DRY (its
// native sampler cannot be shown the prompt, which llama-server's sees, so its output would differ),
// and orders that put an active sampler out of the default order.
import type { Engine } from "../../inference/engine.ts";
import type { SamplingParams } from "../../inference/types.ts";
import { ApiError } from "../errors.ts";
import type { GenerationFields } from "./schema.ts";

const refuse = (param: string, message: string) => new ApiError(400, "unsupported_parameter", `${param}: ${message}`, param);
const invalid = (param: string, message: string) => new ApiError(400, "invalid_request", `${param}: ${message}`, param);
const clamp = (v: number, min: number, max: number) => Math.min(max, Math.max(min, v));

/** The chain Warren runs, in order (llama-server's default without typ_p and top_n_sigma, which must be off). */
const CHAIN = ["penalties", "dry", "top_k", "top_p", "min_p", "xtc", "temperature"] as const;
type Sampler = (typeof CHAIN)[number] | "typ_p" | "top_n_sigma" | "infill" | "adaptive_p";
/** llama-server's default `samplers`, as /props and generation_settings list them. */
export const DEFAULT_SAMPLERS = ["penalties", "dry", "top_n_sigma", "top_k", "typ_p", "top_p", "min_p", "xtc", "temperature"] as const;

const NAMES: Record<string, Sampler> = { nucleus: "top_p", temp: "temperature", typ: "typ_p", typical_p: "typ_p" };
for (const name of [...DEFAULT_SAMPLERS, "infill", "adaptive_p"] as Sampler[]) {
  NAMES[name] = name;
  NAMES[name.replace(/_/g, "-")] = name;
  NAMES[name.replace(/_/g, "")] = name;
}
/** common_sampler_types_from_chars. */
const CHARS: Record<string, Sampler> = { e: "penalties", d: "dry", s: "top_n_sigma", k: "top_k", y: "typ_p", p: "top_p", m: "min_p", x: "xtc", t: "temperature", i: "infill", a: "adaptive_p" };

/** The samplers a request lists, in its order; unknown names are skipped, as llama-server skips them. */
function listed(samplers: string | string[]): Sampler[] {
  const out: Sampler[] = [];
  for (const name of typeof samplers === "string" ? [...samplers] : samplers) {
    const s = typeof samplers === "string" ? CHARS[name] : NAMES[name];
    if (s) out.push(s);
  }
  return out;
}

/** Fields as the request gives them, defaults and clamps applied. */
function fieldsOf(b: GenerationFields) {
  return {
    temperature: Math.max(0, b.temperature ?? 0.8),
    topK: Math.max(0, b.top_k ?? 40),
    topP: clamp(b.top_p ?? 0.95, 0, 1),
    minP: clamp(b.min_p ?? 0.05, 0, 1),
    xtcProbability: clamp(b.xtc_probability ?? 0, 0, 1),
    xtcThreshold: clamp(b.xtc_threshold ?? 0.1, 0, 1),
    repeatPenalty: b.repeat_penalty ?? 1,
    presencePenalty: b.presence_penalty ?? 0,
    frequencyPenalty: b.frequency_penalty ?? 0,
    penaltyLastN: b.repeat_last_n ?? 64,
  };
}

/** Whether each sampler would change anything with these settings. */
function activeSamplers(f: ReturnType<typeof fieldsOf>): Set<Sampler> {
  const active = new Set<Sampler>();
  if (f.penaltyLastN > 0 && (f.repeatPenalty !== 1 || f.presencePenalty !== 0 || f.frequencyPenalty !== 0)) active.add("penalties");
  if (f.topK > 0) active.add("top_k");
  if (f.topP < 1) active.add("top_p");
  if (f.minP > 0) active.add("min_p");
  if (f.xtcProbability > 0 && f.xtcThreshold <= 0.5) active.add("xtc");
  if (f.temperature !== 1) active.add("temperature");
  return active;
}

function refuseUnavailable(b: GenerationFields, chain: readonly Sampler[]): void {
  const on = new Set(chain);
  if (on.has("typ_p") && (b.typical_p ?? 1) < 1) throw refuse("typical_p", "locally typical sampling is not available (node-llama-cpp has no typical-p sampler); send 1");
  if (on.has("top_n_sigma") && (b.top_n_sigma ?? -1) > 0) throw refuse("top_n_sigma", "top-n-sigma sampling is not available (node-llama-cpp has no such sampler); send -1");
  if (on.has("infill")) throw refuse("samplers", 'the "infill" sampler is not available (node-llama-cpp has no such sampler); leave it out of samplers');
  if (on.has("adaptive_p")) throw refuse("samplers", 'the "adaptive_p" sampler is not available (node-llama-cpp has no such sampler); leave it out of samplers');
  if (on.has("dry") && (b.dry_multiplier ?? 0) > 0) {
    throw refuse("dry_multiplier", "DRY is not available: node-llama-cpp's DRY sampler cannot be shown the prompt, which llama-server's sees, so its output would differ; send 0");
  }
  if ((b.dynatemp_range ?? 0) > 0) throw refuse("dynatemp_range", "dynamic temperature is not available (node-llama-cpp has no such sampler); send 0");
  const mirostat = clamp(b.mirostat ?? 0, 0, 2);
  if (mirostat !== 0) throw refuse("mirostat", "Mirostat sampling is not available (node-llama-cpp has no Mirostat sampler); send 0");
  if ((b.min_keep ?? 0) > 1) throw refuse("min_keep", "only 0 and 1 are supported (node-llama-cpp keeps at least one candidate)");
  if (b.backend_sampling) throw refuse("backend_sampling", "backend sampling is not available; send false");
}

/** Active samplers must run in the chain's order, once each: Warren's chain cannot be reordered. */
function checkOrder(chain: readonly Sampler[], active: Set<Sampler>): void {
  const ours = chain.filter((s) => active.has(s));
  const seen = new Set<Sampler>();
  let last = -1;
  for (const s of ours) {
    const at = CHAIN.indexOf(s as (typeof CHAIN)[number]);
    if (seen.has(s)) throw refuse("samplers", `"${s}" is listed twice; each sampler runs once`);
    if (at < last) throw refuse("samplers", `Warren runs samplers in llama-server's default order (${CHAIN.join(", ")}); "${s}" is listed after "${CHAIN[last]}"`);
    seen.add(s);
    last = at;
  }
}

/** SamplingParams for llama-server's fields; unsupported values throw ApiError naming the field. */
export function llamaSampling(engine: Engine, b: GenerationFields): SamplingParams {
  const chain = b.samplers == null ? [...DEFAULT_SAMPLERS] : listed(b.samplers);
  refuseUnavailable(b, chain);
  const f = fieldsOf(b);
  if (f.penaltyLastN < 0) throw invalid("repeat_last_n", `must be 0 or more (0 disables penalties), got ${f.penaltyLastN}`);
  if (!(f.repeatPenalty > 0)) throw invalid("repeat_penalty", `must be greater than 0, got ${f.repeatPenalty}`);
  checkOrder(chain, activeSamplers(f));
  // A sampler left out of the list does not run: the same as its neutral setting.
  const on = new Set(chain);
  const s: SamplingParams = {
    temperature: on.has("temperature") ? f.temperature : 1,
    topK: on.has("top_k") ? f.topK : 0,
    topP: on.has("top_p") ? f.topP : 1,
    minP: on.has("min_p") ? f.minP : 0,
    repeatPenalty: on.has("penalties") ? f.repeatPenalty : 1,
    presencePenalty: on.has("penalties") ? f.presencePenalty : 0,
    frequencyPenalty: on.has("penalties") ? f.frequencyPenalty : 0,
    penaltyLastN: f.penaltyLastN,
  };
  if (on.has("xtc") && f.xtcProbability > 0) Object.assign(s, { xtcProbability: f.xtcProbability, xtcThreshold: f.xtcThreshold });
  // -1 and 0xFFFFFFFF (LLAMA_DEFAULT_SEED) both mean "random"; other values wrap to 32 bits as in C.
  if (b.seed != null && (b.seed >>> 0) !== 0xffffffff) s.seed = b.seed >>> 0;
  const bias = logitBias(engine, b);
  if (bias.length > 0) s.logitBias = bias;
  return s;
}

/** [token, bias] pairs (bias false = banned), or {"token or text": bias}; text biases each of its tokens. Bad entries are skipped, as llama-server skips them. */
function logitBias(engine: Engine, b: GenerationFields): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const add = (key: unknown, value: unknown) => {
    const bias = typeof value === "number" ? value : value === false ? -Infinity : undefined;
    if (bias === undefined) return;
    if (typeof key === "number" || (typeof key === "string" && /^-?\d+$/.test(key))) {
      const id = Number(key);
      if (Number.isInteger(id) && id >= 0 && id < engine.info.vocabSize) out.push([id, bias]);
    } else if (typeof key === "string") for (const id of engine.tokenize(key, false)) out.push([id, bias]);
  };
  const lb = b.logit_bias;
  if (Array.isArray(lb)) for (const e of lb) Array.isArray(e) && e.length === 2 && add(e[0], e[1]);
  else if (lb) for (const [k, v] of Object.entries(lb)) add(k, v);
  if (b.ignore_eos) for (const id of eogTokens(engine)) out.push([id, -Infinity]);
  return out;
}

const eogCache = new WeakMap<Engine, number[]>();

/** Every end-of-generation token: ignore_eos bans them all, as llama-server does. */
function eogTokens(engine: Engine): number[] {
  let ids = eogCache.get(engine);
  if (!ids) {
    ids = [];
    for (let id = 0; id < engine.info.vocabSize; id++) if (engine.isEndOfGeneration(id)) ids.push(id);
    eogCache.set(engine, ids);
  }
  return ids;
}
