// The decode thread of the C API engine (capi/context.ts): it loads the model and context, and for
// each step builds the batch, runs llama_decode and samples every job synchronously, then posts the
// tokens back. Steps come two ways: one "decode" message, one answer (Engine.decode); or the
// pipeline's work (pipeline.ts), which this thread turns into steps by itself, going on with the
// slots whose work allows it without waiting for the main thread, at most INFERENCE_MAX_STEPS_AHEAD
// steps past what it has read. The main thread makes the samplers; this thread frees them and runs
// every cache operation, in message order.
import { type Pointer } from "bun:ffi";
import { StepPlan, type Piece } from "../../pipeline.ts";
import { INFERENCE_MAX_STEPS_AHEAD } from "../../../limits.ts";
import { capiLibrary, cString, TOKEN_DATA_BYTES, type CapiLibrary } from "./library.ts";
import { CONTROL_READ, CONTROL_WAITING, type FromDecodeThread, type SampleJob, type ToDecodeThread, type WorkItem } from "./protocol.ts";

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
let memory: Pointer | null = null;
let plan: StepPlan<SampleJob[]> | null = null;
let control: Int32Array | null = null;
/** Pipeline steps posted, and whether a step is already scheduled. */
let stepsPosted = 0;
let scheduled = false;

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
  memory = llama.llama_get_memory(ctx) as Pointer;
  plan = new StepPlan(m.batchSize);
  control = new Int32Array(m.control);
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

/** Draws one token per job; `at[j]` is the batch index of the logits job j samples. */
function sampleAll(jobs: readonly SampleJob[], at: readonly number[]): { tokens: Int32Array; probabilities: (number[] | null)[] } {
  const tokens = new Int32Array(jobs.length);
  const probabilities: (number[] | null)[] = [];
  for (let j = 0; j < jobs.length; j++) {
    const job = jobs[j]!;
    const want = job.probabilities;
    tokens[j] = lib.glue.glue_sample(
      ctx!,
      at[j]! | 0,
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
  return { tokens, probabilities };
}

let scratch = new Int32Array(16);
/** `tokens` at the start of a reused Int32Array (valid until the next call; may be longer than they are). */
function copied(tokens: ArrayLike<number>): Int32Array {
  if (tokens.length > scratch.length) scratch = new Int32Array(tokens.length * 2);
  for (let i = 0; i < tokens.length; i++) scratch[i] = tokens[i]!;
  return scratch;
}

/** Adds a slot's first `count` tokens to the batch; returns the batch index of the last one. */
function addToBatch(slot: number, pos: number, tokens: Int32Array, count: number, logits: boolean, what: string): number {
  const idx = lib.glue.glue_batch_add(batch!, slot | 0, pos | 0, tokens, count | 0, logits ? 1 : 0);
  if (idx < 0) throw new Error(`the batch holds at most its size in tokens (${what})`);
  return idx;
}

function decodeFailure(rc: number): string {
  return rc === 1 ? "could not find a KV slot for the batch" : `llama_decode failed (${rc})`;
}

function decode(m: Extract<ToDecodeThread, { type: "decode" }>): void {
  lib.glue.glue_batch_clear(batch!);
  const logitIndex = m.items.map((it, i) => addToBatch(it.slot, it.pos, it.tokens, it.tokens.length, it.logits, `item ${i}`));
  const rc = lib.glue.glue_decode(ctx!, batch!);
  if (rc !== 0) return post({ type: "failed", id: m.id, message: decodeFailure(rc) });
  const { tokens, probabilities } = sampleAll(m.jobs, m.jobs.map((j) => logitIndex[j.item]!));
  post({ type: "decoded", id: m.id, tokens, probabilities });
}

/** Runs the pipeline's next step soon, letting messages that came meanwhile be handled first. */
function schedule(): void {
  if (scheduled || plan === null || plan.idle) return;
  scheduled = true;
  setImmediate(pipelineStep);
}

/**
 * Whether another step may start: at most INFERENCE_MAX_STEPS_AHEAD past what the main thread has
 * read. Otherwise it is told this thread waits, and sends "go" once it reads on (the flag and the
 * count are rechecked in that order on both sides, so neither misses the other).
 */
function mayStep(): boolean {
  const c = control!;
  if (stepsPosted - Atomics.load(c, CONTROL_READ) < INFERENCE_MAX_STEPS_AHEAD) return true;
  Atomics.store(c, CONTROL_WAITING, 1);
  if (stepsPosted - Atomics.load(c, CONTROL_READ) >= INFERENCE_MAX_STEPS_AHEAD) return false;
  Atomics.store(c, CONTROL_WAITING, 0);
  return true;
}

function pipelineStep(): void {
  scheduled = false;
  if (ctx === null || plan === null || plan.idle || !mayStep()) return;
  const t0 = performance.now();
  const pieces = plan.take();
  const { glue } = lib;
  const at: number[] = [];
  const jobs: SampleJob[] = [];
  const first: number[] = [];
  let sampled: ReturnType<typeof sampleAll>;
  // Not inside a message's handler: a failure here must become the step's answer, not an uncaught error.
  try {
    glue.glue_batch_clear(batch!);
    for (const p of pieces) {
      const sample = p.sample !== undefined && !p.rest;
      // Work came as Int32Array; a token it goes on with is a plain array, copied into one reused
      // array (the batch takes its own copy).
      const tokens = p.tokens instanceof Int32Array ? p.tokens : copied(p.tokens);
      const idx = addToBatch(p.slot, p.pos, tokens, p.tokens.length, sample, `slot ${p.slot}`);
      first.push(sample ? jobs.length : -1);
      if (!sample) continue;
      for (const job of p.sample!) {
        jobs.push(job);
        at.push(idx);
      }
    }
    const rc = glue.glue_decode(ctx, batch!);
    if (rc !== 0) return pipelineFailed(pieces, decodeFailure(rc));
    sampled = sampleAll(jobs, at);
  } catch (err) {
    return pipelineFailed(pieces, err instanceof Error ? err.message : String(err));
  }
  const { tokens, probabilities } = sampled;
  const more = plan.advance(pieces, first.map((f) => (f < 0 ? -1 : tokens[f]!)), (t) => lib.llama.llama_vocab_is_eog(vocab!, t | 0) as boolean);
  const outputs = pieces.map((p, i) => ({ slot: p.slot, pos: p.pos, count: p.tokens.length, more: more[i]!, first: first[i]! }));
  stepsPosted++;
  post({ type: "step", ms: performance.now() - t0, outputs, tokens, probabilities });
  schedule();
}

function pipelineFailed(pieces: readonly Piece<SampleJob[]>[], message: string): void {
  for (const p of pieces) plan!.reset(p.slot);
  post({ type: "failed", id: -1, message, slots: pieces.map((p) => p.slot) });
  schedule();
}

function submit(work: readonly WorkItem[]): void {
  for (const w of work) plan!.submit({ slot: w.slot, pos: w.pos, tokens: w.tokens, sample: w.jobs.length > 0 ? w.jobs : undefined, ahead: w.ahead, stopAtEog: w.stopAtEog });
  schedule();
}

function reset(slot: number, keepBelow: number): void {
  plan!.reset(slot);
  if (keepBelow >= 0) lib.llama.llama_memory_seq_rm(memory!, slot | 0, keepBelow | 0, -1);
  post({ type: "reset", slot });
}

function copy(from: number, to: readonly number[]): void {
  for (const slot of to) {
    lib.llama.llama_memory_seq_rm(memory!, slot | 0, 0, -1);
    lib.llama.llama_memory_seq_cp(memory!, from | 0, slot | 0, -1, -1);
  }
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
  ctx = model = pool = memory = null;
  plan = null;
  poolThreads = 0;
}

function close(): void {
  release();
  post({ type: "closed" });
}

function handle(m: ToDecodeThread): void {
  try {
    if (m.type === "batch") for (const one of m.messages) handle(one);
    else if (m.type === "load") load(m);
    else if (m.type === "decode") decode(m);
    else if (m.type === "work") submit(m.work);
    else if (m.type === "reset") reset(m.slot, m.keepBelow);
    else if (m.type === "clear") lib.llama.llama_memory_seq_rm(memory!, m.slot | 0, m.from | 0, -1);
    else if (m.type === "copy") {
      copy(m.from, m.to);
      post({ type: "copied", id: m.id });
    } else if (m.type === "free") for (const s of m.samplers) lib.llama.llama_sampler_free(s as Pointer);
    else if (m.type === "go") schedule();
    else if (m.type === "threads") setThreads(m.threads);
    else if (m.type === "gc") {
      const t0 = performance.now();
      Bun.gc(true);
      post({ type: "collected", id: m.id, ms: performance.now() - t0 });
    }
    else if (m.type === "close") close();
  } catch (err) {
    // -2: not an answer to anything; the main thread then gives up on this thread.
    post({ type: "failed", id: m.type === "decode" || m.type === "copy" ? m.id : -2, message: err instanceof Error ? err.message : String(err) });
  }
}

self.onmessage = (event: MessageEvent<ToDecodeThread>) => handle(event.data);
