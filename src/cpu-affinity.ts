// --cpus: the whole server confined to a set of CPUs, as `taskset -a` would do it. Every thread the
// process has is moved, and threads made later (node-llama-cpp's decode and ggml threads, Bun's
// pool) inherit the set from the thread that makes them.
//
// Why a server would want it: with one inference thread, each decode step hands work from the
// JavaScript thread to a pool thread and back several times (the decode, one sampling call per slot).
// On a virtual machine whose idle vCPU halts (no guest halt-polling), each hand-off to the other CPU
// wakes a halted vCPU, a trip through the hypervisor; on one CPU the same hand-offs are context
// switches. Measured on such a 2-vCPU machine (docs/benchmarks.md, "Against llama-server"):
// stories260K at 1 thread, 8 streams, 1-9% more tokens/s confined to one CPU (three runs). It is not the default:
// two servers on one machine would be confined to the same CPU, and on hardware with cheap wake-ups
// the JavaScript thread's own work is better run beside the decode.
import { readdirSync } from "node:fs";
import { availableParallelism } from "node:os";

/** Linux's cpu_set_t: 1024 CPUs. */
const CPU_SET_BYTES = 128;
const MAX_CPU = CPU_SET_BYTES * 8 - 1;

/** "0-3,6" -> [0, 1, 2, 3, 6]; throws an Error saying what is wrong with the list. */
export function parseCpuList(text: string): number[] {
  const cpus = new Set<number>();
  for (const part of text.split(",")) {
    const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part);
    if (!m) throw new Error(`"${part.trim()}" is not a CPU number or a range such as 0-3`);
    const lo = Number(m[1]), hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new Error(`the range ${lo}-${hi} runs backwards`);
    if (hi > MAX_CPU) throw new Error(`CPU ${hi} is beyond the ${MAX_CPU + 1} this system call can name`);
    for (let c = lo; c <= hi; c++) cpus.add(c);
  }
  return [...cpus].sort((a, b) => a - b);
}

/** "0-3,6" for [0, 1, 2, 3, 6]. */
export function formatCpuList(cpus: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < cpus.length; i++) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === cpus[j]! + 1) j++;
    out.push(j === i ? String(cpus[i]) : `${cpus[i]}-${cpus[j]}`);
    i = j;
  }
  return out.join(",");
}

interface Affinity {
  get(tid: number): number[] | undefined;
  set(tid: number, cpus: readonly number[]): boolean;
}

let loaded: { affinity: Affinity | undefined } | undefined;
const affinity = (): Affinity | undefined => (loaded ??= { affinity: loadAffinity() }).affinity;

/** sched_getaffinity / sched_setaffinity through bun:ffi; undefined off Linux or without FFI. */
function loadAffinity(): Affinity | undefined {
  if (process.platform !== "linux") return undefined;
  try {
    const { dlopen, FFIType } = require("bun:ffi") as typeof import("bun:ffi");
    const lib = dlopen("libc.so.6", {
      sched_getaffinity: { args: [FFIType.i32, FFIType.u64, FFIType.ptr], returns: FFIType.i32 },
      sched_setaffinity: { args: [FFIType.i32, FFIType.u64, FFIType.ptr], returns: FFIType.i32 },
    });
    return {
      get(tid) {
        const mask = new Uint8Array(CPU_SET_BYTES);
        if (lib.symbols.sched_getaffinity(tid, CPU_SET_BYTES, mask) !== 0) return undefined;
        const cpus: number[] = [];
        for (let c = 0; c <= MAX_CPU; c++) if (mask[c >> 3]! & (1 << (c & 7))) cpus.push(c);
        return cpus;
      },
      set(tid, cpus) {
        const mask = new Uint8Array(CPU_SET_BYTES);
        for (const c of cpus) mask[c >> 3]! |= 1 << (c & 7);
        return lib.symbols.sched_setaffinity(tid, CPU_SET_BYTES, mask) === 0;
      },
    };
  } catch {
    return undefined;
  }
}

/**
 * Confines every thread of this process to `cpus`. Throws an Error saying why when it cannot: not
 * Linux, or a CPU this process may not use (outside its cgroup's or its parent's set).
 */
export function confineProcess(cpus: readonly number[]): void {
  const calls = affinity();
  if (calls === undefined) throw new Error("confining to CPUs needs Linux (sched_setaffinity)");
  const allowed = calls.get(0);
  const outside = allowed === undefined ? [] : cpus.filter((c) => !allowed.includes(c));
  if (outside.length > 0) throw new Error(`CPU ${formatCpuList(outside)} is not available to this process (it may use ${formatCpuList(allowed!)})`);
  // The calling thread first: a thread it makes while the others are moved inherits the new set.
  if (!calls.set(0, cpus)) throw new Error("sched_setaffinity refused the set");
  for (const name of readdirSync("/proc/self/task")) {
    // A thread that ended since the listing is simply gone.
    calls.set(Number(name), cpus);
  }
}

/**
 * How many CPUs this process may run on now: its affinity set (which --cpus, taskset or a cgroup's
 * cpuset narrows), else what the runtime reports. Bun's availableParallelism() does not see a set changed
 * while it runs.
 */
export function usableCpus(): number {
  return affinity()?.get(0)?.length || availableParallelism();
}
