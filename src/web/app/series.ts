// From /v1/stats readings to chart points. The server gives totals since it started; a rate is
// the change between two readings over the server's own clock (uptime_s), and a percentile is
// taken from the change of a histogram's buckets over a trailing window, as Prometheus'
// histogram_quantile() does with rate(). No DOM here: the tests run these functions as they are.

interface Histogram {
  /** Finite upper bounds, in seconds, ascending. */
  bounds: number[];
  /** Observations at or below each bound (cumulative). */
  cumulative: number[];
  /** All observations (the +Inf bucket). */
  count: number;
}

/** The fields of /v1/stats the dashboard reads. */
export interface Stats {
  uptime_s: number;
  model: string | null;
  ready: boolean;
  slots: { total: number; busy: number; paused: number };
  queue_depth: number;
  open_connections: number | null;
  tokens: { generated: number };
  requests: { answered: Array<{ route: string; status: number; count: number }> };
  latency: { time_to_first_token_seconds: Histogram; inter_token_latency_seconds: Histogram };
  memory: { resident_bytes: number };
}

/**
 * The q-quantile (0..1) of the observations between two readings of one histogram, interpolated
 * linearly inside the bucket it falls in (the first bucket starts at 0). Past the last finite bound
 * it is that bound, as with Prometheus. null when nothing was observed in between.
 */
export function windowQuantile(q: number, now: Histogram, before: Histogram): number | null {
  const total = now.count - before.count;
  if (total <= 0) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < now.bounds.length; i++) {
    const upTo = now.cumulative[i]! - (before.cumulative[i] ?? 0);
    if (upTo >= rank) {
      const lower = i === 0 ? 0 : now.bounds[i - 1]!;
      const inBucket = upTo - below;
      return inBucket <= 0 ? lower : lower + (now.bounds[i]! - lower) * ((rank - below) / inBucket);
    }
    below = upTo;
  }
  return now.bounds[now.bounds.length - 1] ?? null;
}

/** The console's own requests (its page and its polls), left out of the request rates. */
const CONSOLE_ROUTES = new Set(["/", "/console/*", "/v1/stats"]);

function answeredByClass(s: Stats): Record<string, number> {
  const out: Record<string, number> = { "2xx": 0, "4xx": 0, "5xx": 0 };
  for (const a of s.requests.answered) {
    if (CONSOLE_ROUTES.has(a.route)) continue;
    const cls = `${Math.floor(a.status / 100)}xx`;
    if (cls in out) out[cls]! += a.count;
  }
  return out;
}

/** One chart point: series name -> value (null: no value at this time, a gap). */
export type Point = { t: number } & Record<string, number | null>;

/** Window over which percentiles are taken, in seconds (1 s readings hold too few tokens). */
export const PERCENTILE_WINDOW_S = 10;

/**
 * The point for `now`, given the reading before it and the oldest reading still inside the
 * percentile window. A server restart (the clock or a total went back) gives gaps, not negative rates.
 */
export function pointAt(now: Stats, prev: Stats | undefined, windowStart: Stats | undefined): Point {
  const dt = prev ? now.uptime_s - prev.uptime_s : 0;
  const valid = prev !== undefined && dt > 0 && now.tokens.generated >= prev.tokens.generated;
  const rate = (a: number, b: number) => (valid && a >= b ? (a - b) / dt : null);
  const p: Point = {
    t: now.uptime_s,
    busy: now.slots.busy,
    paused: now.slots.paused,
    queue: now.queue_depth,
    connections: now.open_connections,
    memory: now.memory.resident_bytes / 1048576,
    tokens: prev ? rate(now.tokens.generated, prev.tokens.generated) : null,
  };
  const nowClasses = answeredByClass(now);
  const prevClasses = prev ? answeredByClass(prev) : undefined;
  for (const [cls, n] of Object.entries(nowClasses)) p[cls] = prevClasses ? rate(n, prevClasses[cls]!) : null;
  const w = windowStart && windowStart.uptime_s < now.uptime_s ? windowStart : undefined;
  const ms = (v: number | null) => (v === null ? null : v * 1000);
  for (const [key, hist] of [
    ["ttft", "time_to_first_token_seconds"],
    ["itl", "inter_token_latency_seconds"],
  ] as const) {
    const a = now.latency[hist];
    const b = w?.latency[hist];
    p[`${key}50`] = b ? ms(windowQuantile(0.5, a, b)) : null;
    p[`${key}95`] = b ? ms(windowQuantile(0.95, a, b)) : null;
  }
  return p;
}
