// The half of LlamaEngine that holds the llama.cpp context: decoding, sampling and the slots' cells.
// Two implementations: over node-llama-cpp's binding (binding-context.ts) and over llama.cpp's C API
// through bun:ffi (capi/context.ts). The model half (tokenizer, chat template, grammars, model facts)
// is node-llama-cpp's in both.
import type { BatchItem, EngineSampler, Pipeline, Sampled } from "../engine.ts";
import type { SamplingParams } from "../types.ts";

export interface ContextSide {
  readonly threads: number;
  readonly flashAttention: "auto" | "on" | "off";
  setThreads(threads: number): void;
  createSampler(p: SamplingParams, history: readonly number[], grammar?: unknown): EngineSampler;
  engageGrammar(sampler: EngineSampler, grammar: unknown, leftover: string): number;
  decode(items: readonly BatchItem[]): Promise<Sampled[][]>;
  /** See Engine.openPipeline: only a side with a decode thread of its own has one. */
  openPipeline?(): Pipeline;
  /** See Engine.collectGarbage: only a side with a decode thread of its own has one. */
  collectGarbage?(): Promise<number>;
  clearSlot(slot: number, fromPos: number): void;
  copySlot(from: number, to: readonly number[]): Promise<void>;
  dispose(): Promise<void>;
}
