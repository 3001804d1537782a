// Deterministic random numbers for generated model weights.
// Only integer ops, +, * and exact divisions are used (no Math.log/cos/exp), so the
// same seed gives bit-identical floats on every engine, CPU and OS.

/** One step of splitmix32 (Vigna's 32-bit variant): used to expand a seed into a state. */
export function splitmix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** FNV-1a over UTF-16 code units; stable tensor-name -> stream-id mapping. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** xoshiro128** (Blackman & Vigna): 128-bit state, fast in 32-bit JS integer math. */
export class Xoshiro128 {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    // Chaining splitmix32 spreads nearby seeds/streams across the state space.
    let s = splitmix32((seed >>> 0) ^ Math.imul(stream >>> 0, 0x27d4eb2f));
    this.a = s;
    this.b = s = splitmix32(s);
    this.c = s = splitmix32(s);
    this.d = splitmix32(s);
    if ((this.a | this.b | this.c | this.d) === 0) this.d = 1; // all-zero state is a fixed point
  }

  /** Next uint32. */
  next(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  /** Uniform in [0, 1) with 24 bits, so every value is exact in float32. */
  uniform(): number {
    return (this.next() >>> 8) * 5.9604644775390625e-8; // 2^-24
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

// Irwin-Hall sum of the four bytes of one uint32: mean 510, variance 4 * (256^2 - 1) / 12.
// One PRNG call per weight keeps the 100M-weight bench preset fast; 1021 levels is far finer
// than Q8_0's 255.
const IH_MEAN = 510;
const IH_INV_STD = 1 / Math.sqrt((4 * (256 * 256 - 1)) / 12);

/** Fills `out` with bell-shaped values of mean 0 and standard deviation `std`. */
export function fillNormalish(rng: Xoshiro128, out: Float32Array, std: number): void {
  const k = std * IH_INV_STD;
  for (let i = 0; i < out.length; i++) {
    const r = rng.next();
    const sum = (r & 255) + ((r >>> 8) & 255) + ((r >>> 16) & 255) + (r >>> 24);
    out[i] = (sum - IH_MEAN) * k;
  }
}
