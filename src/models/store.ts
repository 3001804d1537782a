// The local model store: one directory of verified GGUF files (default <cache dir>/models).
//
//   <dir>/NAME.gguf                       a model, or the first part of a split one
//   <dir>/NAME-00002-of-00003.gguf        further parts of a split model
//   <dir>/.meta/NAME.gguf.json            where it came from (the URIs that name it), sizes, SHA-256s
//   <dir>/.partial/                       downloads in progress or interrupted (resumable), and the pull lock
//
// Only verified files are ever renamed into <dir> (pull.ts), so whatever is there is complete; a
// split model counts once all its parts are there. File names are node-llama-cpp's, so
// `hf:user/repo:Q8_0` lands where its own resolveModelFile would look for it. No node-llama-cpp
// here: listing and lookups stay cheap.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { canonicalUri, isRemoteModel, parseHubUri } from "./hub.ts";

const META_DIR = ".meta";
export const STAGING_DIR = ".partial";
/** ipull (node-llama-cpp's downloader) writes a download to NAME + this, then renames it. */
export const PARTIAL_SUFFIX = ".ipull";

const SPLIT_RE = /-(\d{5})-of-(\d{5})\.gguf$/;

interface EntryMeta {
  /** The canonical URIs this model was pulled as (hf:user/repo:Q8_0, ...). */
  sources: string[];
  files: Array<{ name: string; size: number; sha256?: string }>;
  pulledAt: string;
}

export interface StoreEntry {
  /** The file name without `.gguf` (and without the part suffix of a split model). */
  name: string;
  /** Absolute paths, in part order; files[0] is what llama.cpp loads. */
  files: string[];
  bytes: number;
  meta?: EntryMeta;
}

export const defaultModelsDir = (cacheDir: string): string => join(cacheDir, "models");

/** The store key of a URI: one spelling per model (see hub.ts canonicalUri); other URLs as given. */
export function sourceKey(uri: string, endpoint: string): string {
  const ref = parseHubUri(uri, endpoint);
  return ref ? canonicalUri(ref) : uri.trim();
}

/** NAME of a store file name: `x.Q8_0.gguf` and `x.Q8_0-00001-of-00002.gguf` are both `x.Q8_0`. */
export function entryName(fileName: string): string {
  return fileName.replace(SPLIT_RE, "").replace(/\.gguf$/i, "");
}

/** Every complete model in the store, by name. A missing directory is an empty store. */
export function listStore(dir: string): StoreEntry[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /\.gguf$/i.test(n));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const present = new Set(names);
  const entries: StoreEntry[] = [];
  for (const n of names.sort()) {
    const m = SPLIT_RE.exec(n);
    if (m && m[1] !== "00001") continue;
    const parts = m ? Array.from({ length: Number(m[2]) }, (_, i) => n.replace(SPLIT_RE, `-${String(i + 1).padStart(5, "0")}-of-${m[2]}.gguf`)) : [n];
    if (!parts.every((p) => present.has(p))) continue;
    const files = parts.map((p) => join(dir, p));
    const bytes = files.reduce((a, f) => a + statSync(f).size, 0);
    entries.push({ name: entryName(n), files, bytes, meta: readMeta(dir, n) });
  }
  return entries;
}

/** A model by store name (`x.Q8_0`), file name (`x.Q8_0.gguf`) or the URI it was pulled as. */
export function findInStore(dir: string, spec: string, endpoint: string): StoreEntry | undefined {
  const entries = listStore(dir);
  if (isRemoteModel(spec)) {
    const key = sourceKey(spec, endpoint);
    return entries.find((e) => e.meta?.sources.includes(key));
  }
  return entries.find((e) => e.name === spec || basename(e.files[0]!) === spec);
}

function metaPath(dir: string, fileName: string): string {
  return join(dir, META_DIR, `${fileName}.json`);
}

function readMeta(dir: string, fileName: string): EntryMeta | undefined {
  try {
    const m = JSON.parse(readFileSync(metaPath(dir, fileName), "utf8")) as EntryMeta;
    return Array.isArray(m.sources) && Array.isArray(m.files) ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Records (or adds to) what a model was pulled as. Written through a temporary file: never half a JSON. */
export function writeMeta(dir: string, fileName: string, meta: Omit<EntryMeta, "sources">, source: string): void {
  const old = readMeta(dir, fileName);
  const sources = [...new Set([...(old?.sources ?? []), source])];
  mkdirSync(join(dir, META_DIR), { recursive: true });
  const path = metaPath(dir, fileName);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ ...meta, sources }, null, 2)}\n`);
  renameSync(tmp, path);
}

/** Partial downloads left in the store (interrupted pulls a rerun resumes), with their size on disk. */
export function listPartials(dir: string): Array<{ name: string; path: string; bytes: number }> {
  const staging = join(dir, STAGING_DIR);
  if (!existsSync(staging)) return [];
  return readdirSync(staging)
    .filter((n) => n.endsWith(PARTIAL_SUFFIX) || /\.gguf$/i.test(n))
    .map((n) => ({ name: entryName(n.endsWith(PARTIAL_SUFFIX) ? n.slice(0, -PARTIAL_SUFFIX.length) : n), path: join(staging, n), bytes: statSync(join(staging, n)).size }));
}

/** Deletes a model's files, its record, and any partial download of the same name; returns what went. */
export function removeEntry(dir: string, entry: StoreEntry): string[] {
  const paths = [...entry.files, metaPath(dir, basename(entry.files[0]!)), ...listPartials(dir).filter((p) => p.name === entry.name).map((p) => p.path)];
  const removed = paths.filter((p) => existsSync(p));
  // The first part last: until it goes, a lookup may still find the model whole.
  for (const p of [...removed].reverse()) rmSync(p, { force: true });
  return removed;
}
