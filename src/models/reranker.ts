// A tiny reranker for tests: the `tiny` llama preset re-labelled as llama.cpp's "qwen3"
// architecture (the same decoder plus per-head RMS norms on Q and K), with a two-label classifier
// head `cls.output.weight` and rank pooling. llama.cpp scores a (query, document) pair as the
// softmax over the head's ["yes", "no"] outputs at the last token, as for Qwen3 rerankers; qwen3
// is the one decoder architecture whose graph reads that head, which is why it is used here.
// Random weights: the scores are deterministic but mean nothing.
import { randomUUID } from "node:crypto";
import { mkdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { type GgufTensorSpec, kv, writeGguf } from "./gguf-writer.ts";
import { llamaMetadata, llamaTensors, tensorChunks } from "./llama.ts";
import { PRESETS, headDim } from "./shapes.ts";

const PRESET = PRESETS.tiny;
/** llama_pooling_type's RANK. */
const POOLING_RANK = 4;
/** Classifier outputs; a reranker's score is the softmax probability of the first. */
export const RERANKER_LABELS = ["yes", "no"] as const;
export const RERANKER_HEAD = "cls.output.weight";

function rerankerMetadata(seed: number) {
  const renamed = llamaMetadata("tiny", PRESET, seed).map(([key, value]) => {
    if (key === "general.architecture") return [key, kv.str("qwen3")] as const;
    if (key === "general.name") return [key, kv.str("warren-tiny-rerank")] as const;
    if (key === "warren.generator.preset") return [key, kv.str("tiny-rerank")] as const;
    return [key.startsWith("llama.") ? `qwen3.${key.slice("llama.".length)}` : key, value] as const;
  });
  return [...renamed, ["qwen3.pooling_type", kv.u32(POOLING_RANK)] as const, ["qwen3.classifier.output_labels", kv.strs(RERANKER_LABELS)] as const];
}

function rerankerTensors(seed: number): GgufTensorSpec[] {
  const s = PRESET.shape;
  const extra = [
    ...Array.from({ length: s.nLayer }, (_, i) => [`blk.${i}.attn_q_norm.weight`, `blk.${i}.attn_k_norm.weight`]).flat().map((name) => ({
      name, dims: [headDim(s)], kind: "norm" as const, std: 0,
    })),
    { name: RERANKER_HEAD, dims: [s.nEmbd, RERANKER_LABELS.length], kind: "matrix" as const, std: 1 / Math.sqrt(s.nEmbd) },
  ];
  return [
    ...llamaTensors(PRESET, seed),
    ...extra.map((plan) => ({ name: plan.name, dims: plan.dims, type: "F32" as const, data: () => tensorChunks(plan, "F32", seed, 0) })),
  ];
}

/** Writes the reranker to `out` (atomically, like makeModel). */
export async function makeReranker(out: string, seed = 1): Promise<void> {
  await mkdir(dirname(out), { recursive: true });
  const tmp = join(dirname(out), `.${basename(out)}.${process.pid}.${randomUUID()}.tmp`);
  try {
    await writeGguf(tmp, rerankerMetadata(seed), rerankerTensors(seed));
    await rename(tmp, out);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
