// One catalogue model into memory, for the registry: its llama.cpp engine (with --threads auto, the
// thread count measured on it), a scheduler of its own, and its embedding side, made on the first
// embeddings or rerank request.
import { statSync } from "node:fs";
import { usableCpus } from "../cpu-affinity.ts";
import type { ModelSpec } from "./catalogue.ts";
import { createEmbedder } from "./embedding-service.ts";
import type { LlamaEngine } from "./llama/engine.ts";
import type { LoadedModel } from "./model-entry.ts";
import { Scheduler } from "./scheduler.ts";
import { threadCandidates, tuneThreads } from "./threads.ts";

interface LoadDeps {
  /** The spec's chat template resolved ({} = the model's own); throws for a file that cannot be read. */
  template(spec: ModelSpec): { jinja?: string; wrapper?: string };
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string): void;
}

/** A loaded model, with its engine for the ready line. */
type LoadedLlamaModel = LoadedModel & { engine: LlamaEngine };

export async function loadModel(spec: ModelSpec, deps: LoadDeps): Promise<LoadedLlamaModel> {
  const s = spec.settings;
  const template = deps.template(spec);
  // Loaded lazily: --help, model and bench never need node-llama-cpp (nor its unpacking in the compiled binary).
  const { LlamaEngine } = await import("./llama/engine.ts");
  const candidates = s.threads === "auto" ? threadCandidates(usableCpus()) : [s.threads];
  const before = fileState(spec.path);
  const engine = await LlamaEngine.load({
    modelPath: spec.path,
    slots: s.parallel,
    slotContextSize: s.ctxSize,
    threads: Math.max(...candidates),
    batchSize: Math.max(s.batchSize, s.parallel),
    flashAttention: s.flashAttention,
    engine: s.engine === "auto" ? undefined : s.engine,
    mmap: s.mmap,
    chatTemplate: template.jinja,
    chatWrapper: template.wrapper,
  }).catch((err: unknown) => {
    throw changedWhileLoading(spec.path, before) ?? err;
  });
  if (engine.engineFallback) deps.warn(`${spec.name}: llama.cpp's C API could not be used, node-llama-cpp's binding drives it: ${engine.engineFallback}`);
  try {
    if (s.threads === "auto") await autoThreads(engine, candidates, deps);
    if (s.ctxSize > engine.info.trainContextSize) {
      deps.warn(`${spec.name}: ctx-size ${s.ctxSize} exceeds the ${engine.info.trainContextSize} tokens the model was trained with; output past that degrades`);
    }
  } catch (err) {
    await engine.dispose().catch(() => {});
    throw err;
  }
  const scheduler = new Scheduler({ engine, maxQueue: s.maxQueue });
  // Nothing is loaded until the first embeddings or rerank request. An input must fit one batch
  // (llama.cpp pools one micro-batch), as with llama-server's --ubatch-size.
  const embedding = { modelPath: spec.path, mmap: s.mmap, threads: engine.threads, maxInputTokens: Math.min(s.batchSize, s.ctxSize) };
  const embedder = createEmbedder(async () => {
    const started = performance.now();
    const backend = await (await import("./llama/embedding.ts")).loadLlamaEmbedding(embedding);
    const i = backend.info;
    deps.info(`${spec.name}: embedding context ready: ${i.reranker ? "reranker" : `${i.dimensions} dimensions, ${i.pooling} pooling`}, inputs up to ${i.maxInputTokens} tokens`, {
      ms: Math.round(performance.now() - started),
    });
    return backend;
  });
  return {
    engine,
    scheduler,
    embedder,
    async dispose() {
      // Refuses what is still queued, waits for the one evaluation running (at most one batch), frees the context.
      await embedder.close();
      await engine.dispose();
    },
  };
}

/** --threads auto: measured on the loaded model (threads.ts); the rates go to the log. */
async function autoThreads(engine: LlamaEngine, candidates: number[], deps: LoadDeps): Promise<void> {
  const r = await tuneThreads(engine, candidates);
  const rates = r.rates.map((x) => `${x.threads}: ${Math.round(x.single)} tok/s alone, ${Math.round(x.batch)} with ${engine.slots} slots`).join("; ");
  deps.info(`threads auto: ${r.threads} (measured in ${Math.round(r.ms)} ms; threads ${rates})`);
}

/** Size and modification time of a file, or undefined when it is gone. */
function fileState(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.size} bytes, modified ${st.mtime.toISOString()}`;
  } catch {
    return undefined;
  }
}

/**
 * Why a load failed when the file was removed or rewritten while it loaded (it was checked just
 * before): llama.cpp's own errors then say only "Failed to load model", or ENOENT with the path.
 * Undefined when the file is there as it was.
 */
function changedWhileLoading(path: string, before: string | undefined): Error | undefined {
  const now = fileState(path);
  if (now === undefined) return new Error("the file was removed while it loaded");
  if (now === before) return undefined;
  return new Error(`the file changed while it loaded (now ${now}; it was ${before ?? "missing"}): load it again once it is complete`);
}
