// Memory upkeep for a long-running server: while requests keep coming, a full garbage collection
// every `intervalMs` (on the decode threads too: each has a heap of its own), then glibc's
// malloc_trim. Nothing is retained across requests (the live object count after a full collection
// stays flat), yet RSS climbs under steady traffic: JSC lets its heap grow between its own full
// collections, and memory freed by native code stays in glibc's malloc arenas until trimmed. What
// each step gains and costs: docs/benchmarks.md, "Memory over time".
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

/**
 * Starts the upkeep timer (unref'd: it never keeps the process alive). `served` counts requests; an
 * interval in which it did not move is skipped, so an idle server pays nothing. 0 disables it.
 * `elsewhere` asks the other JavaScript threads (the decode threads) for the same collection and
 * resolves with what each took: their heaps are their own, and this thread's collection never
 * reaches them. Returns a function that stops the timer.
 */
export function startMemoryUpkeep(intervalMs: number, served: () => number, log: Logger, elsewhere?: () => Promise<number[]> | undefined): () => void {
  if (intervalMs === 0) return () => {};
  const trim = loadMallocTrim();
  let last = served();
  const timer = setInterval(() => {
    const now = served();
    if (now === last) return;
    last = now;
    const others = elsewhere?.();
    const t0 = performance.now();
    Bun.gc(true);
    const t1 = performance.now();
    trim?.(0);
    const line = `gc: full collection in ${(t1 - t0).toFixed(1)} ms, malloc_trim ${trim ? `in ${(performance.now() - t1).toFixed(1)} ms` : "unavailable"}`;
    if (!others) return log.debug(line);
    others.then(
      (ms) => log.debug(ms.length > 0 ? `${line}, decode threads ${ms.map((m) => m.toFixed(1)).join(", ")} ms` : line),
      () => log.debug(line),
    );
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
