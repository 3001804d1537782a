// Per-request samplers over node-llama-cpp's native AddonSampler, configured so that its chain
// draws the same tokens as llama-server's for the same seed.
//
// AddonSampler's chain is fixed: logit bias, penalties, DRY, top-k, top-p, min-p, XTC, temperature,
// then dist(seed) (greedy instead of temperature and dist when the temperature is <= 0). That is
// llama-server's default order (penalties, dry, top_n_sigma, top_k, typ_p, top_p, min_p, xtc,
// temperature, dist) with top_n_sigma and typ_p disabled, and its samplers are the same llama.cpp
// functions, so equal settings give equal tokens, with two caveats handled here:
//   - dist picks by walking the candidates in their current order, so the order must match too.
//     AddonSampler turns top-k <= 0 into top-k = vocabulary size, which sorts everything, where
//     llama.cpp's top-k 0 leaves the candidates in vocabulary order: top-k 0 is left out instead.
//   - llama-server's temperature 0 keeps the best logit and still draws from dist; greedy picks the
//     same token (the first best one) and draws nothing, and no later draw depends on it.
import { LlamaGrammarEvaluationState } from "node-llama-cpp";
import type { EngineSampler, Sampled } from "../engine.ts";
import type { SamplingParams } from "../types.ts";

export interface AddonSampler {
  applyConfig(config: Record<string, unknown>): void;
  dispose(): void;
}

export interface AddonSamplerClass {
  new (model: unknown): AddonSampler;
  acceptGrammarEvaluationStateToken(state: unknown, token: number): void;
  canBeNextTokenForGrammarEvaluationState(state: unknown, token: number): boolean;
}

/** The part of node-llama-cpp's native context that samples. */
export interface AddonSampling {
  sampleToken(batchLogitIndex: number, sampler: AddonSampler): Promise<number>;
  /** Resolves to [token, [token, p, ...] sorted by logit, descending, confidence]. */
  sampleToken(batchLogitIndex: number, sampler: AddonSampler, probabilities: true): Promise<[number, number[] | undefined, number | undefined]>;
}

export class LlamaSampler implements EngineSampler {
  /** The last tokens sampled (at least penaltyLastN): re-applying the config with them keeps the penalty history intact. */
  readonly sampled: number[] = [];
  /** A greedy sampler with nothing else in its chain, made on first use: it reads the model's own distribution. */
  probe?: AddonSampler;
  constructor(
    readonly native: AddonSampler,
    /** As applied, grammar aside; a grammar engaged later re-applies it. */
    readonly config: Record<string, unknown>,
    readonly history: readonly number[],
    readonly penaltyLastN: number,
    /** Held so the grammar state's JS wrapper lives as long as the native sampler that uses it. */
    public grammarState?: LlamaGrammarEvaluationState,
  ) {}
  dispose(): void {
    this.native.dispose();
    this.probe?.dispose();
  }
}

/** AddonSampler's config for `p`; `history` is what penalties look back on (the prompt). */
export function samplerConfig(p: SamplingParams, history: readonly number[]): Record<string, unknown> {
  const config: Record<string, unknown> = {
    temperature: p.temperature,
    minP: p.minP,
    topP: p.topP,
    seed: seedOf(p),
  };
  if (p.topK > 0) config.topK = p.topK;
  if (penalized(p)) {
    config.repeatPenalty = p.repeatPenalty;
    config.repeatPenaltyMaxTokens = p.penaltyLastN;
    config.repeatPenaltyTokens = Uint32Array.from(history.slice(-p.penaltyLastN));
    config.repeatPenaltyPresencePenalty = p.presencePenalty;
    config.repeatPenaltyFrequencyPenalty = p.frequencyPenalty;
  }
  if ((p.xtcProbability ?? 0) > 0) {
    config.xtcProbability = p.xtcProbability;
    config.xtcThreshold = p.xtcThreshold ?? 0.1;
  }
  if (p.logitBias && p.logitBias.length > 0) {
    config.tokenBiasKeys = Uint32Array.from(p.logitBias, ([token]) => token);
    config.tokenBiasValues = Float32Array.from(p.logitBias, ([, bias]) => bias);
  }
  return config;
}

/** The request's seed; unseeded requests still need one for the native RNG: time-based like llama.cpp's default. */
export function seedOf(p: SamplingParams): number {
  return p.seed ?? (Date.now() ^ (Math.random() * 0x7fffffff)) >>> 0;
}

export function penalized(p: SamplingParams): boolean {
  return p.penaltyLastN > 0 && (p.repeatPenalty !== 1 || p.presencePenalty !== 0 || p.frequencyPenalty !== 0);
}

/**
 * One token from the logits at `logitIndex`. `probabilities`: also the distribution it was drawn
 * from; with probabilities, node-llama-cpp applies the grammar before the chain (not only when the
 * chain's pick breaks it), sorts the candidates left after the chain by logit and returns their
 * softmax. `model`: the model's own distribution instead, read by the probe, so the main sampler
 * draws exactly as without probabilities.
 */
export async function sampleOne(
  ctx: AddonSampling,
  logitIndex: number,
  s: LlamaSampler,
  want: { probabilities: boolean; model: boolean; makeProbe: () => AddonSampler },
): Promise<Sampled> {
  let out: Sampled;
  if (!want.probabilities) out = { token: await ctx.sampleToken(logitIndex, s.native) };
  else if (want.model) {
    // Both read the same logits; the probe's greedy chain changes nothing the main sampler sees.
    s.probe ??= want.makeProbe();
    const [token, [, probs]] = await Promise.all([ctx.sampleToken(logitIndex, s.native), ctx.sampleToken(logitIndex, s.probe, true)]);
    out = { token, probabilities: probs ?? [] };
  } else {
    const [token, probs] = await ctx.sampleToken(logitIndex, s.native, true);
    out = { token, probabilities: probs ?? [] };
  }
  if (s.config.repeatPenaltyTokens) {
    s.sampled.push(out.token);
    // Only the last penaltyLastN count (engageGrammar re-applies them): keep the record bounded.
    if (s.sampled.length > 2 * s.penaltyLastN) s.sampled.splice(0, s.sampled.length - s.penaltyLastN);
  }
  return out;
}
