// Messages between the C API engine (main thread) and its decode thread (worker.ts). Pointers travel
// as numbers: both threads are in one process, so they are valid on either side. Messages are
// handled in order, so a cache operation or a sampler's release never overtakes a step it follows.

export type ToDecodeThread =
  | { type: "load"; dir: string; modelPath: string; slots: number; slotContextSize: number; batchSize: number; threads: number; flash: number; mmap: boolean; control: SharedArrayBuffer }
  /** One step, answered by "decoded" (Engine.decode). */
  | { type: "decode"; id: number; items: DecodeItem[]; jobs: SampleJob[] }
  /** Work for the pipeline (pipeline.ts): steps follow on their own, each answered by "step". */
  | { type: "work"; work: WorkItem[] }
  /** Stop the slot's pipeline work; remove its cells from keepBelow on (-1: keep all). Answered by "reset". */
  | { type: "reset"; slot: number; keepBelow: number }
  | { type: "clear"; slot: number; from: number }
  | { type: "copy"; id: number; from: number; to: number[] }
  /** Samplers to free (a chain frees the samplers added to it). */
  | { type: "free"; samplers: number[] }
  /** The main thread has read the steps: a thread that stopped to wait for it goes on. */
  | { type: "go" }
  | { type: "threads"; threads: number }
  /** A full collection of this thread's heap (the memory upkeep's, main.ts). Answered by "collected". */
  | { type: "gc"; id: number }
  | { type: "close" }
  /** Several of the above, handled in order (one post per turn of the main thread). */
  | { type: "batch"; messages: ToDecodeThread[] };

export type FromDecodeThread =
  | { type: "loaded"; model: number; ctx: number; vocab: number; nVocab: number; sizeBytes: number; trainContextSize: number }
  | { type: "decoded"; id: number; tokens: Int32Array; probabilities: (number[] | null)[] }
  /** A pipeline step: per output, its first job's index in tokens (-1: it sampled nothing); ms: its decode and sampling. */
  | { type: "step"; ms: number; outputs: Array<{ slot: number; pos: number; count: number; more: boolean; first: number }>; tokens: Int32Array; probabilities: (number[] | null)[] }
  | { type: "reset"; slot: number }
  | { type: "copied"; id: number }
  /** The collection took `ms` on this thread. */
  | { type: "collected"; id: number; ms: number }
  /** id -1: a pipeline step, failed for `slots`. */
  | { type: "failed"; id: number; message: string; slots?: number[] }
  | { type: "closed" };

/** Words of the control buffer shared with the decode thread. */
export const CONTROL_READ = 0; // pipeline steps the main thread has read
export const CONTROL_WAITING = 1; // 1 while the decode thread waits for it to read more

export interface DecodeItem {
  slot: number;
  pos: number;
  tokens: Int32Array;
  /** Keep the last token's logits (some job samples from them). */
  logits: boolean;
}

/** Pipeline work for a slot: see Work in engine.ts. `jobs` sample after its last token. */
export interface WorkItem {
  slot: number;
  pos: number;
  tokens: Int32Array;
  jobs: SampleJob[];
  ahead: number;
  stopAtEog: boolean;
}

/** One token to draw from an item's logits. */
export interface SampleJob {
  /** The item (decode) whose logits it samples; unused for work. */
  item: number;
  chain: number;
  /** The penalties sampler inside the chain (0: none): it is told each token drawn. */
  penalties: number;
  /** A grammar sampler outside the chain (0: none). */
  grammar: number;
  /** Return the distribution the token was drawn from (the grammar then goes first). */
  probabilities: boolean;
}
