// `warren bench`: usage, exit codes and one-line errors, in process and as the warren process.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { memoryIo } from "../../src/cli/io.ts";
import { runBenchCli } from "../../src/loadtest/cli.ts";

const MAIN = join(import.meta.dir, "../../src/main.ts");

describe("warren bench exit codes", () => {
  const cases: string[][] = [
    ["load", "--requests", "abc"],
    ["load", "--nope"],
    ["load", "extra"],
    ["stub", "--port", "x"],
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

  test("--help prints usage for load and stub and exits 0", async () => {
    const io = memoryIo();
    expect(await runBenchCli(["--help"], io)).toBe(0);
    expect(io.stdout()).toContain("warren bench load [options]");
    expect(io.stdout()).toContain("--ignore-eos");
    expect(io.stdout()).toContain("warren bench stub [options]");
    expect(io.stdout()).not.toContain("warren bench http");
    expect(io.stdout()).toContain("bun bench/cli.ts --help");
  });

  for (const cmd of ["http", "fuzz", "soak"]) {
    test(`'${cmd}' points to bun bench/cli.ts in one line and exits 2`, async () => {
      const io = memoryIo();
      expect(await runBenchCli([cmd, "--rounds", "1"], io)).toBe(2);
      expect(io.stderr()).toBe(`warren bench ${cmd}: not part of warren; from a source checkout run: bun bench/cli.ts ${cmd}\n`);
      expect(io.stdout()).toBe("");
    });
  }

  test("as the warren process: bad argument exits 2, unreachable server exits 1, one line each", () => {
    const bad = Bun.spawnSync([process.execPath, MAIN, "bench", "load", "--concurrency", "zero"]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr.toString()).toBe(`warren bench: --concurrency expects an integer, got "zero"\nRun 'warren bench --help' for usage.\n`);
    const down = Bun.spawnSync([process.execPath, MAIN, "bench", "load", "--url", "http://127.0.0.1:1", "--requests", "1"]);
    expect(down.exitCode).toBe(1);
    expect(down.stderr.toString().trim()).toBe("warren bench load: cannot reach http://127.0.0.1:1: connection refused (is the server running?)");
    expect(down.stdout.toString()).toBe("");
    const moved = Bun.spawnSync([process.execPath, MAIN, "bench", "soak"]);
    expect(moved.exitCode).toBe(2);
    expect(moved.stderr.toString().trim().split("\n")).toHaveLength(1);
  });
});
