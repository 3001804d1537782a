// One catalogue model's record in the registry (registry.ts): its state, what holds it, its
// loaded engine and scheduler, and its counts; the view of it the API and the metrics read; and
// the stream wrapper through which a request's token stream holds it.
import type { ModelSettings, ModelSpec } from "./catalogue.ts";
import type { Embedder } from "./embedding.ts";
import { addTotals, emptyModelTotals, emptyTotals, type ModelTotals } from "./registry-stats.ts";
import type { Scheduler } from "./scheduler.ts";
import { InferenceError } from "./types.ts";

export type ModelStatus = "unloaded" | "loading" | "loaded" | "unloading" | "failed";

/** A model in memory, as RegistryOptions.load gives it. */
export interface LoadedModel {
  scheduler: Scheduler;
  embedder?: Embedder;
  /** Frees the model once its scheduler is closed (the embedder, then the engine). */
  dispose(): Promise<void>;
}

/** A model as /v1/models and the metrics show it. */
export interface ModelView {
  name: string;
  path: string;
  status: ModelStatus;
  /** Why the last load failed (status "failed"). */
  error?: string;
  settings: ModelSettings;
  /** Bytes counted against the budget while loading, loaded or unloading. */
  bytes: number;
  /** Requests holding it: waiting for it to load, running, or streaming. */
  holds: number;
  /** The load that made it loaded (ms). */
  loadMs?: number;
  scheduler?: Scheduler;
  embedder?: Embedder;
  totals: ModelTotals;
}

export interface Entry {
  spec: ModelSpec;
  status: ModelStatus;
  /** Why the last load failed. */
  error?: string;
  loaded?: LoadedModel;
  /** Counted against the budget: from the moment room was made for it until it is unloaded. */
  resident: boolean;
  bytes: number;
  holds: number;
  /** Holds still waiting for the load. */
  waiting: number;
  lastUsed: number;
  keepAliveMs: number;
  idleTimer?: ReturnType<typeof setTimeout>;
  loading?: Promise<void>;
  unloading?: Promise<void>;
  loadMs?: number;
  totals: ModelTotals;
}

export function newEntry(spec: ModelSpec): Entry {
  return { spec, status: "unloaded", resident: false, bytes: 0, holds: 0, waiting: 0, lastUsed: 0, keepAliveMs: spec.settings.keepAliveMs, totals: emptyModelTotals() };
}

export function viewOf(e: Entry): ModelView {
  return {
    name: e.spec.name,
    path: e.spec.path,
    status: e.status,
    ...(e.error !== undefined ? { error: e.error } : {}),
    settings: { ...e.spec.settings, keepAliveMs: e.keepAliveMs },
    bytes: e.bytes,
    holds: e.holds,
    ...(e.loadMs !== undefined ? { loadMs: e.loadMs } : {}),
    scheduler: e.loaded?.scheduler,
    embedder: e.loaded?.embedder,
    totals: liveTotals(e),
  };
}

/** The model's totals with its live scheduler's and embedder's counts added. */
function liveTotals(e: Entry): ModelTotals {
  const embedded = e.loaded?.embedder?.stats();
  return {
    ...e.totals,
    unloads: { ...e.totals.unloads },
    scheduler: addTotals(addTotals(emptyTotals(), e.totals.scheduler), e.loaded?.scheduler.stats()),
    embedding: { evaluated: e.totals.embedding.evaluated + (embedded?.evaluated ?? 0), tokens: e.totals.embedding.tokens + (embedded?.tokens ?? 0) },
  };
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** A load's failure for the API; `cause` keeps the loader's own error (main.ts logs its message at start). */
export function loadFailed(name: string, err: unknown): InferenceError {
  return Object.assign(new InferenceError("model_load_failed", `cannot load model '${name}': ${messageOf(err)}`, "model"), { cause: err });
}

/** The stream, calling `release` once when it ends or its reader leaves it. One extra `then` per event. */
export function heldStream<T>(stream: AsyncIterable<T>, release: () => void): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const it = stream[Symbol.asyncIterator]();
      let open = true;
      const end = () => {
        if (!open) return;
        open = false;
        release();
      };
      return {
        next: () =>
          it.next().then(
            (r) => {
              if (r.done) end();
              return r;
            },
            (err: unknown) => {
              end();
              throw err;
            },
          ),
        return: async (value?: unknown) => {
          try {
            return (await it.return?.(value)) ?? { value: undefined, done: true };
          } finally {
            end();
          }
        },
      };
    },
  };
}
