// Small files: no file in src/ grows past 420 lines (the aim is under ~400).
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, projectModules } from "./scan.ts";

const MAX_LINES = 420;

test(`no file in src/ is over ${MAX_LINES} lines`, () => {
  const src = projectModules().filter((m) => m.path.startsWith("src/"));
  expect(src.length).toBeGreaterThan(50);
  // The scan counts lines as `wc -l` does (every file here ends with a newline).
  for (const m of src.slice(0, 5)) expect(m.lines).toBe(readFileSync(join(ROOT, m.path), "utf8").split("\n").length - 1);
  expect(src.filter((m) => m.lines > MAX_LINES).map((m) => m.path)).toEqual([]);
});
