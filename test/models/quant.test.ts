import { describe, expect, test } from "bun:test";
import { Q8_0_BYTES, dequantizeQ8_0, encodeF16, f16BitsToF32, f32ToF16Bits, quantizeQ8_0 } from "../../src/models/quant.ts";
import { Xoshiro128, fillNormalish } from "../../src/models/rng.ts";

describe("f32ToF16Bits", () => {
  // [input, expected half bits, why]
  const table: Array<[number, number, string]> = [
    [0, 0x0000, "zero"],
    [-0, 0x8000, "negative zero keeps its sign"],
    [1, 0x3c00, "one"],
    [-2, 0xc000, "negative normal"],
    [0.333251953125, 0x3555, "exact half value"],
    [65504, 0x7bff, "largest finite half"],
    [65519, 0x7bff, "just below the overflow midpoint rounds down"],
    [65520, 0x7c00, "overflow midpoint ties to even: infinity"],
    [1e6, 0x7c00, "overflow -> +inf"],
    [-1e6, 0xfc00, "overflow -> -inf"],
    [Infinity, 0x7c00, "+inf"],
    [-Infinity, 0xfc00, "-inf"],
    [2 ** -14, 0x0400, "smallest normal"],
    [2 ** -24, 0x0001, "smallest subnormal"],
    [1023 * 2 ** -24, 0x03ff, "largest subnormal"],
    [2 ** -25, 0x0000, "half the smallest subnormal ties to even: zero"],
    [-(2 ** -25), 0x8000, "negative tie to zero keeps the sign"],
    [2 ** -25 * 1.5, 0x0001, "above the tie rounds up to the smallest subnormal"],
    [3 * 2 ** -25, 0x0002, "subnormal tie 1.5 ulp -> even (2)"],
    [5 * 2 ** -25, 0x0002, "subnormal tie 2.5 ulp -> even (2)"],
    [2 ** -30, 0x0000, "far below the subnormal range"],
    [1e-45, 0x0000, "float32 subnormal input"],
    [1023.5 * 2 ** -24, 0x0400, "largest subnormal tie rounds up into the normal range"],
    [1 + 2 ** -11, 0x3c00, "tie between 1 and 1+ulp -> even (1)"],
    [1 + 3 * 2 ** -11, 0x3c02, "tie with odd lower neighbour rounds up"],
    [1 + 2 ** -11 + 2 ** -20, 0x3c01, "just above a tie rounds up"],
    [1 + 2 ** -11 - 2 ** -20, 0x3c00, "just below a tie rounds down"],
    [2 - 2 ** -11, 0x4000, "tie above 0x3bff rounds up; the mantissa carry rolls into the exponent"],
    [2047 / 1024, 0x3fff, "largest mantissa below 2 is exact"],
  ];
  for (const [x, bits, why] of table) {
    test(`${why}: ${x}`, () => expect(f32ToF16Bits(x)).toBe(bits));
  }

  // JS engines canonicalize NaN payloads and signs on read, so only NaN-ness is observable.
  test("NaN stays a NaN (exponent all ones, mantissa non-zero)", () => {
    for (const x of [NaN, new Float32Array(new Uint32Array([0x7f800001]).buffer)[0]!]) {
      const h = f32ToF16Bits(x);
      expect(h & 0x7c00).toBe(0x7c00);
      expect(h & 0x03ff).not.toBe(0);
      expect(Number.isNaN(f16BitsToF32(h))).toBe(true);
    }
  });

  test("every non-NaN half value survives half -> float -> half exactly", () => {
    for (let h = 0; h < 0x10000; h++) {
      const x = f16BitsToF32(h);
      if (Number.isNaN(x)) {
        expect((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0).toBe(true);
        continue;
      }
      if (f32ToF16Bits(x) !== h) throw new Error(`0x${h.toString(16)} -> ${x} -> 0x${f32ToF16Bits(x).toString(16)}`);
    }
  });

  test("agrees with the engine's own Math.f16round on float32 inputs, when it has one", () => {
    const f16round = (Math as unknown as { f16round?: (x: number) => number }).f16round;
    const rng = new Xoshiro128(7);
    const xs = new Float32Array(20000);
    fillNormalish(rng, xs, 1);
    for (let i = 0; i < xs.length; i++) {
      const x = xs[i]! * 2 ** ((rng.next() % 60) - 30); // spread over subnormal..overflow
      const mine = f16BitsToF32(f32ToF16Bits(x));
      const want = f16round ? f16round(Math.fround(x)) : mine;
      if (!Object.is(mine, want)) throw new Error(`${x}: ${mine} vs ${want}`);
    }
  });

  test("encodeF16 writes little-endian halves", () => {
    expect(Array.from(encodeF16(new Float32Array([1, -2])))).toEqual([0x00, 0x3c, 0x00, 0xc0]);
  });
});

describe("Q8_0", () => {
  test("block layout: f16 scale then 32 int8, ties round away from zero", () => {
    const x = new Float32Array(32);
    x.set([127, -127, 0, 63.5, -63.5, 0.5, -0.5, 2.5, -2.5, 1.49]);
    const out = new Uint8Array(Q8_0_BYTES);
    quantizeQ8_0(x, out);
    expect(out[0]! | (out[1]! << 8)).toBe(0x3c00); // d = 127 / 127 = 1
    const q = Array.from(new Int8Array(out.buffer, 2, 10));
    expect(q).toEqual([127, -127, 0, 64, -64, 1, -1, 3, -3, 1]);
  });

  test("an all-zero block has scale 0 and zero quants", () => {
    const out = new Uint8Array(Q8_0_BYTES).fill(0xaa);
    quantizeQ8_0(new Float32Array(32), out);
    expect(Array.from(out)).toEqual(new Array(Q8_0_BYTES).fill(0));
  });

  test("round-trip error stays within half a quantization step per block", () => {
    const n = 32 * 512;
    const x = new Float32Array(n);
    fillNormalish(new Xoshiro128(3), x, 0.05);
    for (let i = 0; i < n; i += 97) x[i] = x[i]! * 40; // outliers stretch some blocks' scales
    const q = new Uint8Array((n / 32) * Q8_0_BYTES);
    quantizeQ8_0(x, q);
    const y = dequantizeQ8_0(q, n);
    for (let b = 0; b < n / 32; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]!));
      // half a step, plus the scale's own f16 rounding (<= 2^-11 relative) times |q| <= 127
      const tol = (amax / 127) * (0.5 + 127 * 2 ** -11) + 1e-9;
      for (let j = 0; j < 32; j++) {
        const err = Math.abs(x[b * 32 + j]! - y[b * 32 + j]!);
        if (err > tol) throw new Error(`block ${b} value ${j}: error ${err} > ${tol}`);
      }
    }
  });

  test("writes at an offset and refuses partial blocks or short output", () => {
    const out = new Uint8Array(Q8_0_BYTES + 5);
    quantizeQ8_0(new Float32Array(32).fill(1), out, 5);
    expect(out[5]! | (out[6]! << 8)).toBe(f32ToF16Bits(1 / 127));
    expect(() => quantizeQ8_0(new Float32Array(33), new Uint8Array(100))).toThrow(/multiple of 32/);
    expect(() => quantizeQ8_0(new Float32Array(64), new Uint8Array(40))).toThrow(/too small/);
  });
});
