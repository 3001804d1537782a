// Keep-alive durations, as Ollama's `keep_alive` takes them: how long a model stays loaded once it
// has nothing to do. Shared by the --keep-alive-idle flag, the models file and the per-request
// field, so all three read the same text the same way.

/** What the parser accepts, for error messages. */
export const KEEP_ALIVE_FORMS = 'a duration ("30s", "5m", "1h", "500ms"; a bare number is seconds), 0 to unload as soon as idle, or -1 / "forever" to never unload';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
/** Longer than any timer can wait (setTimeout takes at most 2^31 - 1 ms): such a keep-alive is "forever". */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

/**
 * Milliseconds, Infinity for "never unload", or undefined when `v` is not a keep-alive. A number is
 * seconds; any negative value means forever (Ollama's rule).
 */
export function parseKeepAlive(v: string | number): number | undefined {
  if (typeof v === "number") return Number.isFinite(v) ? toMs(v * 1000) : undefined;
  const text = v.trim().toLowerCase();
  if (text === "forever" || text === "never") return Infinity;
  const m = /^(-?\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
  if (!m) return undefined;
  return toMs(Number(m[1]) * UNIT_MS[m[2] ?? "s"]!);
}

function toMs(ms: number): number {
  if (ms < 0 || ms > LONGEST_TIMER_MS) return Infinity;
  return Math.round(ms);
}

/** The keep-alive as people write it: "forever", "0s", "5m", "90s", "250ms". */
export function formatKeepAlive(ms: number): string {
  if (ms === Infinity) return "forever";
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
