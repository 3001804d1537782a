// Seeded randomness, so an open-loop run's arrival times can be reproduced exactly.

/** mulberry32: 32-bit state, full period 2^32; good enough for arrival jitter, not for cryptography. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Poisson process arrival offsets in ms from the start: gaps are exponential with mean 1000/rate.
 * `1 - u` keeps the log argument in (0, 1], so no gap is infinite.
 */
export function poissonArrivalsMs(count: number, ratePerS: number, seed: number): number[] {
  const rand = mulberry32(seed);
  const out: number[] = [];
  let t = 0;
  for (let i = 0; i < count; i++) {
    out.push(t);
    t += (-Math.log(1 - rand()) / ratePerS) * 1000;
  }
  return out;
}
