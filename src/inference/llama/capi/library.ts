// llama.cpp's C API through bun:ffi: the prebuilt libraries node-llama-cpp ships for this platform
// (libllama, libggml and its CPU backend variants), opened directly, plus glue.c for the calls that
// pass structs by value. Each thread that calls in opens its own handles (the libraries themselves
// are loaded once per process). Only modules under inference/llama/ use it.
//
// Every integer handed to these functions is passed as `x | 0`: Bun 1.4.4's FFI reads an i32 or u32
// argument held as a double (an integral number that came from a Float64Array, Math.sqrt, a native
// addon...) as 0, and a u32 above 2^31 wrongly; `| 0` makes it an int32 (the C side's uint32_t then
// receives the same bits).
import { cc, dlopen } from "bun:ffi";
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
  return { dir, llama, ggml, glue };
}

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
