// GGUF v3 on-disk constants shared by the writer and the reader, and tensor sizes by ggml type
// (the startup model check uses them to find a file cut inside its tensor data).
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

/**
 * ggml_type id -> [elements per block, bytes per block], from ggml.c's type_traits (the llama.cpp
 * that node-llama-cpp 3.21.1 bundles); test/hardening/model-faults.test.ts compares it with the
 * native library, so an upgrade that adds or changes a type fails there first. Ids missing here
 * are types that build does not know (removed ones, such as 4 and 5, included).
 */
export const GGML_TYPE_BLOCKS: Readonly<Record<number, readonly [elems: number, bytes: number]>> = {
  0: [1, 4], 1: [1, 2], 2: [32, 18], 3: [32, 20], 6: [32, 22], 7: [32, 24], 8: [32, 34], 9: [32, 36],
  10: [256, 84], 11: [256, 110], 12: [256, 144], 13: [256, 176], 14: [256, 210], 15: [256, 292],
  16: [256, 66], 17: [256, 74], 18: [256, 98], 19: [256, 50], 20: [32, 18], 21: [256, 110], 22: [256, 82],
  23: [256, 136], 24: [1, 1], 25: [1, 2], 26: [1, 4], 27: [1, 8], 28: [1, 8], 29: [256, 56], 30: [1, 2],
  34: [256, 54], 35: [256, 66], 39: [32, 17], 40: [64, 36], 41: [128, 18], 42: [64, 18],
};

/** The tensor element types we write, by ggml_type number. */
export const TENSOR_TYPE_ID = { F32: 0, F16: 1, Q8_0: 8 } as const;

export type TensorType = keyof typeof TENSOR_TYPE_ID;

export function tensorTypeName(id: number): TensorType | undefined {
  for (const name of Object.keys(TENSOR_TYPE_ID) as TensorType[]) if (TENSOR_TYPE_ID[name] === id) return name;
  return undefined;
}

interface TensorExtent {
  name: string;
  /** GGUF order: dims[0] is the row length. */
  dims: readonly number[];
  /** ggml_type number. */
  type: number;
  /** Relative to the start of the data section. */
  offset: number;
}

/** Bytes of a tensor's data, or a reason it cannot be sized (ggml stores whole blocks, so a row must fill them). */
function tensorDataBytes(t: Omit<TensorExtent, "offset">): number | string {
  const block = GGML_TYPE_BLOCKS[t.type];
  if (block === undefined) return `tensor ${t.name} has ggml type ${t.type}, which this build of llama.cpp does not know`;
  const [elems, bytes] = block;
  const row = t.dims[0] ?? 1;
  if (row % elems !== 0) return `tensor ${t.name}: a row of ${row} values does not fill whole blocks of ${elems}`;
  return (t.dims.reduce((a, d) => a * d, 1) / elems) * bytes;
}

/** Bytes of a tensor this project writes; throws when its rows do not fill whole blocks. */
export function tensorBytes(type: TensorType, dims: readonly number[]): number {
  const bytes = tensorDataBytes({ name: `of type ${type}`, type: TENSOR_TYPE_ID[type], dims });
  if (typeof bytes === "string") throw new Error(bytes);
  return bytes;
}

/** The first problem with the tensor data layout, or undefined when every tensor lies inside the file. */
export function tensorDataProblem(tensors: readonly TensorExtent[], dataOffset: number, fileSize: number): string | undefined {
  let end = dataOffset;
  for (const t of tensors) {
    const bytes = tensorDataBytes(t);
    if (typeof bytes === "string") return bytes;
    end = Math.max(end, dataOffset + t.offset + bytes);
  }
  if (end <= fileSize) return undefined;
  return `the file is truncated: its tensor data should end at byte ${end} but the file has ${fileSize} bytes (an interrupted download or copy?)`;
}

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}
