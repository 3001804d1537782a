// The embedding backend over node-llama-cpp: a second instance of the served model file with its
// own context, so embedding never touches the generation scheduler's context or its KV cells.
//
// Pooling. llama.cpp pools inside the graph as the GGUF's `<arch>.pooling_type` says. Generative
// models say none, and then node-llama-cpp's getEmbedding returns the LAST token's hidden state
// (llama_get_embeddings_ith(ctx, -1)), not a sentence vector. This instance is therefore loaded
// with a metadata override to mean pooling when the file says none (or nothing): llama.cpp reads
// that key for every architecture. Files that name cls, last or mean (embedding models) keep it.
// test/inference/llama-embedding.test.ts checks that the mean really is the mean of the token states.
//
// Memory. The weights are read into memory, not mmap'ed, as the generation engine's are (a file
// truncated in place under a mapping would kill the process with SIGBUS): this second instance
// holds a copy of its own, so embeddings on a generation model take its weights' size again.
//
// Batching. node-llama-cpp's native getEmbedding reads the pooled vector of sequence 0 only
// (llama_get_embeddings_seq(ctx, 0)); there is no call for other sequences. Several inputs in one
// decode, each in its own sequence, would be pooled by llama.cpp but could not be read back, so
// each input is one decode, and concurrent requests take turns on this one context (turn-queue.ts).
// A pooled input must also fit one micro-batch, which is why the batch size is the input limit.
import { getLlama, LlamaLogLevel, readGgufFileInfo, type LlamaEmbeddingContext, type LlamaModel, type LlamaRankingContext, type Token } from "node-llama-cpp";
import type { EmbeddingBackend, EmbeddingInfo, EmbeddingInput, Pooling, Prepared } from "../embedding.ts";

interface LlamaEmbeddingOptions {
  modelPath: string;
  /** Map the weights from the file instead of reading them into memory (the engine's --mmap). */
  mmap?: boolean;
  threads: number;
  /** Most tokens one input may evaluate to (capped by the model's training context). */
  maxInputTokens: number;
}

// llama_pooling_type values as GGUF stores them.
const POOLING_BY_ID: Record<number, Pooling | "none"> = { 0: "none", 1: "mean", 2: "cls", 3: "last", 4: "rank" };
const POOLING_MEAN_ID = 1;

export async function loadLlamaEmbedding(opts: LlamaEmbeddingOptions): Promise<EmbeddingBackend> {
  const file = await readGgufFileInfo(opts.modelPath, { readTensorInfo: false });
  const arch = String(file.metadata.general?.architecture ?? "");
  const declared = POOLING_BY_ID[Number((file.metadata as unknown as Record<string, { pooling_type?: unknown } | undefined>)[arch]?.pooling_type)];
  // A reranker's ranking context sets rank pooling itself, so "rank" is overridden too: that keeps
  // a file that says rank but has no classifier head embeddable.
  const pooling: Pooling = declared === "cls" || declared === "last" || declared === "mean" ? declared : "mean";
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: opts.threads });
  const model = await llama.loadModel({
    modelPath: opts.modelPath,
    useMmap: opts.mmap === true,
    metadataOverrides: pooling !== declared ? ({ [arch]: { pooling_type: POOLING_MEAN_ID } } as never) : undefined,
  });
  try {
    const maxInputTokens = Math.max(1, Math.min(opts.maxInputTokens, model.trainContextSize));
    // node-llama-cpp refuses inputs as long as the context; one more cell lets an input of exactly maxInputTokens in.
    const sizes = { contextSize: maxInputTokens + 1, batchSize: maxInputTokens, threads: opts.threads };
    const reranker = model.fileInsights.supportsRanking;
    const info: EmbeddingInfo = {
      dimensions: reranker ? 1 : model.embeddingVectorSize,
      maxInputTokens,
      pooling: reranker ? "rank" : pooling,
      reranker,
      vocabSize: vocabSizeOf(model),
    };
    const context = reranker ? await model.createRankingContext(sizes) : await model.createEmbeddingContext(sizes);
    return new LlamaEmbeddingBackend(info, model, context);
  } catch (err) {
    await model.dispose();
    throw err;
  }
}

/**
 * Rerankers score through node-llama-cpp's ranking context: it lays out the pair with the GGUF's
 * rerank template (tokenizer.chat_template.rerank) or as BOS query EOS SEP document EOS, and turns
 * the classifier's output into a probability (a sigmoid, or the softmax Qwen3 rerankers give).
 * The service calls embed() only for embedding contexts and rank() only for ranking ones.
 */
class LlamaEmbeddingBackend implements EmbeddingBackend {
  constructor(
    readonly info: EmbeddingInfo,
    private readonly model: LlamaModel,
    private readonly context: LlamaEmbeddingContext | LlamaRankingContext,
  ) {}

  prepare(input: EmbeddingInput): Prepared {
    // User text: control-token text like "<s>" stays text. node-llama-cpp adds the special tokens
    // (BOS; EOS or SEP where the vocabulary says so) as llama.cpp's tokenizer would.
    const tokens = typeof input === "string" ? (this.model.tokenize(input, false) as number[]) : [...input];
    return { tokens, length: this.embedding().calculateInputLength(tokens as Token[]) };
  }

  async embed(tokens: readonly number[]): Promise<ArrayLike<number>> {
    return (await this.embedding().getEmbeddingFor(tokens as Token[])).vector;
  }

  rankLength(query: string, document: string): number {
    return this.ranking().calculateInputLength(query, document);
  }

  rank(query: string, document: string): Promise<number> {
    return this.ranking().rank(query, document);
  }

  async dispose(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
  }

  private embedding(): LlamaEmbeddingContext {
    if (this.info.reranker) throw new Error("a reranker's context does not embed");
    return this.context as LlamaEmbeddingContext;
  }

  private ranking(): LlamaRankingContext {
    if (!this.info.reranker) throw new Error("an embedding context does not rank");
    return this.context as LlamaRankingContext;
  }
}

function vocabSizeOf(model: LlamaModel): number {
  const tokens = (model.fileInfo.metadata as unknown as { tokenizer?: { ggml?: { tokens?: unknown[] } } })?.tokenizer?.ggml?.tokens;
  return Array.isArray(tokens) ? tokens.length : 0;
}
