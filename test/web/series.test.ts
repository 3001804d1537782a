// The dashboard's arithmetic: percentiles from the change of histogram buckets between two
// readings, rates between readings, gaps (not negative rates) across a server restart.
import { describe, expect, test } from "bun:test";
import { pointAt, windowQuantile, type Stats } from "../../src/web/app/series.ts";

const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/** A histogram as prom-client keeps it: cumulative counts of observations <= each bound. */
function hist(observations: number[]) {
  return { bounds: BOUNDS, cumulative: BOUNDS.map((b) => observations.filter((o) => o <= b).length), count: observations.length };
}

function stats(o: { t: number; generated?: number; busy?: number; ttft?: number[]; answered?: Stats["requests"]["answered"] }): Stats {
  return {
    uptime_s: o.t,
    model: "m",
    ready: true,
    slots: { total: 4, busy: o.busy ?? 0, paused: 0 },
    queue_depth: 0,
    open_connections: 2,
    tokens: { generated: o.generated ?? 0 },
    requests: { answered: o.answered ?? [] },
    latency: { time_to_first_token_seconds: hist(o.ttft ?? []), inter_token_latency_seconds: hist([]) },
    memory: { resident_bytes: 64 * 1048576 },
  };
}

describe("windowQuantile", () => {
  test("interpolates inside the bucket, as histogram_quantile does", () => {
    // Four observations in (0.01, 0.025]: the median sits halfway through that bucket.
    expect(windowQuantile(0.5, hist([0.02, 0.02, 0.02, 0.02]), hist([]))).toBeCloseTo(0.0175, 10);
    // Two in the first bucket (0, 0.005], two in (0.05, 0.1]: p50 is the first bucket's top, p75 halfway through the other.
    const h = hist([0.001, 0.002, 0.07, 0.09]);
    expect(windowQuantile(0.5, h, hist([]))).toBeCloseTo(0.005, 10);
    expect(windowQuantile(0.75, h, hist([]))).toBeCloseTo(0.075, 10);
    // Beyond the last finite bound: that bound.
    expect(windowQuantile(0.99, hist([5, 6, 7]), hist([]))).toBe(1);
  });

  test("counts only what was observed between the two readings", () => {
    const early = [0.3, 0.3, 0.3, 0.3];
    const late = [0.003, 0.004];
    expect(windowQuantile(0.5, hist([...early, ...late]), hist(early))).toBeLessThanOrEqual(0.005);
    expect(windowQuantile(0.5, hist(early), hist(early))).toBeNull();
  });

  test("random samples: the estimate lies in the bucket that holds the true quantile", () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 200; round++) {
      const obs = Array.from({ length: 1 + Math.floor(rnd() * 50) }, () => rnd() ** 3 * 1.2);
      const q = [0.5, 0.9, 0.95, 0.99][round % 4]!;
      const sorted = [...obs].sort((a, b) => a - b);
      const truth = sorted[Math.max(0, Math.ceil(q * obs.length) - 1)]!;
      const upper = BOUNDS.find((b) => truth <= b);
      const lower = upper === undefined ? 1 : ([0, ...BOUNDS][BOUNDS.indexOf(upper)] ?? 0);
      const got = windowQuantile(q, hist(obs), hist([]))!;
      expect(got).toBeGreaterThanOrEqual(lower);
      expect(got).toBeLessThanOrEqual(upper ?? 1);
    }
  });
});

describe("pointAt", () => {
  test("rates over the server's clock; latency in ms over the window; the console's own requests left out", () => {
    const a = stats({ t: 10, generated: 100, answered: [{ route: "/v1/chat/completions", status: 200, count: 3 }, { route: "/v1/stats", status: 200, count: 9 }] });
    const b = stats({
      t: 12,
      generated: 150,
      busy: 2,
      ttft: [0.02, 0.02],
      answered: [
        { route: "/v1/chat/completions", status: 200, count: 5 },
        { route: "/v1/chat/completions", status: 400, count: 1 },
        { route: "/v1/stats", status: 200, count: 11 },
        { route: "/console/*", status: 200, count: 2 },
      ],
    });
    const p = pointAt(b, a, a);
    expect(p.t).toBe(12);
    expect(p.tokens).toBe(25);
    expect(p["2xx"]).toBe(1);
    expect(p["4xx"]).toBe(0.5);
    expect(p["5xx"]).toBe(0);
    expect(p.busy).toBe(2);
    expect(p.memory).toBe(64);
    expect(p.ttft50).toBeCloseTo(17.5, 6);
    expect(p.itl50).toBeNull();
  });

  test("the first reading, and one after a restart, give gaps rather than rates", () => {
    const first = pointAt(stats({ t: 5, generated: 10 }), undefined, undefined);
    expect(first.tokens).toBeNull();
    expect(first["2xx"]).toBeNull();
    const before = stats({ t: 500, generated: 9000, ttft: [0.1, 0.1, 0.1] });
    const restarted = pointAt(stats({ t: 2, generated: 5, ttft: [0.02] }), before, before);
    expect(restarted.tokens).toBeNull();
    expect(restarted.ttft50).toBeNull();
  });
});
