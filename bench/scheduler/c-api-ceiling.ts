// The decode ceiling of ceiling.ts, driven through llama.cpp's C API instead of node-llama-cpp's
// binding: the same prebuilt libraries node-llama-cpp ships (its @node-llama-cpp/<platform> package),
// called from JavaScript through bun:ffi, with c-api/glue.c (compiled at run time by bun:ffi's cc)
// for the calls that pass structs by value. llama_decode and greedy sampling run synchronously on
// this thread, one call each, where the binding queues the decode and every sampling to its thread
// pool and resolves a promise for each. Not part of the product: the measurement behind the question
// whether Warren should drive llama.cpp this way.
//
//   bun bench/scheduler/c-api-ceiling.ts MODEL CONCURRENCY TOKENS THREADS [BATCHES] [CTX] [FLASH_ATTENTION auto|on|off] [--threadpool]
// Prints one JSON line like ceiling.ts's, plus `slot0`: the first tokens slot 0 generated.
import { cc, dlopen, FFIType, type Pointer } from "bun:ffi";
import { readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";

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

/** node-llama-cpp's prebuilt CPU binaries for this platform: libllama, libggml and the CPU backend variants. */
function binariesDir(): string {
  const platform = `${process.platform}-${process.arch}`;
  const require = createRequire(createRequire(import.meta.url).resolve("node-llama-cpp"));
  const pkg = dirname(require.resolve(`@node-llama-cpp/${platform}/package.json`));
  return join(pkg, "bins", platform);
}
const dir = binariesDir();
const lib = (prefix: string) => {
  const name = readdirSync(dir).find((f) => f.startsWith(prefix) && /\.(so|dylib)(\.|$)/.test(f));
  if (!name) throw new Error(`no ${prefix}* in ${dir}`);
  return join(dir, name);
};
const cstr = (s: string) => Buffer.from(s + "\0");

const ggml = dlopen(lib("libggml."), {
  ggml_backend_load_all_from_path: { args: [FFIType.cstring], returns: FFIType.void },
  ggml_backend_dev_by_type: { args: [FFIType.i32], returns: FFIType.ptr },
  ggml_backend_dev_backend_reg: { args: [FFIType.ptr], returns: FFIType.ptr },
  ggml_backend_reg_get_proc_address: { args: [FFIType.ptr, FFIType.cstring], returns: FFIType.ptr },
});
const ggmlBase = dlopen(lib("libggml-base."), {
  ggml_threadpool_params_init: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.void },
});
const llamaPath = lib("libllama.");
const llama = dlopen(llamaPath, {
  llama_model_get_vocab: { args: [FFIType.ptr], returns: FFIType.ptr },
  llama_tokenize: { args: [FFIType.ptr, FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.bool, FFIType.bool], returns: FFIType.i32 },
  llama_sampler_init_greedy: { args: [], returns: FFIType.ptr },
  llama_sampler_sample: { args: [FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  llama_sampler_free: { args: [FFIType.ptr], returns: FFIType.void },
  llama_memory_seq_rm: { args: [FFIType.ptr, FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.bool },
  llama_get_memory: { args: [FFIType.ptr], returns: FFIType.ptr },
  llama_attach_threadpool: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.void },
  llama_free: { args: [FFIType.ptr], returns: FFIType.void },
  llama_model_free: { args: [FFIType.ptr], returns: FFIType.void },
});
const libName = llamaPath.split("/").at(-1)!.replace(/^lib/, "").replace(/\.(so|dylib)$/, "");
const { symbols: glue } = cc({
  source: resolve(import.meta.dir, "c-api/glue.c"),
  library: [libName],
  flags: [`-L${dir}`],
  symbols: {
    glue_check: { args: [], returns: FFIType.i32 },
    glue_quiet: { args: [], returns: FFIType.void },
    glue_load_model: { args: [FFIType.cstring, FFIType.i32], returns: FFIType.ptr },
    glue_new_context: { args: [FFIType.ptr, FFIType.i32, FFIType.i32, FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.ptr },
    glue_batch_alloc: { args: [FFIType.i32], returns: FFIType.void },
    glue_batch_clear: { args: [], returns: FFIType.void },
    glue_batch_add: { args: [FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    glue_decode: { args: [FFIType.ptr], returns: FFIType.i32 },
  },
});
const layout = glue.glue_check();
if (layout !== 0) throw new Error(`llama.h layouts do not match this build of llama.cpp (check ${layout})`);
glue.glue_quiet();
ggml.symbols.ggml_backend_load_all_from_path(cstr(dir));

// As LlamaEngine loads: the file read into memory, not mapped; n_batch as its default.
const model = glue.glue_load_model(cstr(modelPath), 0);
if (!model) throw new Error(`could not load ${modelPath}`);
const batchSize = Math.min(slotContextSize * concurrency, 512);
const ctx = glue.glue_new_context(model, slotContextSize * concurrency, batchSize, concurrency, threads, flash);
if (!ctx) throw new Error("could not create the context");
glue.glue_batch_alloc(batchSize);
if (threadpool) {
  const reg = ggml.symbols.ggml_backend_dev_backend_reg(ggml.symbols.ggml_backend_dev_by_type(0 /* CPU */));
  const make = ggml.symbols.ggml_backend_reg_get_proc_address(reg, cstr("ggml_threadpool_new"));
  if (!make) throw new Error("the CPU backend has no ggml_threadpool_new");
  const params = new Uint8Array(1024); // struct ggml_threadpool_params is 528 bytes here
  ggmlBase.symbols.ggml_threadpool_params_init(params, threads);
  const { CFunction } = await import("bun:ffi");
  const threadpoolNew = CFunction({ ptr: make, args: [FFIType.ptr], returns: FFIType.ptr });
  const pool = threadpoolNew(params);
  llama.symbols.llama_attach_threadpool(ctx, pool, pool);
}

const vocab = llama.symbols.llama_model_get_vocab(model);
const text = Buffer.from("Once upon a time");
const buf = new Int32Array(64);
const n = llama.symbols.llama_tokenize(vocab, text, text.length, buf, buf.length, true, false);
const prompt = buf.slice(0, n);
const memory = llama.symbols.llama_get_memory(ctx);

/** One lockstep run as lockstep.ts's: every slot's prompt in one batch, then one greedy token per slot per step. */
function lockstep(tokens: number): { generated: number; steps: number; stepMs: number; slot0: number[] } {
  const samplers = Array.from({ length: concurrency }, () => llama.symbols.llama_sampler_init_greedy() as Pointer);
  for (let s = 0; s < concurrency; s++) llama.symbols.llama_memory_seq_rm(memory, s, 0, -1);
  const idx = new Int32Array(concurrency);
  const next = new Int32Array(concurrency);
  const one = new Int32Array(1);
  const decodeAndSample = () => {
    const rc = glue.glue_decode(ctx);
    if (rc !== 0) throw new Error(`llama_decode returned ${rc}`);
    for (let s = 0; s < concurrency; s++) next[s] = llama.symbols.llama_sampler_sample(samplers[s]!, ctx, idx[s]!);
  };
  glue.glue_batch_clear();
  for (let s = 0; s < concurrency; s++) idx[s] = glue.glue_batch_add(s, 0, prompt, prompt.length, 1);
  decodeAndSample();
  const slot0 = [next[0]!];
  let stepMs = 0;
  for (let i = 1; i < tokens; i++) {
    const s0 = performance.now();
    glue.glue_batch_clear();
    for (let s = 0; s < concurrency; s++) {
      one[0] = next[s]!;
      idx[s] = glue.glue_batch_add(s, prompt.length + i - 1, one, 1, 1);
    }
    decodeAndSample();
    stepMs += performance.now() - s0;
    slot0.push(next[0]!);
  }
  for (const s of samplers) llama.symbols.llama_sampler_free(s);
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
llama.symbols.llama_free(ctx);
llama.symbols.llama_model_free(model);
