// What a scheduler counts, and the hooks it calls as tokens come (see scheduler.ts).
import type { FinishReason } from "./types.ts";

/** Hooks for latency histograms; called on the hot path, keep them cheap. */
export interface SchedulerObserver {
  firstToken?(ms: number): void;
  tokenGap?(ms: number): void;
  finished?(reason: FinishReason): void;
}

/** A scheduler's counters (its stats without the readings of the moment), all at zero. */
export function emptyCounters(): Omit<SchedulerStats, "slots" | "busySlots" | "pausedSlots" | "queueDepth"> {
  return {
    promptTokens: 0, cachedPromptTokens: 0, generatedTokens: 0, decodeCalls: 0, decodedTokens: 0, decodeMs: 0, slotCopies: 0, copyMs: 0,
    requests: { stop: 0, length: 0, cancelled: 0, error: 0 },
    rejected: 0,
  };
}

export interface SchedulerStats {
  slots: number;
  busySlots: number;
  /** Busy slots not generating because their reader is behind (see INFERENCE_MAX_UNREAD_EVENTS). */
  pausedSlots: number;
  queueDepth: number;
  promptTokens: number;
  cachedPromptTokens: number;
  generatedTokens: number;
  decodeCalls: number;
  decodedTokens: number;
  /** The engine's time on its steps (decode and sampling), as it measured them, in ms. */
  decodeMs: number;
  /** Slots that received a copy of another slot's prompt cells (n > 1), and the time those copies took. */
  slotCopies: number;
  copyMs: number;
  requests: Record<FinishReason, number>;
  rejected: number;
}
