// The store directory's rules: what counts as a model (split parts complete), how one is found
// (name, file name, any spelling of its URI), what `rm` deletes; and the progress display.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { entryName, findInStore, listPartials, listStore, removeEntry, STAGING_DIR, writeMeta } from "../../src/models/store.ts";
import { formatBytes, formatDuration, PullProgress } from "../../src/models/pull-progress.ts";

const HF = "https://huggingface.co/";
const root = mkdtempSync(join(tmpdir(), "warren-store-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

function store(files: Record<string, number>): string {
  const dir = join(root, `s${n++}`);
  mkdirSync(join(dir, STAGING_DIR), { recursive: true });
  for (const [name, size] of Object.entries(files)) writeFileSync(join(dir, name), new Uint8Array(size));
  return dir;
}

describe("the store", () => {
  test("a missing directory is an empty store", () => {
    expect(listStore(join(root, "none"))).toEqual([]);
    expect(listPartials(join(root, "none"))).toEqual([]);
  });

  test("one entry per model; a split model only once all its parts are there; staging and other files ignored", () => {
    const dir = store({
      "a.Q8_0.gguf": 10,
      "b.F32-00001-of-00002.gguf": 5,
      "b.F32-00002-of-00002.gguf": 7,
      "c.F16-00001-of-00003.gguf": 1,
      "c.F16-00003-of-00003.gguf": 1,
      "notes.txt": 3,
      [`${STAGING_DIR}/d.Q4_0.gguf.ipull`]: 4,
    });
    const entries = listStore(dir);
    expect(entries.map((e) => [e.name, e.files.map((f) => f.slice(dir.length + 1)), e.bytes])).toEqual([
      ["a.Q8_0", ["a.Q8_0.gguf"], 10],
      ["b.F32", ["b.F32-00001-of-00002.gguf", "b.F32-00002-of-00002.gguf"], 12],
    ]);
    expect(listPartials(dir).map((p) => [p.name, p.bytes])).toEqual([["d.Q4_0", 4]]);
  });

  test("found by name, by file name, and by any spelling of the URI it was pulled as", () => {
    const dir = store({ "hf_u_m.Q8_0.gguf": 1 });
    writeMeta(dir, "hf_u_m.Q8_0.gguf", { files: [{ name: "hf_u_m.Q8_0.gguf", size: 1 }], pulledAt: "t" }, "hf:u/m-GGUF:Q8_0");
    for (const spec of ["hf_u_m.Q8_0", "hf_u_m.Q8_0.gguf", "hf:u/m-GGUF:Q8_0", "hf:u/m-GGUF:q8_0", "hf://u/m-GGUF:Q8_0"]) {
      expect(findInStore(dir, spec, HF)?.name).toBe("hf_u_m.Q8_0");
    }
    for (const spec of ["hf:u/m-GGUF:Q4_0", "hf_u_m", "hf:u/m-GGUF"]) expect(findInStore(dir, spec, HF)).toBeUndefined();
    // A second spelling that landed on the same file is added, not substituted.
    writeMeta(dir, "hf_u_m.Q8_0.gguf", { files: [{ name: "hf_u_m.Q8_0.gguf", size: 1 }], pulledAt: "t" }, "hf:u/m-GGUF");
    expect(findInStore(dir, "hf:u/m-GGUF", HF)?.meta?.sources).toEqual(["hf:u/m-GGUF:Q8_0", "hf:u/m-GGUF"]);
  });

  test("rm deletes every part, the record and a partial download of the same model, nothing else", () => {
    const dir = store({ "x.F32-00001-of-00002.gguf": 1, "x.F32-00002-of-00002.gguf": 1, "y.Q8_0.gguf": 1, [`${STAGING_DIR}/x.F32-00001-of-00002.gguf.ipull`]: 2 });
    writeMeta(dir, "x.F32-00001-of-00002.gguf", { files: [], pulledAt: "t" }, "hf:u/x:F32");
    const removed = removeEntry(dir, findInStore(dir, "x.F32", HF)!);
    expect(removed.map((p) => p.slice(dir.length + 1)).sort()).toEqual(
      [".meta/x.F32-00001-of-00002.gguf.json", `${STAGING_DIR}/x.F32-00001-of-00002.gguf.ipull`, "x.F32-00001-of-00002.gguf", "x.F32-00002-of-00002.gguf"].sort(),
    );
    expect(readdirSync(dir).filter((f) => f.endsWith(".gguf"))).toEqual(["y.Q8_0.gguf"]);
    expect(existsSync(join(dir, ".meta/x.F32-00001-of-00002.gguf.json"))).toBe(false);
  });

  test("entry names drop .gguf and the part suffix", () => {
    expect(entryName("hf_u_m.Q8_0.gguf")).toBe("hf_u_m.Q8_0");
    expect(entryName("hf_u_m.Q8_0-00001-of-00004.gguf")).toBe("hf_u_m.Q8_0");
  });
});

describe("progress", () => {
  function recorder(tty: boolean) {
    let out = "";
    let t = 0;
    const p = new PullProgress({ tty, write: (s) => (out += s) }, "pulling m", () => t);
    return { p, out: () => out, at: (ms: number) => (t = ms) };
  }

  test("plain output: one line per tenth with bytes, rate and time left, then the final line", () => {
    const r = recorder(false);
    const total = 100 * 1024 * 1024;
    for (let i = 1; i <= 100; i++) {
      r.at(i * 100);
      r.p.update((i * total) / 100, total);
    }
    const lines = r.out().trimEnd().split("\n");
    // The first report (the download started), then each tenth.
    expect(lines).toHaveLength(11);
    expect(lines[0]).toBe("pulling m: 1% (1.0 MiB of 100 MiB), 0 B/s, time left unknown");
    expect(lines[1]).toBe("pulling m: 10% (10.0 MiB of 100 MiB), 9.0 MiB/s, 10 s left");
    expect(lines[5]).toBe("pulling m: 50% (50.0 MiB of 100 MiB), 9.8 MiB/s, 5 s left");
    expect(lines[10]).toBe("pulling m: 100% (100 MiB of 100 MiB), 9.9 MiB/s");
    r.p.finish(total, total);
    expect(r.out().trimEnd().split("\n")).toHaveLength(11);
  });

  test("a resumed download's rate counts only this run's bytes", () => {
    const r = recorder(false);
    r.p.update(60 * 1024 * 1024, 100 * 1024 * 1024);
    r.at(2_000);
    r.p.update(70 * 1024 * 1024, 100 * 1024 * 1024);
    expect(r.out().split("\n")[1]).toBe("pulling m: 70% (70.0 MiB of 100 MiB), 5.0 MiB/s, 6 s left");
  });

  test("on a terminal: one bar redrawn in place (at most every 100 ms), ended by a newline", () => {
    const r = recorder(true);
    r.p.update(0, 1000);
    r.at(50);
    r.p.update(400, 1000);
    r.at(150);
    r.p.update(500, 1000);
    r.p.finish(1000, 1000);
    const draws = r.out().split("\r").slice(1);
    expect(draws).toHaveLength(3);
    expect(draws[1]).toBe("pulling m [############------------] 50% (500 B of 1000 B), 3.3 KiB/s, 0 s left\x1b[K");
    expect(r.out().endsWith("\n")).toBe(true);
    expect(r.out().split("\n")).toHaveLength(2);
  });

  test("sizes and durations", () => {
    expect([0, 1023, 1024, 1536, 5 * 2 ** 20, 1.5 * 2 ** 30, 2 ** 50].map(formatBytes)).toEqual(["0 B", "1023 B", "1.0 KiB", "1.5 KiB", "5.0 MiB", "1.5 GiB", "1024 TiB"]);
    expect([0.4, 59, 60, 61, 3599, 3600, 3600 * 2 + 125, Infinity].map(formatDuration)).toEqual(["0 s", "59 s", "1 min", "1 min 1 s", "59 min 59 s", "1 h", "2 h 2 min", "?"]);
  });
});
