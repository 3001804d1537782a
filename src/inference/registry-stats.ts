// The registry's counters. A model's scheduler counts while the model is loaded; when it is unloaded
// its counts are carried into the model's totals, so a model unloaded and loaded again keeps counting
// from where it was, and the server's totals (every model together) never go backwards.
import type { Scheduler } from "./scheduler.ts";
import { emptyCounters } from "./scheduler-stats.ts";

/** One scheduler's stats, or several added up. */
export type SchedulerTotals = ReturnType<Scheduler["stats"]>;

/** Why a model was unloaded: to make room for another, after its keep-alive, or by request. */
export type UnloadReason = "room" | "idle" | "request";

export interface ModelTotals {
  /** Counters of its schedulers so far (gauges: its live scheduler's, when loaded). */
  scheduler: SchedulerTotals;
  loads: number;
  /** Time its loads took, all together. */
  loadMs: number;
  failures: number;
  unloads: Record<UnloadReason, number>;
  /** Inputs and documents its embedding sides evaluated, and their tokens (the live one's too, when loaded). */
  embedding: { evaluated: number; tokens: number };
}

/** Readings of the moment, not counts: carried totals leave them out. */
const GAUGES = new Set<keyof SchedulerTotals>(["slots", "busySlots", "pausedSlots", "queueDepth"]);

export function emptyTotals(): SchedulerTotals {
  return { slots: 0, busySlots: 0, pausedSlots: 0, queueDepth: 0, ...emptyCounters() };
}

export const emptyModelTotals = (): ModelTotals => ({
  scheduler: emptyTotals(),
  loads: 0,
  loadMs: 0,
  failures: 0,
  unloads: { room: 0, idle: 0, request: 0 },
  embedding: { evaluated: 0, tokens: 0 },
});

/** Adds each of `from` into `into` (gauges too, unless `countersOnly`); returns `into`. */
export function addTotals(into: SchedulerTotals, from: SchedulerTotals | undefined, countersOnly = false): SchedulerTotals {
  if (!from) return into;
  for (const key of Object.keys(into) as Array<keyof SchedulerTotals>) {
    if (key === "requests") {
      for (const reason of Object.keys(into.requests) as Array<keyof SchedulerTotals["requests"]>) into.requests[reason] += from.requests[reason];
    } else if (!(countersOnly && GAUGES.has(key))) {
      into[key] += from[key];
    }
  }
  return into;
}
