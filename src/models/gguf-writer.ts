// GGUF v3 writer. The header (metadata + tensor infos) is built in memory; tensor data is
// streamed chunk by chunk from producers, so a 100 MB model never exists as one buffer.
import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VERSION,
  GgufValueType as VT,
  TENSOR_TYPE_ID,
  type TensorType,
  alignUp,
  tensorBytes,
} from "./gguf-format.ts";

type GgufValue =
  | { type: "uint16"; value: number }
  | { type: "uint32"; value: number }
  | { type: "int32"; value: number }
  | { type: "uint64"; value: number }
  | { type: "float32"; value: number }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | { type: "string[]"; value: readonly string[] }
  | { type: "float32[]"; value: ArrayLike<number> }
  | { type: "int32[]"; value: ArrayLike<number> }
  | { type: "uint32[]"; value: ArrayLike<number> };

/** Metadata is an ordered list: key order is part of the bytes, so it must not depend on object quirks. */
export type GgufMetadata = ReadonlyArray<readonly [key: string, value: GgufValue]>;

export const kv = {
  /** llama.cpp's split keys (split.no, split.count) must be uint16: it checks the type. */
  u16: (value: number): GgufValue => ({ type: "uint16", value }),
  u32: (value: number): GgufValue => ({ type: "uint32", value }),
  i32: (value: number): GgufValue => ({ type: "int32", value }),
  u64: (value: number): GgufValue => ({ type: "uint64", value }),
  f32: (value: number): GgufValue => ({ type: "float32", value }),
  bool: (value: boolean): GgufValue => ({ type: "bool", value }),
  str: (value: string): GgufValue => ({ type: "string", value }),
  strs: (value: readonly string[]): GgufValue => ({ type: "string[]", value }),
  f32s: (value: ArrayLike<number>): GgufValue => ({ type: "float32[]", value }),
  i32s: (value: ArrayLike<number>): GgufValue => ({ type: "int32[]", value }),
  u32s: (value: ArrayLike<number>): GgufValue => ({ type: "uint32[]", value }),
};

export interface GgufTensorSpec {
  name: string;
  /** GGUF order: dims[0] is the contiguous (row) length, i.e. the reverse of PyTorch's shape. */
  dims: readonly number[];
  type: TensorType;
  /** Yields the encoded tensor bytes in order; their total must equal tensorBytes(type, dims). */
  data: () => Iterable<Uint8Array>;
}

const utf8 = new TextEncoder();

/** Growable little-endian byte buffer for the header. */
class ByteSink {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void { this.reserve(1); this.view.setUint8(this.length, v); this.length += 1; }
  u16(v: number): void { this.reserve(2); this.view.setUint16(this.length, v, true); this.length += 2; }
  u32(v: number): void { this.reserve(4); this.view.setUint32(this.length, v, true); this.length += 4; }
  i32(v: number): void { this.reserve(4); this.view.setInt32(this.length, v, true); this.length += 4; }
  f32(v: number): void { this.reserve(4); this.view.setFloat32(this.length, v, true); this.length += 4; }
  u64(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`u64 value out of range: ${v}`);
    this.reserve(8);
    this.view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }
  bytes(b: Uint8Array): void { this.reserve(b.length); this.buf.set(b, this.length); this.length += b.length; }
  str(s: string): void { const b = utf8.encode(s); this.u64(b.length); this.bytes(b); }
  zeros(n: number): void { this.reserve(n); this.buf.fill(0, this.length, this.length + n); this.length += n; }
  result(): Uint8Array { return this.buf.slice(0, this.length); }
}

function writeArray(out: ByteSink, elemType: number, items: ArrayLike<number>, put: (v: number) => void): void {
  out.u32(VT.ARRAY);
  out.u32(elemType);
  out.u64(items.length);
  for (let i = 0; i < items.length; i++) put(items[i]!);
}

function writeValue(out: ByteSink, v: GgufValue): void {
  switch (v.type) {
    case "uint16": out.u32(VT.UINT16); out.u16(v.value); return;
    case "uint32": out.u32(VT.UINT32); out.u32(v.value); return;
    case "int32": out.u32(VT.INT32); out.i32(v.value); return;
    case "uint64": out.u32(VT.UINT64); out.u64(v.value); return;
    case "float32": out.u32(VT.FLOAT32); out.f32(v.value); return;
    case "bool": out.u32(VT.BOOL); out.u8(v.value ? 1 : 0); return;
    case "string": out.u32(VT.STRING); out.str(v.value); return;
    case "string[]":
      out.u32(VT.ARRAY); out.u32(VT.STRING); out.u64(v.value.length);
      for (const s of v.value) out.str(s);
      return;
    case "float32[]": return writeArray(out, VT.FLOAT32, v.value, (x) => out.f32(x));
    case "int32[]": return writeArray(out, VT.INT32, v.value, (x) => out.i32(x));
    case "uint32[]": return writeArray(out, VT.UINT32, v.value, (x) => out.u32(x));
  }
}

function alignmentOf(metadata: GgufMetadata): number {
  const entry = metadata.find(([k]) => k === "general.alignment");
  if (!entry) return GGUF_DEFAULT_ALIGNMENT;
  const v = entry[1];
  if (v.type !== "uint32" || v.value <= 0 || (v.value & (v.value - 1)) !== 0) {
    throw new Error("general.alignment must be a uint32 power of two");
  }
  return v.value;
}

interface GgufLayout {
  header: Uint8Array; // everything before the data section, alignment padding included
  alignment: number;
  offsets: number[]; // per tensor, relative to the data section
  sizes: number[];
  totalBytes: number;
}

/** Encodes the header and computes where every tensor lands; pure, no I/O. */
export function layoutGguf(metadata: GgufMetadata, tensors: readonly GgufTensorSpec[]): GgufLayout {
  const alignment = alignmentOf(metadata);
  const seen = new Set<string>();
  for (const [k] of metadata) {
    if (seen.has(k)) throw new Error(`duplicate metadata key ${k}`);
    seen.add(k);
  }
  const out = new ByteSink();
  out.u32(GGUF_MAGIC);
  out.u32(GGUF_VERSION);
  out.u64(tensors.length);
  out.u64(metadata.length);
  for (const [key, value] of metadata) { out.str(key); writeValue(out, value); }
  const offsets: number[] = [];
  const sizes: number[] = [];
  let offset = 0;
  for (const t of tensors) {
    const size = tensorBytes(t.type, t.dims);
    out.str(t.name);
    out.u32(t.dims.length);
    for (const d of t.dims) out.u64(d);
    out.u32(TENSOR_TYPE_ID[t.type]);
    out.u64(offset);
    offsets.push(offset);
    sizes.push(size);
    offset = alignUp(offset + size, alignment);
  }
  out.zeros(alignUp(out.length, alignment) - out.length);
  const header = out.result();
  return { header, alignment, offsets, sizes, totalBytes: header.length + offset };
}

/** Writes a GGUF file, streaming tensor data; returns its size and SHA-256 (hex). */
export async function writeGguf(
  path: string,
  metadata: GgufMetadata,
  tensors: readonly GgufTensorSpec[],
): Promise<{ bytes: number; sha256: string }> {
  const layout = layoutGguf(metadata, tensors);
  const hash = createHash("sha256");
  const fh = await open(path, "w");
  let written = 0;
  const put = async (chunk: Uint8Array): Promise<void> => {
    hash.update(chunk);
    for (let done = 0; done < chunk.length; ) {
      const { bytesWritten } = await fh.write(chunk, done, chunk.length - done);
      done += bytesWritten;
    }
    written += chunk.length;
  };
  try {
    await put(layout.header);
    for (const [i, t] of tensors.entries()) {
      const start = written;
      for (const chunk of t.data()) await put(chunk);
      const got = written - start;
      if (got !== layout.sizes[i]) throw new Error(`tensor ${t.name}: produced ${got} bytes, expected ${layout.sizes[i]}`);
      const pad = alignUp(got, layout.alignment) - got;
      if (pad > 0) await put(new Uint8Array(pad)); // ggml's own writer pads the last tensor too
    }
  } finally {
    await fh.close();
  }
  if (written !== layout.totalBytes) throw new Error(`wrote ${written} bytes, layout says ${layout.totalBytes}`);
  return { bytes: written, sha256: hash.digest("hex") };
}
