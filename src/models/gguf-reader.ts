// GGUF v2/v3 header reader, used by tests and `warren model info` to check what we wrote.
// Reads only the header (a file prefix that grows until the header fits), never the weights.
import { open } from "node:fs/promises";
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GgufValueType as VT,
  type TensorType,
  tensorBytes,
  tensorTypeName,
} from "./gguf-format.ts";

type GgufScalar = number | bigint | boolean | string;
export type GgufReadValue = GgufScalar | GgufReadValue[];

interface GgufTensorInfo {
  name: string;
  dims: number[];
  /** ggml_type number; typeName is set for the types this project writes. */
  type: number;
  typeName: TensorType | undefined;
  /** Offset of the data relative to the start of the data section. */
  offset: number;
}

export interface GgufFile {
  version: number;
  alignment: number;
  metadata: Map<string, GgufReadValue>;
  /** Element type tag of each metadata value (arrays: the ARRAY tag), to check types round-trip. */
  metadataTypes: Map<string, number>;
  tensors: GgufTensorInfo[];
  /** Absolute file offset where tensor data begins. */
  dataOffset: number;
}

class NeedMore extends Error {}
const utf8 = new TextDecoder("utf-8", { fatal: true });

class Cursor {
  private readonly view: DataView;
  pos = 0;
  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private need(n: number): number {
    if (this.pos + n > this.bytes.length) throw new NeedMore();
    const at = this.pos;
    this.pos += n;
    return at;
  }
  u8(): number { return this.view.getUint8(this.need(1)); }
  i8(): number { return this.view.getInt8(this.need(1)); }
  u16(): number { return this.view.getUint16(this.need(2), true); }
  i16(): number { return this.view.getInt16(this.need(2), true); }
  u32(): number { return this.view.getUint32(this.need(4), true); }
  i32(): number { return this.view.getInt32(this.need(4), true); }
  f32(): number { return this.view.getFloat32(this.need(4), true); }
  f64(): number { return this.view.getFloat64(this.need(8), true); }
  u64(): number | bigint { return small(this.view.getBigUint64(this.need(8), true)); }
  i64(): number | bigint { return small(this.view.getBigInt64(this.need(8), true)); }
  size(): number {
    const v = this.u64();
    if (typeof v !== "number") throw new Error(`GGUF size field too large: ${v}`);
    return v;
  }
  str(): string {
    const n = this.size();
    const at = this.need(n);
    return utf8.decode(this.bytes.subarray(at, at + n));
  }
}

function small(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
}

function readScalar(c: Cursor, type: number): GgufScalar {
  switch (type) {
    case VT.UINT8: return c.u8();
    case VT.INT8: return c.i8();
    case VT.UINT16: return c.u16();
    case VT.INT16: return c.i16();
    case VT.UINT32: return c.u32();
    case VT.INT32: return c.i32();
    case VT.FLOAT32: return c.f32();
    case VT.BOOL: {
      const b = c.u8();
      if (b > 1) throw new Error(`invalid GGUF bool byte ${b}`);
      return b === 1;
    }
    case VT.STRING: return c.str();
    case VT.UINT64: return c.u64();
    case VT.INT64: return c.i64();
    case VT.FLOAT64: return c.f64();
    default: throw new Error(`unknown GGUF value type ${type}`);
  }
}

function readValue(c: Cursor, type: number): GgufReadValue {
  if (type !== VT.ARRAY) return readScalar(c, type);
  const elemType = c.u32();
  const n = c.size();
  const out: GgufReadValue[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = readValue(c, elemType);
  return out;
}

/** Parses a GGUF header from bytes; throws NeedMore if `bytes` ends inside the header. */
function parseHeader(bytes: Uint8Array): GgufFile {
  const c = new Cursor(bytes);
  if (c.u32() !== GGUF_MAGIC) throw new Error("not a GGUF file (bad magic)");
  const version = c.u32();
  if (version !== 2 && version !== 3) throw new Error(`unsupported GGUF version ${version}`);
  const tensorCount = c.size();
  const kvCount = c.size();
  const metadata = new Map<string, GgufReadValue>();
  const metadataTypes = new Map<string, number>();
  for (let i = 0; i < kvCount; i++) {
    const key = c.str();
    const type = c.u32();
    if (metadata.has(key)) throw new Error(`duplicate metadata key ${key}`);
    metadata.set(key, readValue(c, type));
    metadataTypes.set(key, type);
  }
  const tensors: GgufTensorInfo[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = c.str();
    const nDims = c.u32();
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(c.size());
    const type = c.u32();
    tensors.push({ name, dims, type, typeName: tensorTypeName(type), offset: c.size() });
  }
  const a = metadata.get("general.alignment");
  const alignment = typeof a === "number" ? a : GGUF_DEFAULT_ALIGNMENT;
  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  return { version, alignment, metadata, metadataTypes, tensors, dataOffset };
}

/** Reads a GGUF file's header (metadata and tensor infos). */
export async function readGguf(path: string): Promise<GgufFile> {
  const fh = await open(path, "r");
  try {
    const fileSize = (await fh.stat()).size;
    for (let want = Math.min(fileSize, 1 << 20); ; want = Math.min(fileSize, want * 4)) {
      const buf = new Uint8Array(want);
      const { bytesRead } = await fh.read(buf, 0, want, 0);
      try {
        return parseHeader(buf.subarray(0, bytesRead));
      } catch (e) {
        if (!(e instanceof NeedMore)) throw e;
        if (want >= fileSize) throw new Error("truncated GGUF header");
      }
    }
  } finally {
    await fh.close();
  }
}

/** Reads one tensor's raw (still encoded) bytes; only for the types this project writes. */
export async function readTensorBytes(path: string, file: GgufFile, name: string): Promise<Uint8Array> {
  const t = file.tensors.find((x) => x.name === name);
  if (!t) throw new Error(`no tensor ${name}`);
  if (!t.typeName) throw new Error(`tensor ${name}: unsupported ggml_type ${t.type}`);
  const byteLength = tensorBytes(t.typeName, t.dims);
  const fh = await open(path, "r");
  try {
    const buf = new Uint8Array(byteLength);
    const { bytesRead } = await fh.read(buf, 0, byteLength, file.dataOffset + t.offset);
    if (bytesRead !== byteLength) throw new Error(`tensor ${name}: short read`);
    return buf;
  } finally {
    await fh.close();
  }
}
