// A deterministic embedding backend for tests, in the spirit of engine-fake.ts: tokens are UTF-8
// bytes (id = byte + 3) after a BOS, like FakeEngine's. A vector is the mean of one pseudo-random
// vector per (token, position), so the same input always gives the same vector and any change of
// a token or its place changes it. A document's score is the share of the query's words it
// contains, nudged by a hash so that ties are rare: documents that repeat the query rank first.
import { createEmbedder } from "./embedding-service.ts";
import type { Embedder, EmbeddingBackend, EmbeddingInfo, EmbeddingInput, Prepared } from "./embedding.ts";

const BOS = 1;
const BYTE_BASE = 3;

interface FakeEmbeddingOptions {
  dimensions?: number;
  maxInputTokens?: number;
  /** Answer rank() instead of embed(). */
  reranker?: boolean;
  /** ms each evaluation takes (0 = next macrotask). */
  delayMs?: number;
  maxQueued?: number;
}

export class FakeEmbeddingBackend implements EmbeddingBackend {
  readonly info: EmbeddingInfo;
  /** The text of every evaluation (a document's, for rank), in the order they ran (for queueing tests). */
  readonly log: string[] = [];
  loads = 0;
  disposed = false;
  private readonly delayMs: number;
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();

  constructor(opts: FakeEmbeddingOptions = {}) {
    this.delayMs = opts.delayMs ?? 0;
    const reranker = opts.reranker ?? false;
    this.info = {
      dimensions: reranker ? 1 : (opts.dimensions ?? 8),
      maxInputTokens: opts.maxInputTokens ?? 64,
      pooling: reranker ? "rank" : "mean",
      reranker,
      vocabSize: 256 + BYTE_BASE,
    };
  }

  prepare(input: EmbeddingInput): Prepared {
    const tokens = typeof input === "string" ? [BOS, ...Array.from(this.encoder.encode(input), (b) => b + BYTE_BASE)] : [...input];
    return { tokens, length: tokens[0] === BOS ? tokens.length : tokens.length + 1 };
  }

  async embed(tokens: readonly number[]): Promise<Float32Array> {
    const all = tokens[0] === BOS ? tokens : [BOS, ...tokens];
    await this.evaluation(all);
    const out = new Float32Array(this.info.dimensions);
    all.forEach((t, pos) => {
      for (let d = 0; d < out.length; d++) out[d]! += ((mix(mix(t, pos), d) / 0xffffffff) * 2 - 1) / all.length;
    });
    return out;
  }

  rankLength(query: string, document: string): number {
    return this.prepare(query).length + this.prepare(document).length;
  }

  async rank(query: string, document: string): Promise<number> {
    await this.evaluation(this.prepare(document).tokens);
    const words = query.toLowerCase().split(/\W+/).filter(Boolean);
    const have = new Set(document.toLowerCase().split(/\W+/));
    const share = words.length === 0 ? 0 : words.filter((w) => have.has(w)).length / words.length;
    return 0.9 * share + 0.1 * (mix(hash(query), hash(document)) / 0xffffffff);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }

  private async evaluation(tokens: readonly number[]): Promise<void> {
    this.log.push(this.decoder.decode(Uint8Array.from(tokens.filter((t) => t >= BYTE_BASE).map((t) => t - BYTE_BASE))));
    await new Promise((r) => setTimeout(r, this.delayMs));
  }
}

/** An Embedder over a fresh fake backend; `backend` is there for assertions. */
export function fakeEmbedder(opts: FakeEmbeddingOptions = {}): { embedder: Embedder; backend: FakeEmbeddingBackend } {
  const backend = new FakeEmbeddingBackend(opts);
  const embedder = createEmbedder(async () => {
    backend.loads++;
    return backend;
  }, opts.maxQueued);
  return { embedder, backend };
}

function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = mix(h, s.charCodeAt(i));
  return h;
}

function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x5bd1e995);
  h ^= h >>> 15;
  return Math.imul(h, 0x27d4eb2d) >>> 0;
}
