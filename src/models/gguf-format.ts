// GGUF v3 on-disk constants shared by the writer and the reader.
// Layout: magic "GGUF", u32 version, u64 tensor count, u64 KV count, KVs, tensor infos,
// zero padding to `general.alignment`, then tensor data (each tensor starts aligned).
// Strings are u64 byte length + UTF-8 bytes (no terminator). Everything is little-endian.

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value type tags (gguf_type). */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

/** The tensor element types we write, by ggml_type number. */
export const TENSOR_TYPE_ID = { F32: 0, F16: 1, Q8_0: 8 } as const;

export type TensorType = keyof typeof TENSOR_TYPE_ID;

/** Elements per block and bytes per block; ggml checks that a row is a whole number of blocks. */
const BLOCK: Record<TensorType, { elems: number; bytes: number }> = {
  F32: { elems: 1, bytes: 4 },
  F16: { elems: 1, bytes: 2 },
  Q8_0: { elems: 32, bytes: 34 },
};

export function tensorTypeName(id: number): TensorType | undefined {
  for (const name of Object.keys(TENSOR_TYPE_ID) as TensorType[]) if (TENSOR_TYPE_ID[name] === id) return name;
  return undefined;
}

/** Bytes of a tensor with GGUF dims (dims[0] is the contiguous row length). */
export function tensorBytes(type: TensorType, dims: readonly number[]): number {
  const b = BLOCK[type];
  const row = dims[0] ?? 1;
  if (row % b.elems !== 0) throw new Error(`${type} rows must be a multiple of ${b.elems}, got ${row}`);
  const count = dims.reduce((a, d) => a * d, 1);
  return (count / b.elems) * b.bytes;
}

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}
