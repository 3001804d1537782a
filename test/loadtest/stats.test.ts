import { describe, expect, test } from "bun:test";
import { mulberry32, poissonArrivalsMs } from "../../src/loadtest/rng.ts";
import { mean, percentile, spread, summarize } from "../../src/loadtest/stats.ts";

describe("percentile (linear interpolation, type 7)", () => {
  // Expected values are NumPy's np.percentile(x, p) with the default method="linear".
  const cases: [number[], number, number][] = [
    [[1, 2, 3, 4], 50, 2.5],
    [[1, 2, 3, 4], 90, 3.7],
    [[1, 2, 3, 4], 99, 3.97],
    [[1, 2, 3, 4], 0, 1],
    [[1, 2, 3, 4], 100, 4],
    [[15, 20, 35, 40, 50], 40, 29],
    [[15, 20, 35, 40, 50], 50, 35],
    [[15, 20, 35, 40, 50], 90, 46],
    [[7], 99, 7],
    [[10, 0], 25, 2.5], // unsorted input is sorted first
    [[1, 1, 1, 100], 50, 1],
  ];
  for (const [xs, p, want] of cases) {
    test(`p${p} of [${xs}] = ${want}`, () => {
      expect(percentile(xs, p)).toBeCloseTo(want, 10);
    });
  }

  test("empty sample has no percentile", () => {
    expect(percentile([], 50)).toBeNull();
  });

  test("out-of-range p is an error", () => {
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(() => percentile([1], -1)).toThrow(RangeError);
  });

  test("numeric, not lexicographic, sort", () => {
    expect(percentile([10, 9, 100, 2], 50)).toBe(9.5);
  });
});

describe("summarize / spread / mean", () => {
  test("summary of 1..100", () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    const s = summarize(xs)!;
    expect(s.n).toBe(100);
    expect(s.mean).toBe(50.5);
    expect(s.min).toBe(1);
    expect(s.max).toBe(100);
    expect(s.p50).toBeCloseTo(50.5, 10);
    expect(s.p90).toBeCloseTo(90.1, 10);
    expect(s.p99).toBeCloseTo(99.01, 10);
  });

  test("empty inputs", () => {
    expect(summarize([])).toBeNull();
    expect(mean([])).toBeNull();
    expect(spread([])).toBeNull();
  });

  test("spread is median with min and max, ignoring non-finite values", () => {
    expect(spread([3, 1, NaN, 2, Infinity])).toEqual({ median: 2, min: 1, max: 3, n: 3 });
  });
});

describe("seeded Poisson arrivals", () => {
  test("same seed, same arrivals; different seed, different arrivals", () => {
    expect(poissonArrivalsMs(50, 10, 7)).toEqual(poissonArrivalsMs(50, 10, 7));
    expect(poissonArrivalsMs(50, 10, 7)).not.toEqual(poissonArrivalsMs(50, 10, 8));
  });

  test("starts at 0, increases, and the mean gap is close to 1/rate", () => {
    const a = poissonArrivalsMs(20_000, 50, 1);
    expect(a[0]).toBe(0);
    for (let i = 1; i < a.length; i++) expect(a[i]!).toBeGreaterThanOrEqual(a[i - 1]!);
    const meanGapMs = a[a.length - 1]! / (a.length - 1);
    expect(meanGapMs).toBeGreaterThan(19);
    expect(meanGapMs).toBeLessThan(21);
  });

  test("mulberry32 yields values in [0, 1)", () => {
    const r = mulberry32(123);
    for (let i = 0; i < 10_000; i++) {
      const v = r();
      expect(v >= 0 && v < 1).toBe(true);
    }
  });
});
