// Room for one more model: which idle models to unload, least recently used first, so that a load
// fits the memory budget and the model count, and the messages when there is none. Pure: the
// registry hands its models in.
import type { ModelSpec } from "./catalogue.ts";
import { gib } from "./model-check.ts";

interface Resident {
  /** Bytes counted against the budget (weights + KV cache), from the model's file. */
  bytes: number;
  /** Nothing holds it (no request waiting, running or streaming): it may be unloaded. */
  idle: boolean;
  /** When a request last held it (any clock, only compared). */
  lastUsed: number;
}

interface Limits {
  /** Bytes every loaded model together may take. */
  bytes: number;
  /** Models loaded at once; 0 = no limit. */
  maxLoaded: number;
}

/**
 * The models to unload, least recently used first, so that `need` more bytes and one more model
 * fit; [] when they fit already; undefined when even unloading every idle model would not do
 * (the busy ones are never candidates).
 */
export function roomFor<T extends Resident>(resident: readonly T[], need: number, limits: Limits): T[] | undefined {
  let used = resident.reduce((n, r) => n + r.bytes, 0);
  let count = resident.length;
  const fits = () => used + need <= limits.bytes && (limits.maxLoaded === 0 || count + 1 <= limits.maxLoaded);
  const victims: T[] = [];
  const candidates = resident.filter((r) => r.idle).sort((a, b) => a.lastUsed - b.lastUsed);
  for (const r of candidates) {
    if (fits()) break;
    victims.push(r);
    used -= r.bytes;
    count--;
  }
  return fits() ? victims : undefined;
}

interface Budget {
  bytes: number;
  /** How it was reckoned, e.g. "--memory-share 50% of the 23.0 GiB available at start". */
  text: string;
}

/** A model that alone needs more than the budget. */
export function tooBigMessage(spec: ModelSpec, need: number, budget: Budget): string {
  const s = spec.settings;
  return (
    `model '${spec.name}' needs ${gib(need)} (weights + KV cache for ${s.parallel} slots x ${s.ctxSize} tokens) but the memory budget is ${gib(budget.bytes)} (${budget.text}): ` +
    `lower its parallel or ctx-size, or raise --memory-share`
  );
}

/** No room came free in time: every model taking it was in use. */
export function noRoomMessage(name: string, need: number, resident: ReadonlyArray<{ name: string; bytes: number; holds: number; status: string }>, budget: Budget, maxLoaded: number): string {
  const used = resident.reduce((n, r) => n + r.bytes, 0);
  const busy = resident.map((r) => `${r.name} (${r.status === "loaded" ? `${r.holds} in flight` : r.status})`).join(", ");
  const cause = maxLoaded > 0 && resident.length >= maxLoaded ? `--models-max ${maxLoaded} models are loaded` : `${gib(used)} of the ${gib(budget.bytes)} memory budget (${budget.text}) is taken`;
  return `no room to load model '${name}' (${gib(need)}): ${cause} by models in use (${busy}), and a model is never unloaded under a request; try again shortly`;
}
