// Embeddings and reranking as the API sees them: the Embedder interface, its errors as data, and
// the backend contract its implementations fill in (llama/embedding.ts over node-llama-cpp,
// embedding-fake.ts for tests). The shared service around a backend is embedding-service.ts.
//
// The model file is the one being served; its embedding side (a second model instance and its own
// context) is made on first use, so a server that never embeds pays nothing for it.

/** One input: text, or token ids the client tokenized itself. */
export type EmbeddingInput = string | readonly number[];

/** llama.cpp's pooling types: how a sequence of token vectors becomes one vector (or one score). */
export type Pooling = "mean" | "cls" | "last" | "rank";

export interface EmbeddingInfo {
  /** Length of every vector embed() returns. */
  dimensions: number;
  /** Most tokens one input (or one query + document pair) may evaluate to, special tokens included. */
  maxInputTokens: number;
  pooling: Pooling;
  /** A reranker answers rank() only; any other model answers embed() only. */
  reranker: boolean;
  /** Token ids run from 0 to vocabSize - 1. */
  vocabSize: number;
}

export interface Embeddings {
  /** One unit-length (L2) vector per input, in input order. */
  vectors: Float32Array[];
  /** Tokens evaluated, special tokens included. */
  promptTokens: number;
}

export interface Ranking {
  /** Relevance of each document to the query, from 0 to 1, in document order. */
  scores: number[];
  promptTokens: number;
}

interface EmbeddingStats {
  /** Inputs embedded plus documents scored. */
  evaluated: number;
  /** Tokens those evaluations took. */
  tokens: number;
  /** Inputs and documents waiting for the embedding context (all requests together). */
  queued: number;
}

export interface Embedder {
  /** Loads the model's embedding side on the first call. */
  info(): Promise<EmbeddingInfo>;
  /** Throws EmbeddingError for input the model cannot take, InferenceError("queue_full") under overload. */
  embed(inputs: readonly EmbeddingInput[], signal?: AbortSignal): Promise<Embeddings>;
  rank(query: string, documents: readonly string[], signal?: AbortSignal): Promise<Ranking>;
  stats(): EmbeddingStats;
  /** Refuses new and queued work, waits for the evaluation in progress, frees the context. */
  close(): Promise<void>;
}

type EmbeddingErrorCode =
  /** An input (or the list) is empty. */
  | "empty_input"
  /** An input, or query + document, is longer than maxInputTokens. */
  | "input_too_long"
  /** A token id outside the vocabulary. */
  | "invalid_token"
  /** rank() on a model without a classifier head. */
  | "not_reranker"
  /** embed() on a reranker. */
  | "reranker_only"
  /** The caller's signal fired before its inputs were all evaluated. */
  | "cancelled";

export class EmbeddingError extends Error {
  override name = "EmbeddingError";
  constructor(
    readonly code: EmbeddingErrorCode,
    message: string,
    /** Which input (embed) or document (rank) is at fault, when one is. */
    readonly index?: number,
  ) {
    super(message);
  }
}

/** What a model must provide; the service adds validation, queueing, normalization and counting. */
export interface EmbeddingBackend {
  readonly info: EmbeddingInfo;
  /** Tokenizes `input` for embed(). Synchronous and cheap. */
  prepare(input: EmbeddingInput): Prepared;
  /** The pooled, not yet normalized vector of prepared tokens. */
  embed(tokens: readonly number[]): Promise<ArrayLike<number>>;
  /** Tokens a (query, document) pair evaluates to. */
  rankLength(query: string, document: string): number;
  /** Relevance from 0 to 1. */
  rank(query: string, document: string): Promise<number>;
  dispose(): Promise<void>;
}

export interface Prepared {
  /** What embed() takes. */
  tokens: number[];
  /** Tokens the model evaluates: `tokens` plus the special tokens (BOS, EOS or SEP) its tokenizer adds. */
  length: number;
}

/** Unit length in the Euclidean norm (what OpenAI's embeddings have); a zero vector stays zero. */
export function l2normalize(v: ArrayLike<number>): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  const out = new Float32Array(v.length);
  const scale = sum > 0 ? 1 / Math.sqrt(sum) : 0;
  for (let i = 0; i < v.length; i++) out[i] = v[i]! * scale;
  return out;
}
