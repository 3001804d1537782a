// The archive format of the files the compiled binary embeds (node-llama-cpp, its dependencies
// and the CPU backend). A tar would do, but this is ~50 lines each way, keeps file modes exactly,
// and needs nothing but Bun's zstd: the payload is written once by scripts/build.ts and read
// once per cache directory by cache.ts.
//
// Layout (before zstd): "WARRENPK1\n", u32 LE index length, index JSON
// [{ p: relative path, m: mode, s: size in bytes }, ...], then the file contents back to back.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, normalize } from "node:path";

export interface PackEntry {
  path: string;
  mode: number;
  data: Uint8Array;
}

interface IndexEntry {
  p: string;
  m: number;
  s: number;
}

const MAGIC = new TextEncoder().encode("WARRENPK1\n");
/** zstd level for the build. 19 takes ~10 s for the 30 MB backend; 22 saves only 2% more. */
export const PACK_ZSTD_LEVEL = 19;

export function pack(entries: readonly PackEntry[], level = PACK_ZSTD_LEVEL): Uint8Array {
  const index: IndexEntry[] = entries.map((e) => ({ p: checkedPath(e.path), m: e.mode & 0o777, s: e.data.byteLength }));
  const indexBytes = new TextEncoder().encode(JSON.stringify(index));
  const head = new Uint8Array(MAGIC.length + 4);
  head.set(MAGIC);
  new DataView(head.buffer).setUint32(MAGIC.length, indexBytes.byteLength, true);
  const raw = Buffer.concat([head, indexBytes, ...entries.map((e) => e.data)]);
  return Bun.zstdCompressSync(raw, { level });
}

/** Writes every file of a packed archive under `dir` (which must exist). Returns the file count. */
export function unpackTo(packed: Uint8Array, dir: string): number {
  const raw = Bun.zstdDecompressSync(packed);
  if (raw.byteLength < MAGIC.length + 4 || !MAGIC.every((b, i) => raw[i] === b)) {
    throw new Error("embedded runtime archive is corrupt (bad magic)");
  }
  const indexLength = new DataView(raw.buffer, raw.byteOffset).getUint32(MAGIC.length, true);
  let offset = MAGIC.length + 4;
  const index = JSON.parse(new TextDecoder().decode(raw.subarray(offset, offset + indexLength))) as IndexEntry[];
  offset += indexLength;
  const made = new Set<string>();
  for (const e of index) {
    const target = join(dir, checkedPath(e.p));
    const parent = dirname(target);
    if (!made.has(parent)) {
      mkdirSync(parent, { recursive: true });
      made.add(parent);
    }
    if (offset + e.s > raw.byteLength) throw new Error(`embedded runtime archive is truncated at ${e.p}`);
    // The mode passes through the umask, as for any file the user creates.
    writeFileSync(target, raw.subarray(offset, offset + e.s), { mode: e.m });
    offset += e.s;
  }
  return index.length;
}

/** Archive paths are relative and stay inside the target directory. */
function checkedPath(p: string): string {
  const n = normalize(p);
  if (isAbsolute(n) || n.startsWith("..") || n.includes("\0")) throw new Error(`unsafe path in runtime archive: ${p}`);
  return n;
}
