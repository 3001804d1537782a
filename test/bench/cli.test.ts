// `bun bench/cli.ts`: the project's own benchmarks' usage, exit codes and one-line errors.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { runBenchCli } from "../../bench/cli.ts";
import { memoryIo } from "../../src/cli/io.ts";

describe("bench/cli.ts exit codes", () => {
  const cases: string[][] = [
    ["http", "--loadgen", "magic"],
    ["http", "--contenders", "apache"],
    ["http", "--rounds", "0"],
    ["fuzz", "--parser-cases", "-1"],
    ["fuzz", "--seed", "x"],
    ["soak", "--requests", "0"],
    ["soak", "extra"],
    ["frobnicate"],
    [],
  ];
  for (const argv of cases) {
    test(`'${argv.join(" ")}' exits 2 with a message and no stack trace`, async () => {
      const io = memoryIo();
      expect(await runBenchCli(argv, io)).toBe(2);
      const text = io.stderr() + io.stdout();
      expect(text.length).toBeGreaterThan(0);
      expect(text).not.toMatch(/\n\s+at /);
    });
  }

  test("--help lists http, fuzz and soak and exits 0", async () => {
    const io = memoryIo();
    expect(await runBenchCli(["--help"], io)).toBe(0);
    for (const cmd of ["http", "fuzz", "soak"]) expect(io.stdout()).toContain(`bun bench/cli.ts ${cmd} [options]`);
    expect(io.stdout()).toContain("--idle-connections");
  });

  test("load and stub are warren's: the error says so", async () => {
    const io = memoryIo();
    expect(await runBenchCli(["load", "--requests", "1"], io)).toBe(2);
    expect(io.stderr()).toContain(`unknown command "load" (expected http, fuzz or soak; the load tool is 'warren bench load')`);
  });

  test("as a process: a bad argument exits 2 with one line and the usage hint", () => {
    const r = Bun.spawnSync([process.execPath, join(import.meta.dir, "../../bench/cli.ts"), "soak", "--concurrency", "many"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr.toString()).toBe(`bun bench/cli.ts: --concurrency expects an integer, got "many"\nRun 'bun bench/cli.ts --help' for usage.\n`);
  });
});
