// Default inference thread count.
// ggml's worker threads busy-spin at every barrier, and the JS thread (HTTP, scheduler, sampling
// round trips) needs a core of its own, so threads >= cores collapses throughput (measured here:
// 2 threads on 2 cores ran 30x slower than 1). SMT siblings add little to matmul throughput, so on
// larger machines use about one thread per physical core, still leaving one core free.
export function defaultThreads(logicalCores: number): number {
  if (logicalCores <= 2) return 1;
  return Math.max(1, Math.min(logicalCores - 1, Math.ceil(logicalCores / 2)));
}
