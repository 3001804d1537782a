// One pull at a time per store: two servers started together with the same --model hf:... would
// otherwise write one partial file from two processes. The lock file names its owner (pid and
// host) and is touched while held. It is taken over when its owner is known to be gone: a dead
// pid on this host, this very pid (a restarted container's PID 1) when this process does not hold
// it, or, from any host, a lock nobody touched for LOCK_STALE_MS.
import { readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";

export const LOCK_FILE = "pull.lock";
const LOCK_POLL_MS = 500;
const LOCK_TOUCH_MS = 5_000;
/** Twelve missed touches: the holder is gone (or its disk is not shared after all). */
const LOCK_STALE_MS = 60_000;

/** Lock files this process holds. */
const held = new Set<string>();

/** Waits for the store's lock (calling onWait once, with the owner, if it must), then returns its release. */
export async function lockStore(staging: string, onWait: (owner: string) => void): Promise<() => void> {
  const path = join(staging, LOCK_FILE);
  let told = false;
  for (;;) {
    if (tryCreate(path)) return hold(path);
    let owner: string;
    try {
      owner = readFileSync(path, "utf8");
    } catch {
      continue;
    }
    if (!isStale(path, owner)) {
      if (!told) onWait(owner.trim().replace(" ", " on "));
      told = true;
      await Bun.sleep(LOCK_POLL_MS);
      continue;
    }
    // Re-read first, so a lock just taken over by a third process survives.
    try {
      if (readFileSync(path, "utf8") === owner) rmSync(path, { force: true });
    } catch {
      // Released meanwhile.
    }
  }
}

function tryCreate(path: string): boolean {
  try {
    writeFileSync(path, `${process.pid} ${hostname()}\n`, { flag: "wx" });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    // Created but not written (a full disk): an empty lock would only puzzle the next pull.
    rmSync(path, { force: true });
    throw err;
  }
}

function hold(path: string): () => void {
  held.add(path);
  const touch = setInterval(() => {
    try {
      const now = new Date();
      utimesSync(path, now, now);
    } catch {
      // Gone (someone deleted the store); the release below copes.
    }
  }, LOCK_TOUCH_MS);
  return () => {
    clearInterval(touch);
    held.delete(path);
    rmSync(path, { force: true });
  };
}

function isStale(path: string, owner: string): boolean {
  let age: number;
  try {
    age = Date.now() - statSync(path).mtimeMs;
  } catch {
    return false;
  }
  if (age > LOCK_STALE_MS) return true;
  const [pidText, host] = owner.trim().split(" ");
  const pid = Number(pidText);
  if (host !== hostname()) return false;
  if (pid === process.pid) return !held.has(path);
  return !isAlive(pid);
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
