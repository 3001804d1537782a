// Room for one more model: which idle models to unload, least recently used first, so that a load
// fits the memory budget and the model count. Pure: the registry hands its models in.

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
