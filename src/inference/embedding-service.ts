// The Embedder around a backend: loads it on first use, checks every input before any work is
// queued (so a bad input among many costs nothing), runs evaluations through one TurnQueue,
// L2-normalizes vectors and counts what was evaluated.
import { EMBEDDING_MAX_QUEUED_INPUTS } from "../limits.ts";
import {
  EmbeddingError,
  l2normalize,
  type Embedder,
  type EmbeddingBackend,
  type EmbeddingInput,
  type Embeddings,
  type Prepared,
  type Ranking,
} from "./embedding.ts";
import { TurnQueue } from "./turn-queue.ts";
import { InferenceError } from "./types.ts";

export function createEmbedder(load: () => Promise<EmbeddingBackend>, maxQueued = EMBEDDING_MAX_QUEUED_INPUTS): Embedder {
  let backend: Promise<EmbeddingBackend> | undefined;
  let closed = false;
  const counts = { evaluated: 0, tokens: 0 };
  const queue = new TurnQueue(maxQueued, () => new EmbeddingError("cancelled", "the client went away before its inputs were evaluated"));

  const ready = (): Promise<EmbeddingBackend> => {
    if (closed) return Promise.reject(new InferenceError("shutting_down", "the server is shutting down"));
    backend ??= load().catch((err: unknown) => {
      // Forgotten, so a later request tries again (the failure may have been memory, and passed).
      backend = undefined;
      throw new InferenceError("engine_error", `cannot load the model for embeddings: ${err instanceof Error ? err.message : String(err)}`);
    });
    return backend;
  };

  /** Runs one evaluation and counts it. */
  const counted = <T>(tokens: number, run: () => Promise<T>) => async (): Promise<T> => {
    const out = await run();
    counts.evaluated++;
    counts.tokens += tokens;
    return out;
  };

  return {
    info: async () => (await ready()).info,

    async embed(inputs: readonly EmbeddingInput[], signal?: AbortSignal): Promise<Embeddings> {
      const b = await ready();
      if (b.info.reranker) throw new EmbeddingError("reranker_only", "the model is a reranker (it has a classifier head): it scores documents, it does not embed text");
      if (inputs.length === 0) throw new EmbeddingError("empty_input", "no inputs");
      const prepared = inputs.map((input, i) => prepare(b, input, i));
      const raw = await queue.run(prepared.map((p) => counted(p.length, () => b.embed(p.tokens))), signal);
      return { vectors: raw.map(l2normalize), promptTokens: prepared.reduce((n, p) => n + p.length, 0) };
    },

    async rank(query: string, documents: readonly string[], signal?: AbortSignal): Promise<Ranking> {
      const b = await ready();
      if (!b.info.reranker) throw new EmbeddingError("not_reranker", "the model is not a reranker: its GGUF has no classifier head (cls.output.weight or cls.weight) to score documents with");
      if (query.length === 0) throw new EmbeddingError("empty_input", "the query is empty");
      if (documents.length === 0) throw new EmbeddingError("empty_input", "no documents");
      const max = b.info.maxInputTokens;
      const lengths = documents.map((d, i) => {
        const n = b.rankLength(query, d);
        if (n > max) throw new EmbeddingError("input_too_long", `the query and this document are ${n} tokens together; at most ${max} fit the model's context`, i);
        return n;
      });
      const scores = await queue.run(documents.map((d, i) => counted(lengths[i]!, () => b.rank(query, d))), signal);
      return { scores, promptTokens: lengths.reduce((a, n) => a + n, 0) };
    },

    stats: () => ({ ...counts, queued: queue.queued }),

    async close(): Promise<void> {
      closed = true;
      await queue.close();
      const loaded = await backend?.catch(() => undefined);
      await loaded?.dispose();
    },
  };
}

/** Checks one input and tokenizes it; `i` names it in errors. */
function prepare(b: EmbeddingBackend, input: EmbeddingInput, i: number): Prepared {
  if (input.length === 0) throw new EmbeddingError("empty_input", typeof input === "string" ? "the text is empty" : "the token list is empty", i);
  if (typeof input !== "string") {
    const vocab = b.info.vocabSize;
    for (let j = 0; j < input.length; j++) {
      const id = input[j]!;
      if (!Number.isInteger(id) || id < 0 || (vocab > 0 && id >= vocab)) {
        throw new EmbeddingError("invalid_token", `token ${j} (${id}) is not a token id of this model (0 to ${vocab - 1})`, i);
      }
    }
  }
  const prepared = b.prepare(input);
  const max = b.info.maxInputTokens;
  if (prepared.length > max) throw new EmbeddingError("input_too_long", `${prepared.length} tokens; at most ${max} fit the model's embedding context`, i);
  return prepared;
}
