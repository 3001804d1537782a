// The Engine is the scheduler's only view of a model: tokenizer, batched decode and sampling over
// numbered slots (sequences of one context). Implementations: llama/engine.ts (node-llama-cpp) and
// engine-fake.ts (deterministic, for tests). Both pass test/inference/engine-contract.test.ts.
import type { ChatCapabilities, RenderedChat, RenderInput } from "./chat/types.ts";
import type { SamplingParams } from "./types.ts";

export interface ModelInfo {
  path: string;
  /** general.name or the file name. */
  name: string;
  architecture: string;
  /** Context length the model was trained with (GGUF metadata). */
  trainContextSize: number;
  vocabSize: number;
  parameters: number;
  sizeBytes: number;
  /** Whether prompts should start with BOS. */
  addBos: boolean;
  bosToken?: number;
  eosToken?: number;
  /** Chat template renderChat uses: a node-llama-cpp wrapper name, or PLAIN_CHAT. */
  chatTemplate?: string;
  /** The Jinja text of the template in use (--chat-template's file, else the GGUF's own), when there is one. */
  chatTemplateText?: string;
  /** What that template supports (tool calls, reasoning). */
  chat: ChatCapabilities;
  /** Fill-in-the-middle tokens, when the vocabulary has them; repo and separator are optional (repo-level FIM). */
  fim?: { prefix: number; suffix: number; middle: number; repo?: number; separator?: number };
}

/** One slot's contribution to a batched decode. */
export interface BatchItem {
  slot: number;
  /** KV position of tokens[0]; the slot's cells at >= pos must already be cleared. */
  pos: number;
  tokens: readonly number[];
  /** When set, sample one token from the logits after the last of `tokens`. */
  sampler?: EngineSampler;
  /**
   * Further samplers, each drawing one token from the same logits as `sampler`: the first tokens of
   * a request's other choices (n > 1), whose prompt is evaluated once, in this item's slot.
   */
  forks?: readonly EngineSampler[];
  /** Also return the distribution each token was drawn from (a sort and a copy of the candidates per token). */
  probabilities?: boolean;
  /**
   * With `probabilities`: return the model's own distribution instead, the softmax of the raw logits
   * over the whole vocabulary before any sampler (a sort of the vocabulary per token). The token is
   * then drawn exactly as without probabilities (a grammar is checked after the chain, not forced first).
   */
  modelProbabilities?: boolean;
}

/** One sampled token. */
export interface Sampled {
  /** -1 when the sampler had no candidate left (a grammar allowed none). */
  token: number;
  /**
   * With BatchItem.probabilities: the distribution the token was drawn from, as a flat list
   * [token, p, token, p, ...], most probable first, p summing to 1. It is the softmax over the
   * candidates left after the sampler chain (grammar, penalties, top-k, top-p, min-p, temperature);
   * a greedy sampler (temperature 0) leaves the whole vocabulary with its unscaled logits.
   */
  probabilities?: readonly number[];
}

/** Per-request sampling state (penalty history, grammar state, RNG). */
export interface EngineSampler {
  dispose(): void;
}

export interface Engine {
  readonly info: ModelInfo;
  /** Number of sequences (parallel slots). */
  readonly slots: number;
  /** KV cells each slot can hold (prompt + generated tokens). */
  readonly slotContextSize: number;
  /** Most tokens one decode call takes, across all slots. */
  readonly batchSize: number;
  /** Inference threads in use now. */
  readonly threads: number;
  /** Changes the thread count for the decodes that follow (--threads auto measures with it). */
  setThreads(threads: number): void;

  /** `special`: parse control-token text (chat templates); false for user text. */
  tokenize(text: string, addBos: boolean, special?: boolean): number[];
  /** `context`: tokens that precede `tokens` (so SentencePiece leading spaces come out right); its text is not returned. */
  detokenize(tokens: readonly number[], context?: readonly number[]): string;
  isEndOfGeneration(token: number): boolean;

  /** `history`: tokens repetition penalties look back on (usually the prompt). `grammar` from createJsonGrammar. */
  createSampler(params: SamplingParams, history: readonly number[], grammar?: unknown): EngineSampler;
  /** JSON grammar: a JSON Schema object, or null for "any JSON object". Throws GrammarError on unsupported schemas. */
  createJsonGrammar(schema: object | null): Promise<JsonGrammar>;
  /**
   * Render a conversation (tool calls, their results and thoughts included) with the model's own
   * chat template, ending where the assistant's next reply starts, with `tools` described as the
   * template describes them. Models without a template get PLAIN_CHAT (see plainChat). Throws
   * InferenceError ("invalid_request") when the template refuses the conversation.
   */
  renderChat(input: RenderInput): RenderedChat;
  /** GBNF text for a JSON Schema (the subset json-schema.ts accepts; GrammarError otherwise). */
  jsonSchemaGbnf(schema: object): Promise<string>;
  /**
   * Compiles GBNF into an opaque grammar handle for InferenceRequest.grammar / lazyGrammar. Throws
   * GrammarError when it does not compile; a syntax error's message starts "line L, column C:".
   */
  createGrammar(gbnf: string): Promise<unknown>;
  /**
   * Puts `grammar` on a live sampler from the next token on. `leftover` is text already generated
   * past the point where the grammar starts: it is fed to the grammar as far as it fits. Returns
   * how many of its characters the grammar took (the rest is not part of the constrained text).
   */
  engageGrammar(sampler: EngineSampler, grammar: unknown, leftover: string): number;

  /**
   * Decode all items in one batch. Per item: its sampler's token, then one per fork, in order
   * (empty for an item without a sampler).
   */
  decode(items: readonly BatchItem[]): Promise<Sampled[][]>;
  /**
   * A pipeline of its own (pipeline.ts), for an engine that decodes on a thread of its own and can
   * go ahead with slots while the scheduler reads the last step; without one (or undefined) the
   * scheduler drives decode() a step at a time. Never used alongside decode().
   */
  openPipeline?(): Pipeline | undefined;
  /**
   * A full garbage collection on threads of the engine's own (the C API engine's decode thread has
   * a JavaScript heap of its own, which the main thread's collections never reach); the memory
   * upkeep calls it. Ordered after the work already sent; resolves with the milliseconds it took
   * there (0 where there is no such thread).
   */
  collectGarbage?(): Promise<number>;
  /** Forget the slot's KV cells from `fromPos` on (0 = all). */
  clearSlot(slot: number, fromPos: number): void;
  /**
   * Make every slot in `to` hold a copy of slot `from`'s cells (their own are dropped), so choices of
   * one request share a prompt evaluated once. Like decode, never run it alongside another call
   * that touches the context.
   */
  copySlot(from: number, to: readonly number[]): Promise<void>;
  /**
   * The bytes one token adds to generated text: a byte-fallback token gives its single byte (part of
   * a UTF-8 sequence), a word piece its text with the leading space it carries; control tokens give
   * their own text (`</s>`), which generated text never contains. The one per-token cache: the
   * engine may return the same array for every call, so callers never modify it.
   */
  tokenBytes(token: number): Uint8Array;

  dispose(): Promise<void>;
}

// Pipelined decoding (see pipeline.ts).

/** Work for one slot. */
export interface Work<S> {
  slot: number;
  /** KV position of tokens[0]; the slot's cells at >= pos must be clear. */
  pos: number;
  /** Plain numbers from the scheduler; an Int32Array once work has travelled to a decode thread (capi/). */
  tokens: readonly number[] | Int32Array;
  /** How to sample from the last token's logits; none for work that only fills cells. */
  sample?: S;
  /** Tokens the engine may go on generating by itself after the one this work samples. */
  ahead: number;
  /** Going ahead stops after an end-of-generation token (false: a request that ignores EOS). */
  stopAtEog: boolean;
}

/** How a slot samples: the BatchItem fields of that name. */
export type Sampling = Required<Pick<BatchItem, "sampler">> & Pick<BatchItem, "forks" | "probabilities" | "modelProbabilities">;

/** What one step did for one slot. */
export interface StepOutput {
  slot: number;
  pos: number;
  /** Tokens decoded into the slot's cells from pos. */
  count: number;
  /** The sampler's token, then one per fork; empty when the piece sampled nothing. */
  sampled: Sampled[];
  /** The engine has more for this slot: the rest of its work, or the next token it goes on with. */
  more: boolean;
}

export type PipeEvent =
  /** `ms`: the engine's time on the step (decode and sampling), measured where it ran. */
  | { type: "step"; outputs: StepOutput[]; ms: number }
  /** A step failed: nothing more comes for these slots (their cells may be half-written). */
  | { type: "failed"; slots: number[]; message: string }
  /** Acknowledges reset(slot): nothing more comes for it. */
  | { type: "reset"; slot: number };

export interface Pipeline {
  /** Decoded in the steps to come. The slot must have nothing in flight. */
  submit(work: Work<Sampling>): void;
  /**
   * Stop everything for the slot and remove its cells from `keepBelow` on (Infinity: keep every
   * decoded cell). Outputs of steps already under way still come; a "reset" event follows them.
   */
  reset(slot: number, keepBelow: number): void;
  /** Something is submitted, under way or unread: next() will give an event. */
  readonly busy: boolean;
  next(): Promise<PipeEvent>;
}

export class GrammarError extends Error {
  override name = "GrammarError";
  constructor(
    message: string,
    /** The JSON Schema keyword that could not be enforced, when one is to blame. */
    readonly keyword?: string,
  ) {
    super(message);
  }
}

export interface JsonGrammar {
  /** Opaque handle for InferenceRequest.grammar. */
  grammar: unknown;
  /** Stop strings the grammar relies on to end (it may demand trailing newlines after the JSON). */
  stop: string[];
}

interface ChatTurn {
  role: "system" | "user" | "assistant";
  text: string;
}

/** Name of the fallback template for models whose GGUF carries no chat template. */
export const PLAIN_CHAT = "plain";

/**
 * The fallback chat format, for base models with no template (stories260K):
 *   System: ...\nUser: ...\nAssistant: ...\nUser: ...\nAssistant:
 * Base models continue transcripts like this naturally; the stop on "\nUser:" ends the reply where
 * the model would start writing the user's next turn. A final assistant turn is left open, so a
 * client can prefill the start of the reply.
 */
export function plainChat(turns: readonly ChatTurn[]): { text: string; stop: string[] } {
  const label = { system: "System", user: "User", assistant: "Assistant" } as const;
  const last = turns[turns.length - 1];
  const open = last?.role === "assistant";
  const lines = turns.map((t, i) => (open && i === turns.length - 1 ? `${label[t.role]}: ${t.text}` : `${label[t.role]}: ${t.text}\n`));
  return { text: lines.join("") + (open ? "" : "Assistant:"), stop: ["\nUser:"] };
}
