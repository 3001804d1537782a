// Memory upkeep for a long-running server: while requests keep coming, a full garbage collection
// every `intervalMs`, then glibc's malloc_trim. Nothing is retained across requests (the live object
// count after a full collection stays flat), yet RSS climbs under steady traffic: JSC lets its heap
// grow between its own full collections, and native code (llama.cpp's samplers and tokenizer, the
// socket layer) frees into malloc arenas that glibc keeps. See PROCESS_GC_INTERVAL_MS for figures.
import type { Logger } from "./log.ts";

type Trim = (pad: number) => number;

/** glibc's malloc_trim through bun:ffi; undefined where there is no glibc (musl, macOS) or no FFI. */
function loadMallocTrim(): Trim | undefined {
  if (process.platform !== "linux") return undefined;
  try {
    const { dlopen, FFIType } = require("bun:ffi") as typeof import("bun:ffi");
    const lib = dlopen("libc.so.6", { malloc_trim: { args: [FFIType.u64], returns: FFIType.i32 } });
    return (pad) => lib.symbols.malloc_trim(pad);
  } catch {
    return undefined;
  }
}

export interface MemoryUpkeep {
  /** Collections run so far. */
  readonly runs: number;
  stop(): void;
}

/**
 * Starts the upkeep timer (unref'd: it never keeps the process alive). `served` counts requests; an
 * interval in which it did not move is skipped, so an idle server pays nothing. 0 disables it.
 */
export function startMemoryUpkeep(intervalMs: number, served: () => number, log: Logger): MemoryUpkeep {
  const state = { runs: 0, stop() {} };
  if (intervalMs === 0) return state;
  const trim = loadMallocTrim();
  let last = served();
  const timer = setInterval(() => {
    const now = served();
    if (now === last) return;
    last = now;
    const t0 = performance.now();
    Bun.gc(true);
    const t1 = performance.now();
    trim?.(0);
    state.runs++;
    log.debug(`gc: full collection in ${(t1 - t0).toFixed(1)} ms, malloc_trim ${trim ? `in ${(performance.now() - t1).toFixed(1)} ms` : "unavailable"}`);
  }, intervalMs);
  timer.unref();
  state.stop = () => clearInterval(timer);
  return state;
}
