// Summary statistics for latency samples and round results.
//
// Percentile method: linear interpolation between closest ranks, Hyndman & Fan type 7
// (NumPy's default "linear", Excel's PERCENTILE.INC). For sorted x[0..n-1] and p in [0, 100]:
//   h = (n - 1) * p / 100,  lo = floor(h),  q = x[lo] + (h - lo) * (x[lo + 1] - x[lo])
// so p0 = min, p100 = max, and p50 of an even-sized sample is the mean of the two middle values.

export interface Distribution {
  readonly n: number;
  readonly mean: number;
  readonly min: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/** Percentile of an ascending-sorted sample; null for an empty one. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number | null {
  const n = sorted.length;
  if (n === 0) return null;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be in [0, 100], got ${p}`);
  const h = ((n - 1) * p) / 100;
  const lo = Math.floor(h);
  const a = sorted[lo]!;
  if (lo + 1 >= n) return a;
  return a + (h - lo) * (sorted[lo + 1]! - a);
}

export function percentile(values: readonly number[], p: number): number | null {
  return percentileSorted(Float64Array.from(values).sort(), p);
}

export function mean(values: ArrayLike<number>): number | null {
  if (values.length === 0) return null;
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]!;
  return s / values.length;
}

/** Full summary; accepts a plain array or a typed array (typed arrays sort numerically and fast). */
export function summarize(values: ArrayLike<number>): Distribution | null {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  return {
    n: sorted.length,
    mean: mean(sorted)!,
    min: sorted[0]!,
    p50: percentileSorted(sorted, 50)!,
    p90: percentileSorted(sorted, 90)!,
    p99: percentileSorted(sorted, 99)!,
    max: sorted[sorted.length - 1]!,
  };
}

/** Median with the spread, for results repeated over rounds on a noisy machine. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

export function spread(values: readonly number[]): Spread | null {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return null;
  const sorted = Float64Array.from(finite).sort();
  return {
    median: percentileSorted(sorted, 50)!,
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
    n: sorted.length,
  };
}
