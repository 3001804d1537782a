// The decode ceiling of ceiling.ts, driven through llama.cpp's C API instead of node-llama-cpp's
// binding: the same prebuilt libraries node-llama-cpp ships (its @node-llama-cpp/<platform> package),
// called from JavaScript through bun:ffi with the engine's own glue (src/inference/llama/capi/). llama_decode and greedy sampling run synchronously on
// this thread, one call each, where the binding queues the decode and every sampling to its thread
// pool and resolves a promise for each. Not part of the product: the measurement behind the question
// whether Warren should drive llama.cpp this way.
//
//   bun bench/scheduler/c-api-ceiling.ts MODEL CONCURRENCY TOKENS THREADS [BATCHES] [CTX] [FLASH_ATTENTION auto|on|off] [--threadpool]
// Prints one JSON line like ceiling.ts's, plus `slot0`: the first tokens slot 0 generated.
import type { Pointer } from "bun:ffi";
import { binariesDir, capiLibrary, cString, TOKEN_DATA_BYTES } from "../../src/inference/llama/capi/library.ts";

const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const threadpool = process.argv.includes("--threadpool");
const [modelPath, concurrencyArg, tokensArg, threadsArg, batchesArg, ctxArg, faArg] = args;
if (!modelPath) throw new Error("usage: c-api-ceiling.ts MODEL CONCURRENCY TOKENS THREADS [BATCHES] [CTX] [FLASH_ATTENTION] [--threadpool]");
const concurrency = Number(concurrencyArg ?? 8);
const maxTokens = Number(tokensArg ?? 128);
const threads = Number(threadsArg ?? 1);
const batches = Number(batchesArg ?? 1);
const slotContextSize = Number(ctxArg ?? 512);
const flash = { auto: -1, off: 0, on: 1 }[(faArg ?? "auto") as "auto" | "on" | "off"];

const lib = capiLibrary(binariesDir());
const { llama, glue, ggml } = lib;
glue.glue_quiet();
ggml.ggml_backend_load_all_from_path(cString(lib.dir));
// As the engine loads: the file read into memory, not mapped; n_batch as its default.
const model = glue.glue_load_model(cString(modelPath), 0) as Pointer | null;
if (!model) throw new Error(`could not load ${modelPath}`);
const batchSize = Math.min(slotContextSize * concurrency, 512);
const ctx = glue.glue_new_context(model, slotContextSize * concurrency, batchSize, concurrency, threads, flash) as Pointer | null;
if (!ctx) throw new Error("could not create the context");
const batch = new Uint8Array(glue.glue_batch_size());
glue.glue_batch_init(batch, batchSize);
if (threadpool) {
  const pool = lib.threadpools.create(threads);
  llama.llama_attach_threadpool(ctx, pool, pool);
}

const vocab = llama.llama_model_get_vocab(model) as Pointer;
const nVocab = llama.llama_vocab_n_tokens(vocab);
const candidates = new Uint8Array(nVocab * TOKEN_DATA_BYTES);
// The prompt as the binding's ceiling.ts tokenizes "Once upon a time" (BOS first).
const prompt = Int32Array.from(await promptTokens());
const memory = llama.llama_get_memory(ctx) as Pointer;

async function promptTokens(): Promise<number[]> {
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  const nlc = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const m = await nlc.loadModel({ modelPath: modelPath!, vocabOnly: true });
  const tokens = [...m.tokenize("Once upon a time")] as number[];
  const bos = m.tokens.bos;
  return bos != null && m.tokens.shouldPrependBosToken && tokens[0] !== bos ? [bos, ...tokens] : tokens;
}

/** One lockstep run as lockstep.ts's: every slot's prompt in one batch, then one greedy token per slot per step. */
function lockstep(tokens: number): { generated: number; steps: number; stepMs: number; slot0: number[] } {
  const samplers = Array.from({ length: concurrency }, () => {
    const chain = glue.glue_chain_new() as Pointer;
    llama.llama_sampler_chain_add(chain, llama.llama_sampler_init_greedy() as Pointer);
    return chain;
  });
  for (let s = 0; s < concurrency; s++) llama.llama_memory_seq_rm(memory, s, 0, -1);
  const idx = new Int32Array(concurrency);
  const next = new Int32Array(concurrency);
  const one = new Int32Array(1);
  const decodeAndSample = () => {
    const rc = glue.glue_decode(ctx, batch);
    if (rc !== 0) throw new Error(`llama_decode returned ${rc}`);
    for (let s = 0; s < concurrency; s++) next[s] = glue.glue_sample(ctx, idx[s]!, samplers[s]!, null, null, vocab, candidates, nVocab, 0, null, null, null);
  };
  glue.glue_batch_clear(batch);
  for (let s = 0; s < concurrency; s++) idx[s] = glue.glue_batch_add(batch, s, 0, prompt, prompt.length, 1);
  decodeAndSample();
  const slot0 = [next[0]!];
  let stepMs = 0;
  for (let i = 1; i < tokens; i++) {
    const s0 = performance.now();
    glue.glue_batch_clear(batch);
    for (let s = 0; s < concurrency; s++) {
      one[0] = next[s]!;
      idx[s] = glue.glue_batch_add(batch, s, prompt.length + i - 1, one, 1, 1);
    }
    decodeAndSample();
    stepMs += performance.now() - s0;
    slot0.push(next[0]!);
  }
  for (const s of samplers) llama.llama_sampler_free(s);
  return { generated: tokens * concurrency, steps: Math.max(0, tokens - 1), stepMs, slot0 };
}

lockstep(4); // warm-up, as ceiling.ts
const t0 = performance.now();
let generated = 0, decodes = 0, decodeMs = 0;
let slot0: number[] = [];
for (let b = 0; b < batches; b++) {
  const r = lockstep(maxTokens);
  generated += r.generated;
  decodes += r.steps;
  decodeMs += r.stepMs;
  slot0 = r.slot0;
}
const seconds = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ mode: "c-api", threadpool, concurrency, tokens: generated, seconds, tokensPerSecond: generated / seconds, usPerDecode: (decodeMs / decodes) * 1000, slot0: slot0.slice(0, 16) }));
glue.glue_batch_free(batch);
llama.llama_free(ctx);
llama.llama_model_free(model);
process.exit(0);
