// Schedules requests: a closed loop (N workers, each sends its next request when the last one ends)
// or an open loop (Poisson arrivals at a fixed rate, independent of how fast the server answers,
// optionally capped in flight). Closed loops hide server slowness by slowing the client down; the
// open loop is the one that shows queueing.

import { poissonArrivalsMs } from "./rng.ts";
import type { RequestRecord } from "./types.ts";

interface Schedule {
  readonly total: number;
  /** Closed loop workers, or the open loop's in-flight cap (null: uncapped). */
  readonly concurrency: number | null;
  /** Requests per second for the open loop; null for a closed loop. */
  readonly rate: number | null;
  readonly seed: number;
}

/** `runStart` is performance.now() at the start of the measured run, for record timestamps. */
export type Send = (index: number, runStart: number) => Promise<RequestRecord>;

interface RunState {
  done: number;
  failed: number;
  inFlight: number;
  peakInFlight: number;
}

interface RunResult {
  readonly records: RequestRecord[];
  readonly wallMs: number;
  readonly peakConcurrency: number;
}

export async function runSchedule(s: Schedule, send: Send, onDone?: (st: RunState) => void): Promise<RunResult> {
  const st: RunState = { done: 0, failed: 0, inFlight: 0, peakInFlight: 0 };
  const records: RequestRecord[] = new Array(s.total);
  const runStart = performance.now();
  const one = async (i: number) => {
    st.inFlight++;
    st.peakInFlight = Math.max(st.peakInFlight, st.inFlight);
    const r = await send(i, runStart);
    st.inFlight--;
    st.done++;
    if (r.failure) st.failed++;
    records[i] = r;
    onDone?.(st);
  };
  if (s.rate === null) await closedLoop(s.total, s.concurrency ?? 1, one);
  else await openLoop(s, one);
  return { records, wallMs: performance.now() - runStart, peakConcurrency: st.peakInFlight };
}

async function closedLoop(total: number, workers: number, one: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < total) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.min(workers, total) }, worker));
}

async function openLoop(s: Schedule, one: (i: number) => Promise<void>): Promise<void> {
  const arrivals = poissonArrivalsMs(s.total, s.rate!, s.seed);
  const gate = s.concurrency === null ? null : new Semaphore(s.concurrency);
  const start = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < s.total; i++) {
    // Sleep to the absolute arrival time, so timer lateness does not accumulate over the run.
    const wait = start + arrivals[i]! - performance.now();
    if (wait > 1) await Bun.sleep(wait);
    pending.push(gate ? gate.run(() => one(i)) : one(i));
  }
  await Promise.all(pending);
}

class Semaphore {
  private readonly waiters: (() => void)[] = [];
  constructor(private free: number) {}

  async run(fn: () => Promise<void>): Promise<void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiters.push(r));
    try {
      await fn();
    } finally {
      const w = this.waiters.shift();
      if (w) w();
      else this.free++;
    }
  }
}
