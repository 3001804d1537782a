// The store's pull lock: who waits, and which leftover locks are taken over.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { LOCK_FILE, lockStore } from "../../src/models/store-lock.ts";

const root = mkdtempSync(join(tmpdir(), "warren-lock-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => mkdtempSync(join(root, `l${n++}-`));

/** The release, once the lock is taken; `seen` collects the owners it waited for. */
function take(dir: string) {
  const seen: string[] = [];
  const release = lockStore(dir, (owner) => seen.push(owner));
  return { release, seen };
}

describe("the pull lock", () => {
  test("a second taker waits, naming the holder, and gets the lock when it is released", async () => {
    const dir = fresh();
    const release = await take(dir).release;
    expect(readFileSync(join(dir, LOCK_FILE), "utf8")).toBe(`${process.pid} ${hostname()}\n`);
    const second = take(dir);
    let got = false;
    void second.release.then(() => (got = true));
    await Bun.sleep(700);
    expect(got).toBe(false);
    expect(second.seen).toEqual([`${process.pid} on ${hostname()}`]);
    release();
    (await second.release)();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  test("taken over at once: this pid when this process does not hold it (a restarted container), a dead pid", async () => {
    const dead = Bun.spawn(["true"]);
    await dead.exited;
    for (const pid of [process.pid, dead.pid]) {
      const dir = fresh();
      writeFileSync(join(dir, LOCK_FILE), `${pid} ${hostname()}\n`);
      const t = take(dir);
      (await t.release)();
      expect(t.seen).toEqual([]);
    }
  });

  test("another host's lock is waited for while it is touched, and taken over after a minute without", async () => {
    const dir = fresh();
    const lock = join(dir, LOCK_FILE);
    writeFileSync(lock, "1 some-other-host\n");
    const t = take(dir);
    let got = false;
    void t.release.then(() => (got = true));
    await Bun.sleep(700);
    expect(got).toBe(false);
    expect(t.seen).toEqual(["1 on some-other-host"]);
    const old = new Date(Date.now() - 61_000);
    utimesSync(lock, old, old);
    (await t.release)();
  });
});
