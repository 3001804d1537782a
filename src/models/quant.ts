// Float -> GGML storage conversions: IEEE half precision and Q8_0 blocks.
// Output bytes are little-endian (GGUF's byte order); typed-array views are used for
// speed, so a big-endian host is refused up front rather than writing wrong files.
import { GGML_TYPE_BLOCKS, TENSOR_TYPE_ID } from "./gguf-format.ts";

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error("models/quant: big-endian hosts are not supported (GGUF is little-endian)");
}

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** float -> IEEE binary16 bits, round-to-nearest-even; NaN stays NaN (quiet), overflow -> inf. */
export function f32ToF16Bits(x: number): number {
  scratchF32[0] = x; // the float64 -> float32 step rounds first, as C's (float) cast would
  const b = scratchU32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return mant !== 0 ? sign | 0x7e00 | (mant >>> 13) : sign | 0x7c00;
  const he = exp - 112; // rebias 127 -> 15
  if (he >= 0x1f) return sign | 0x7c00;
  if (he <= 0) return sign | f16Subnormal(mant | 0x800000, 14 - he);
  let m = mant >>> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (m & 1) === 1)) m++;
  // A mantissa carry rolls into the exponent, which is exactly the right rounding (even to inf).
  return sign | ((he << 10) + m);
}

// Half subnormals are m * 2^-24; `full` is the 24-bit significand with its implicit bit.
function f16Subnormal(full: number, shift: number): number {
  if (shift > 24) return 0; // below half of the smallest subnormal: rounds to (signed) zero
  const m = full >>> shift;
  const rem = full & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rem > half || (rem === half && (m & 1) === 1) ? m + 1 : m;
}

/** IEEE binary16 bits -> number (exact). */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant !== 0 ? NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** Q8_0 layout (ggml block_q8_0): f16 scale d, then 32 int8 q; value = d * q. */
export const [Q8_0_BLOCK, Q8_0_BYTES] = GGML_TYPE_BLOCKS[TENSOR_TYPE_ID.Q8_0]!;

/**
 * Quantizes src (length a multiple of 32) into dst at dstOffset, following ggml's reference
 * quantizer: d = max|x| / 127, q = round-half-away(x / d).
 */
export function quantizeQ8_0(src: Float32Array, dst: Uint8Array, dstOffset = 0): void {
  if (src.length % Q8_0_BLOCK !== 0) throw new Error(`Q8_0 needs a multiple of 32 values, got ${src.length}`);
  if (dstOffset + (src.length / Q8_0_BLOCK) * Q8_0_BYTES > dst.length) throw new Error("Q8_0 output too small");
  const q = new Int8Array(dst.buffer, dst.byteOffset, dst.byteLength);
  let o = dstOffset;
  for (let i = 0; i < src.length; i += Q8_0_BLOCK) {
    let amax = 0;
    for (let j = 0; j < Q8_0_BLOCK; j++) {
      const a = Math.abs(src[i + j]!);
      if (a > amax) amax = a;
    }
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const h = f32ToF16Bits(d);
    dst[o] = h & 0xff;
    dst[o + 1] = h >>> 8;
    for (let j = 0; j < Q8_0_BLOCK; j++) {
      // |v| <= 127 * (1 + 2^-23)^3 < 127.5, so no clamp is needed. `(|v| + 0.5) | 0` is
      // round-half-away-from-zero (C's roundf) and about twice as fast as Math.round here.
      const v = Math.fround(src[i + j]! * id);
      q[o + 2 + j] = v < 0 ? -((0.5 - v) | 0) : (v + 0.5) | 0;
    }
    o += Q8_0_BYTES;
  }
}

/** Inverse of quantizeQ8_0 (for tests and inspection). */
export function dequantizeQ8_0(src: Uint8Array, count: number): Float32Array {
  if (count % Q8_0_BLOCK !== 0) throw new Error(`Q8_0 count must be a multiple of 32, got ${count}`);
  const out = new Float32Array(count);
  const i8 = new Int8Array(src.buffer, src.byteOffset, src.byteLength);
  for (let b = 0; b < count / Q8_0_BLOCK; b++) {
    const o = b * Q8_0_BYTES;
    const d = f16BitsToF32(src[o]! | (src[o + 1]! << 8));
    for (let j = 0; j < Q8_0_BLOCK; j++) out[b * Q8_0_BLOCK + j] = d * i8[o + 2 + j]!;
  }
  return out;
}

/** Float32 values as little-endian F16 bytes. */
export function encodeF16(src: Float32Array): Uint8Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32ToF16Bits(src[i]!);
  return new Uint8Array(out.buffer);
}

/** Float32 values as little-endian F32 bytes (a view, no copy). */
export function encodeF32(src: Float32Array): Uint8Array {
  return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
}
