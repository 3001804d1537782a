// Named model shapes (the preset table) and the llama tensor plan they imply.
// All row lengths (n_embd, n_ff) are multiples of 32 so any preset can be stored as Q8_0.
import type { TensorType } from "./gguf-format.ts";

interface LlamaShape {
  nVocab: number;
  nCtx: number; // llama.context_length: the longest context a server may ask for
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number; // < nHead means grouped-query attention
  nFf: number;
  rmsEps: number;
  ropeFreqBase: number;
}

export interface Preset {
  description: string;
  shape: LlamaShape;
  /** Type of the 2-D weight matrices; norm vectors are always F32 (what llama.cpp expects). */
  weightType: TensorType;
}

const TINY_SHAPE: LlamaShape = {
  nVocab: 768,
  nCtx: 2048,
  nEmbd: 64,
  nLayer: 2,
  nHead: 4,
  nHeadKv: 2,
  nFf: 192,
  rmsEps: 1e-5,
  ropeFreqBase: 10000,
};

export const PRESETS = {
  tiny: { description: "~0.2M params, F32, < 1 MB: unit and e2e tests", shape: TINY_SHAPE, weightType: "F32" },
  "tiny-f16": { description: "tiny with F16 weights", shape: TINY_SHAPE, weightType: "F16" },
  "tiny-q8": { description: "tiny with Q8_0 weights (fast check of the bench format)", shape: TINY_SHAPE, weightType: "Q8_0" },
  bench: {
    // 12 x (4 x 768^2 + 3 x 768 x 2048) + 2 x 768 x 9800 + norms = 100,006,656 params:
    // big enough that matrix work, not per-token overhead, dominates a benchmark.
    description: "~100M params, Q8_0 (~106 MB): compute-bound throughput benchmarks",
    shape: {
      nVocab: 9800,
      nCtx: 4096,
      nEmbd: 768,
      nLayer: 12,
      nHead: 12,
      nHeadKv: 12,
      nFf: 2048,
      rmsEps: 1e-5,
      ropeFreqBase: 10000,
    },
    weightType: "Q8_0",
  },
} as const satisfies Record<string, Preset>;

export type PresetName = keyof typeof PRESETS;

export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

export function isPresetName(s: string): s is PresetName {
  return Object.hasOwn(PRESETS, s);
}

export function headDim(s: LlamaShape): number {
  return s.nEmbd / s.nHead;
}

/** Every tensor of a llama model: GGUF dims ([input, output] for matrices) and role. */
export interface TensorPlan {
  name: string;
  dims: number[];
  kind: "norm" | "embed" | "matrix";
  /** Standard deviation of the generated values (norms are all 1 instead). */
  std: number;
}

export function planTensors(s: LlamaShape): TensorPlan[] {
  const kvDim = s.nHeadKv * headDim(s);
  const w = 1 / Math.sqrt(s.nEmbd);
  // Projections back into the residual stream are scaled down by sqrt(2 * layers) (GPT-2's
  // trick) so the stream's variance stays near 1 however deep the model is.
  const resid = 1 / Math.sqrt(2 * s.nLayer);
  const mat = (name: string, nIn: number, nOut: number, scale = 1): TensorPlan => ({
    name, dims: [nIn, nOut], kind: "matrix", std: scale / Math.sqrt(nIn),
  });
  const norm = (name: string): TensorPlan => ({ name, dims: [s.nEmbd], kind: "norm", std: 0 });
  const out: TensorPlan[] = [
    { name: "token_embd.weight", dims: [s.nEmbd, s.nVocab], kind: "embed", std: 1 },
    norm("output_norm.weight"),
    // Logit std ~2 gives peaked next-token distributions, like a trained model's.
    { name: "output.weight", dims: [s.nEmbd, s.nVocab], kind: "matrix", std: 2 * w },
  ];
  for (let i = 0; i < s.nLayer; i++) {
    const b = `blk.${i}.`;
    out.push(
      norm(`${b}attn_norm.weight`),
      mat(`${b}attn_q.weight`, s.nEmbd, s.nEmbd),
      mat(`${b}attn_k.weight`, s.nEmbd, kvDim),
      mat(`${b}attn_v.weight`, s.nEmbd, kvDim),
      mat(`${b}attn_output.weight`, s.nEmbd, s.nEmbd, resid),
      norm(`${b}ffn_norm.weight`),
      mat(`${b}ffn_gate.weight`, s.nEmbd, s.nFf),
      mat(`${b}ffn_up.weight`, s.nEmbd, s.nFf),
      mat(`${b}ffn_down.weight`, s.nFf, s.nEmbd, resid),
    );
  }
  return out;
}

export function paramCount(s: LlamaShape): number {
  return planTensors(s).reduce((sum, t) => sum + t.dims.reduce((a, d) => a * d, 1), 0);
}
