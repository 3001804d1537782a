// Where the compiled binary keeps the files it must have on disk, and how they get there.
//
// <cache dir>/runtime/<content hash>/ holds node-llama-cpp, its dependencies and the CPU backend:
// node-llama-cpp finds its own files relative to its modules, ggml dlopens the CPU variant .so
// files beside the addon, and the binding probe re-runs a .js file by path, so none of it can
// stay inside the executable. The directory is named by the payload's hash, so a new build never
// reuses an old runtime and an unchanged one is unpacked once.
//
// Several processes may start at once on an empty cache: each unpacks into its own temporary
// directory and renames it into place; rename(2) of a directory fails when the target exists, so
// exactly one wins and the others delete theirs and use the winner's. A directory only ever
// appears complete, so a later start needs a single stat.
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { unpackTo } from "./pack.ts";

/** Written last inside a runtime directory; its presence is what "complete" means. */
const COMPLETE_MARKER = ".warren-runtime.json";
const TMP_PREFIX = ".tmp-";
/** A temporary directory this old belongs to an unpack that died (a normal one takes under 2 s). */
const ABANDONED_TMP_AGE_MS = 10 * 60_000;


interface RuntimeDir {
  dir: string;
  /** True when this process unpacked it (first run), false when it was there or another process won. */
  unpacked: boolean;
  files: number;
}

/**
 * Returns <cacheDir>/runtime/<hash>, unpacking `readPayload()` there first if needed.
 * `readPayload` is only called when unpacking, so a warm start never reads the archive.
 */
export function ensureRuntime(cacheDir: string, hash: string, readPayload: () => Uint8Array): RuntimeDir {
  if (!/^[0-9a-f]{8,64}$/.test(hash)) throw new Error(`bad runtime hash "${hash}"`);
  const root = join(cacheDir, "runtime");
  const final = join(root, hash);
  if (isComplete(final)) return { dir: final, unpacked: false, files: 0 };
  try {
    mkdirSync(root, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new Error(`cannot create ${root} (${(err as NodeJS.ErrnoException).code}): point --cache-dir or WARREN_CACHE_DIR at a writable directory`);
  }
  // Checked in this order because a racing process may rename a complete directory in between.
  if (existsSync(final) && !isComplete(final)) moveAside(root, final);
  removeAbandoned(root);
  const tmp = join(root, `${TMP_PREFIX}${hash}-${process.pid}-${randomUUID().slice(0, 8)}`);
  mkdirSync(tmp, { mode: 0o700 });
  try {
    const files = unpackTo(readPayload(), tmp);
    writeFileSync(join(tmp, COMPLETE_MARKER), JSON.stringify({ hash, files, unpackedAt: new Date().toISOString() }) + "\n");
    try {
      renameSync(tmp, final);
      return { dir: final, unpacked: true, files };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === "ENOTEMPTY" || code === "EEXIST") && isComplete(final)) {
        rmSync(tmp, { recursive: true, force: true });
        return { dir: final, unpacked: false, files: 0 };
      }
      throw err;
    }
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`cannot unpack the runtime into ${root}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function isComplete(dir: string): boolean {
  return existsSync(join(dir, COMPLETE_MARKER));
}

/**
 * A runtime directory without its marker was not made by ensureRuntime (it renames only complete
 * ones): someone edited or half-deleted it. Rename it out of the way first (atomic, so a process
 * racing us sees either nothing or a complete directory), then delete it.
 */
function moveAside(root: string, dir: string): void {
  const aside = join(root, `${TMP_PREFIX}broken-${process.pid}-${randomUUID().slice(0, 8)}`);
  try {
    renameSync(dir, aside);
  } catch {
    return;
  }
  rmSync(aside, { recursive: true, force: true });
}

/** Temporary directories left by unpacks that were killed midway; age, not PID, since PIDs are per namespace. */
function removeAbandoned(root: string): void {
  const now = Date.now();
  for (const name of readdirSync(root)) {
    if (!name.startsWith(TMP_PREFIX)) continue;
    const path = join(root, name);
    try {
      if (now - statSync(path).mtimeMs > ABANDONED_TMP_AGE_MS) rmSync(path, { recursive: true, force: true });
    } catch {
      // Gone already (another process cleaned it up).
    }
  }
}
