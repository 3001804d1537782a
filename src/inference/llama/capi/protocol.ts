// Messages between the C API engine (main thread) and its decode thread (worker.ts). Pointers travel
// as numbers: both threads are in one process, so they are valid on either side.

export type ToDecodeThread =
  | { type: "load"; dir: string; modelPath: string; slots: number; slotContextSize: number; batchSize: number; threads: number; flash: number; mmap: boolean }
  | { type: "decode"; id: number; items: DecodeItem[]; jobs: SampleJob[] }
  | { type: "threads"; threads: number }
  | { type: "close" };

export type FromDecodeThread =
  | { type: "loaded"; model: number; ctx: number; vocab: number; nVocab: number; sizeBytes: number; trainContextSize: number }
  | { type: "decoded"; id: number; tokens: Int32Array; probabilities: (number[] | null)[] }
  | { type: "failed"; id: number; message: string }
  | { type: "closed" };

export interface DecodeItem {
  slot: number;
  pos: number;
  tokens: Int32Array;
  /** Keep the last token's logits (some job samples from them). */
  logits: boolean;
}

/** One token to draw from an item's logits. */
export interface SampleJob {
  item: number;
  chain: number;
  /** The penalties sampler inside the chain (0: none): it is told each token drawn. */
  penalties: number;
  /** A grammar sampler outside the chain (0: none). */
  grammar: number;
  /** Return the distribution the token was drawn from (the grammar then goes first). */
  probabilities: boolean;
}
