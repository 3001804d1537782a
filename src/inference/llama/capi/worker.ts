// The decode thread of the C API engine (capi/context.ts): it loads the model and context, and for
// each step builds the batch, runs llama_decode and samples every job synchronously, then posts the
// tokens back, one message each way per step. The main thread keeps the samplers (plain llama.cpp
// objects it makes and frees) and the cache operations, which it runs only while no step is here.
import { type Pointer } from "bun:ffi";
import { capiLibrary, cString, TOKEN_DATA_BYTES, type CapiLibrary } from "./library.ts";
import type { FromDecodeThread, ToDecodeThread } from "./protocol.ts";

declare const self: Worker;

let lib!: CapiLibrary;

let model: Pointer | null = null;
/** The thread pool attached to the context, and how many threads it has. */
let pool: Pointer | null = null;
let poolThreads = 0;
let ctx: Pointer | null = null;
let vocab: Pointer | null = null;
let nVocab = 0;
let batch: Uint8Array | null = null;
let candidates: Uint8Array | null = null;
let outIds: Int32Array | null = null;
let outLogits: Float32Array | null = null;
const outCount = new Int32Array(1);

function post(message: FromDecodeThread): void {
  self.postMessage(message);
}

function load(m: Extract<ToDecodeThread, { type: "load" }>): void {
  lib = capiLibrary(m.dir);
  const { glue, llama, ggml } = lib;
  glue.glue_quiet();
  // node-llama-cpp has registered the CPU backend already, from the same libggml; not twice.
  if (Number(ggml.ggml_backend_dev_count()) === 0) ggml.ggml_backend_load_all_from_path(cString(lib.dir));
  model = glue.glue_load_model(cString(m.modelPath), m.mmap ? 1 : 0) as Pointer | null;
  if (!model) throw new Error(`llama.cpp could not load ${m.modelPath}`);
  ctx = glue.glue_new_context(model, (m.slotContextSize * m.slots) | 0, m.batchSize | 0, m.slots | 0, m.threads | 0, m.flash | 0) as Pointer | null;
  // The thread is terminated after a failed load: what it allocated natively would stay behind.
  if (!ctx) {
    release();
    throw new Error("llama.cpp could not create the context (out of memory?)");
  }
  try {
    attachPool(m.threads);
  } catch (err) {
    release();
    throw err;
  }
  vocab = llama.llama_model_get_vocab(model) as Pointer;
  nVocab = llama.llama_vocab_n_tokens(vocab!);
  batch = new Uint8Array(glue.glue_batch_size());
  glue.glue_batch_init(batch, m.batchSize | 0);
  candidates = new Uint8Array(nVocab * TOKEN_DATA_BYTES);
  outIds = new Int32Array(nVocab);
  outLogits = new Float32Array(nVocab);
  post({ type: "loaded", model: Number(model), ctx: Number(ctx), vocab: Number(vocab), nVocab, sizeBytes: Number(llama.llama_model_size(model)), trainContextSize: llama.llama_model_n_ctx_train(model) });
}

/**
 * A pool of exactly `threads` for the context, kept for as long as that count stands. Measured at
 * 2 threads on the 100M preset under load: 498-527 tok/s against 488-491 with a throwaway pool per
 * graph (what llama.cpp does without one), and a lower inter-token p99.
 */
function attachPool(threads: number): void {
  if (threads === poolThreads) return;
  const next = lib.threadpools.create(threads);
  lib.llama.llama_attach_threadpool(ctx!, next, next);
  if (pool) lib.threadpools.free(pool);
  pool = next;
  poolThreads = threads;
}

function setThreads(threads: number): void {
  attachPool(threads);
  lib.llama.llama_set_n_threads(ctx!, threads | 0, threads | 0);
}

/** [token, p, token, p, ...] from the candidates glue_sample copied out, most probable first. */
function distribution(count: number): number[] {
  const ids = outIds!, logits = outLogits!;
  const order = Array.from({ length: count }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]! || a - b);
  let max = -Infinity;
  for (let i = 0; i < count; i++) if (logits[i]! > max) max = logits[i]!;
  const out = new Array<number>(2 * count);
  let sum = 0;
  for (let k = 0; k < count; k++) {
    const i = order[k]!;
    const e = max === -Infinity ? 0 : Math.exp(logits[i]! - max);
    out[2 * k] = ids[i]!;
    out[2 * k + 1] = e;
    sum += e;
  }
  if (sum > 0) for (let k = 0; k < count; k++) out[2 * k + 1] = out[2 * k + 1]! / sum;
  return out;
}

function decode(m: Extract<ToDecodeThread, { type: "decode" }>): void {
  const { glue } = lib;
  glue.glue_batch_clear(batch!);
  const { items, jobs } = m;
  const logitIndex: number[] = [];
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    const idx = glue.glue_batch_add(batch!, it.slot | 0, it.pos | 0, it.tokens, it.tokens.length, it.logits ? 1 : 0);
    if (idx < 0) throw new Error(`the batch holds at most its size in tokens (item ${i})`);
    logitIndex.push(idx);
  }
  const rc = glue.glue_decode(ctx!, batch!);
  if (rc !== 0) {
    post({ type: "failed", id: m.id, message: rc === 1 ? "could not find a KV slot for the batch" : `llama_decode failed (${rc})` });
    return;
  }
  const tokens = new Int32Array(jobs.length);
  const probabilities: (number[] | null)[] = [];
  for (let j = 0; j < jobs.length; j++) {
    const job = jobs[j]!;
    const want = job.probabilities;
    tokens[j] = glue.glue_sample(
      ctx!,
      logitIndex[job.item]! | 0,
      job.chain as Pointer,
      (job.penalties || null) as Pointer | null,
      (job.grammar || null) as Pointer | null,
      vocab!,
      candidates!,
      nVocab | 0,
      want ? 1 : 0,
      want ? outIds! : null,
      want ? outLogits! : null,
      want ? outCount : null,
    );
    probabilities.push(want ? distribution(outCount[0]!) : null);
  }
  post({ type: "decoded", id: m.id, tokens, probabilities });
}

/** Frees what this thread holds natively: the batch, the context, its pool, the model. */
function release(): void {
  const { glue, llama } = lib;
  if (batch) glue.glue_batch_free(batch);
  if (ctx && pool) llama.llama_detach_threadpool(ctx);
  if (ctx) llama.llama_free(ctx);
  if (pool) lib.threadpools.free(pool);
  if (model) llama.llama_model_free(model);
  batch = null;
  ctx = model = pool = null;
  poolThreads = 0;
}

function close(): void {
  release();
  post({ type: "closed" });
}

self.onmessage = (event: MessageEvent<ToDecodeThread>) => {
  const m = event.data;
  try {
    if (m.type === "load") load(m);
    else if (m.type === "decode") decode(m);
    else if (m.type === "threads") setThreads(m.threads);
    else if (m.type === "close") close();
  } catch (err) {
    post({ type: "failed", id: m.type === "decode" ? m.id : -1, message: err instanceof Error ? err.message : String(err) });
  }
};
