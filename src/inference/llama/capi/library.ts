// llama.cpp's C API through bun:ffi: the prebuilt libraries node-llama-cpp ships for this platform
// (libllama, libggml and its CPU backend variants), opened directly, plus glue.c for the calls that
// pass structs by value. Each thread that calls in opens its own handles (the libraries themselves
// are loaded once per process). Only modules under inference/llama/ use it.
//
// Every integer handed to these functions is passed as `x | 0`: Bun 1.4.4's FFI reads an i32 or u32
// argument held as a double (an integral number that came from a Float64Array, Math.sqrt, a native
// addon...) as 0, and a u32 above 2^31 wrongly; `| 0` makes it an int32 (the C side's uint32_t then
// receives the same bits).
import { cc, CFunction, dlopen, type Pointer } from "bun:ffi";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import glueSource from "./glue.c" with { type: "text" };

const LLAMA = {
  llama_model_get_vocab: { args: ["ptr"], returns: "ptr" },
  llama_vocab_n_tokens: { args: ["ptr"], returns: "i32" },
  llama_vocab_is_eog: { args: ["ptr", "i32"], returns: "bool" },
  llama_model_size: { args: ["ptr"], returns: "u64" },
  llama_model_n_ctx_train: { args: ["ptr"], returns: "i32" },
  llama_get_memory: { args: ["ptr"], returns: "ptr" },
  llama_memory_seq_rm: { args: ["ptr", "i32", "i32", "i32"], returns: "bool" },
  llama_memory_seq_cp: { args: ["ptr", "i32", "i32", "i32", "i32"], returns: "void" },
  llama_set_n_threads: { args: ["ptr", "i32", "i32"], returns: "void" },
  llama_attach_threadpool: { args: ["ptr", "ptr", "ptr"], returns: "void" },
  llama_detach_threadpool: { args: ["ptr"], returns: "void" },
  llama_free: { args: ["ptr"], returns: "void" },
  llama_model_free: { args: ["ptr"], returns: "void" },
  llama_sampler_chain_add: { args: ["ptr", "ptr"], returns: "void" },
  llama_sampler_accept: { args: ["ptr", "i32"], returns: "void" },
  llama_sampler_free: { args: ["ptr"], returns: "void" },
  llama_sampler_init_greedy: { args: [], returns: "ptr" },
  llama_sampler_init_dist: { args: ["i32"], returns: "ptr" },
  llama_sampler_init_top_k: { args: ["i32"], returns: "ptr" },
  llama_sampler_init_top_p: { args: ["f32", "u64"], returns: "ptr" },
  llama_sampler_init_min_p: { args: ["f32", "u64"], returns: "ptr" },
  llama_sampler_init_temp: { args: ["f32"], returns: "ptr" },
  llama_sampler_init_xtc: { args: ["f32", "f32", "u64", "i32"], returns: "ptr" },
  llama_sampler_init_penalties: { args: ["i32", "i32", "f32", "f32", "f32"], returns: "ptr" },
  llama_sampler_init_logit_bias: { args: ["i32", "i32", "ptr"], returns: "ptr" },
  llama_sampler_init_grammar: { args: ["ptr", "cstring", "cstring"], returns: "ptr" },
} as const;

const GGML = {
  ggml_backend_load_all_from_path: { args: ["cstring"], returns: "void" },
  ggml_backend_dev_count: { args: [], returns: "u64" },
  ggml_backend_dev_by_type: { args: ["i32"], returns: "ptr" },
  ggml_backend_dev_backend_reg: { args: ["ptr"], returns: "ptr" },
  ggml_backend_reg_get_proc_address: { args: ["ptr", "cstring"], returns: "ptr" },
} as const;

const GGML_BASE = {
  ggml_threadpool_params_init: { args: ["ptr", "i32"], returns: "void" },
} as const;

const GLUE = {
  glue_check: { args: [], returns: "i32" },
  glue_quiet: { args: [], returns: "void" },
  glue_load_model: { args: ["cstring", "i32"], returns: "ptr" },
  glue_new_context: { args: ["ptr", "i32", "i32", "i32", "i32", "i32"], returns: "ptr" },
  glue_chain_new: { args: [], returns: "ptr" },
  glue_batch_size: { args: [], returns: "i32" },
  glue_batch_init: { args: ["ptr", "i32"], returns: "void" },
  glue_batch_free: { args: ["ptr"], returns: "void" },
  glue_batch_clear: { args: ["ptr"], returns: "void" },
  glue_batch_add: { args: ["ptr", "i32", "i32", "ptr", "i32", "i32"], returns: "i32" },
  glue_decode: { args: ["ptr", "ptr"], returns: "i32" },
  glue_sample: { args: ["ptr", "i32", "ptr", "ptr", "ptr", "ptr", "ptr", "i32", "i32", "ptr", "ptr", "ptr"], returns: "i32" },
  glue_grammar_allows: { args: ["ptr", "i32"], returns: "i32" },
} as const;

function open(dir: string) {
  const lib = (prefix: string) => {
    const name = readdirSync(dir).find((f) => f.startsWith(prefix) && /\.(so|dylib)(\.|$)/.test(f));
    if (!name) throw new Error(`no ${prefix}* library in ${dir}`);
    return join(dir, name);
  };
  const llamaPath = lib("libllama.");
  const ggml = dlopen(lib("libggml."), GGML).symbols;
  const ggmlBase = dlopen(lib("libggml-base."), GGML_BASE).symbols;
  const llama = dlopen(llamaPath, LLAMA).symbols;
  // TinyCC reads its source from a real file (not from a compiled executable's embedded files) and
  // compiles into memory: a private file for the moment it takes.
  const scratch = mkdtempSync(join(tmpdir(), "warren-glue-"));
  let glue;
  try {
    const source = join(scratch, "glue.c");
    writeFileSync(source, glueSource);
    glue = cc({
      source,
      library: [llamaPath.split("/").at(-1)!.replace(/^lib/, "").replace(/\.(so|dylib)$/, "")],
      flags: [`-L${dir}`],
      symbols: GLUE,
    }).symbols;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const layout = glue.glue_check();
  if (layout !== 0) throw new Error(`llama.cpp's struct layouts differ from glue.c's (check ${layout}): this Warren build needs node-llama-cpp 3.21.1`);
  return { dir, llama, ggml, glue, threadpools: threadpools(ggml, ggmlBase) };
}

/**
 * ggml's CPU thread pools, which llama.cpp uses for as long as they are attached (without one, each
 * graph it computes starts and joins a throwaway pool). The CPU backend is a loadable module, so
 * its functions are looked up through the backend registry, as llama.cpp's own tools do.
 */
function threadpools(ggml: ReturnType<typeof dlopen<typeof GGML>>["symbols"], base: ReturnType<typeof dlopen<typeof GGML_BASE>>["symbols"]) {
  const find = (name: string) => {
    const reg = ggml.ggml_backend_dev_backend_reg(ggml.ggml_backend_dev_by_type(0 /* CPU */));
    const fn = reg === null ? null : (ggml.ggml_backend_reg_get_proc_address(reg, cString(name)) as Pointer | null);
    if (fn === null) throw new Error(`the CPU backend has no ${name}`);
    return fn;
  };
  let make: ((params: Uint8Array) => Pointer | null) | undefined;
  let free: ((pool: Pointer) => void) | undefined;
  return {
    /** A pool of `threads`, not polling between graphs (ggml's defaults otherwise: no pinning, the caller's priority). */
    create(threads: number): Pointer {
      make ??= CFunction({ ptr: find("ggml_threadpool_new"), args: ["ptr"], returns: "ptr" }) as unknown as (params: Uint8Array) => Pointer | null;
      const params = new Uint8Array(THREADPOOL_PARAMS_BYTES);
      base.ggml_threadpool_params_init(params, threads | 0);
      // No polling between graphs: idle workers sleep rather than spin on cores the JavaScript
      // thread and the client need (at 2 threads on the 100M preset, the same tokens/s as ggml's
      // default of 50 with 3-5% less CPU per token). The field's offset is checked against n_threads first.
      const fields = new DataView(params.buffer);
      if (fields.getInt32(THREADPOOL_N_THREADS_OFFSET, true) === threads) fields.setUint32(THREADPOOL_POLL_OFFSET, 0, true);
      const pool = make(params);
      if (pool === null) throw new Error(`ggml could not start a pool of ${threads} threads`);
      return pool;
    },
    free(pool: Pointer): void {
      free ??= CFunction({ ptr: find("ggml_threadpool_free"), args: ["ptr"], returns: "void" }) as unknown as (pool: Pointer) => void;
      free(pool);
    },
  };
}

/** More than struct ggml_threadpool_params takes: bool cpumask[512], int n_threads, int prio, uint32 poll, two bools. */
const THREADPOOL_PARAMS_BYTES = 1024;
const THREADPOOL_N_THREADS_OFFSET = 512;
const THREADPOOL_POLL_OFFSET = 520;

export type CapiLibrary = ReturnType<typeof open>;

let opened: CapiLibrary | undefined;

/**
 * This thread's handles on the libraries in `dir` (binariesDir()); throws where they cannot be
 * opened or glue.c does not match them.
 */
export function capiLibrary(dir: string): CapiLibrary {
  if (opened && opened.dir !== dir) throw new Error(`llama.cpp is already open from ${opened.dir}`);
  return (opened ??= open(dir));
}

/**
 * The directory of the libllama node-llama-cpp loaded (its CPU build: the addon, libllama, libggml
 * and the CPU backend variants), read from the process's own mappings where there are any (Linux,
 * and the compiled executable, whose runtime is unpacked elsewhere); else its prebuilt package.
 */
export function binariesDir(): string {
  if (existsSync("/proc/self/maps")) {
    const line = readFileSync("/proc/self/maps", "utf8")
      .split("\n")
      .find((l) => /\/libllama[^/]*\.so[^/]*$/.test(l));
    if (line) return dirname(line.slice(line.indexOf("/")));
  }
  const platform = `${process.platform}-${process.arch}`;
  const fromNlc = createRequire(createRequire(import.meta.url).resolve("node-llama-cpp"));
  const dir = join(dirname(fromNlc.resolve(`@node-llama-cpp/${platform}/package.json`)), "bins", platform);
  if (!existsSync(dir)) throw new Error(`node-llama-cpp has no prebuilt binaries at ${dir}`);
  return dir;
}

/** A NUL-terminated C string. */
export function cString(s: string): Buffer {
  return Buffer.from(s + "\0");
}

/** Bytes of a llama_token_data (id, logit, p). */
export const TOKEN_DATA_BYTES = 12;
