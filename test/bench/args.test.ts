import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBenchCli } from "../../bench/cli.ts";
import { ArgError, parseArgs } from "../../bench/lib/args.ts";
import { memoryIo as captureIo } from "../../bench/lib/format.ts";
import { parseLoadArgs, parsePromptText } from "../../bench/load/options.ts";
import type { LoadOptions } from "../../bench/load/types.ts";

const run = (argv: string[]): LoadOptions => {
  const c = parseLoadArgs(argv);
  if (c.kind !== "run") throw new Error("expected a run");
  return c.options;
};

describe("flag parser", () => {
  const specs = [
    { name: "n", type: "int", help: "" },
    { name: "x", type: "number", help: "" },
    { name: "s", type: "string", help: "" },
    { name: "b", type: "bool", help: "" },
    { name: "pair", type: "pair", help: "" },
  ] as const;

  test("forms: --k v, --k=v, --flag, --no-flag, pairs, positionals", () => {
    const p = parseArgs(["--n", "3", "--x=0.5", "--s", "hi there", "--no-b", "--pair", "a", "b", "pos"], specs);
    expect(Object.fromEntries(p.flags)).toEqual({ n: 3, x: 0.5, s: "hi there", b: false, pair: ["a", "b"] });
    expect(p.positional).toEqual(["pos"]);
  });

  test("errors are ArgErrors with the flag named", () => {
    expect(() => parseArgs(["--n", "1.5"], specs)).toThrow(/--n expects an integer/);
    expect(() => parseArgs(["--x", "abc"], specs)).toThrow(/--x expects a number/);
    expect(() => parseArgs(["--s"], specs)).toThrow(/--s needs a value/);
    expect(() => parseArgs(["--pair", "a"], specs)).toThrow(/needs two values/);
    expect(() => parseArgs(["--zzz"], specs)).toThrow(ArgError);
  });
});

describe("load options", () => {
  test("defaults", () => {
    const o = run([]);
    expect(o).toMatchObject({
      url: "http://127.0.0.1:8080", api: "native", requests: 100, concurrency: 8, rate: null, maxTokens: 128,
      stream: true, ignoreEos: false, temperature: 0, model: "default", seed: 42, warmup: 0, prompts: ["Once upon a time"],
    });
  });

  test("--preset seed is the seed benchmark; explicit flags win", () => {
    expect(run(["--preset", "seed"])).toMatchObject({
      requests: 40, concurrency: 8, maxTokens: 50, api: "native", prompts: ["人工智能是计算机科学的一个分支"],
    });
    expect(run(["--preset", "seed", "--requests", "4"]).requests).toBe(4);
  });

  test("--rate makes an open loop with no cap unless --concurrency is given", () => {
    expect(run(["--rate", "2.5"])).toMatchObject({ rate: 2.5, concurrency: null });
    expect(run(["--rate", "2.5", "--concurrency", "3"])).toMatchObject({ rate: 2.5, concurrency: 3 });
  });

  const bad: [string[], RegExp][] = [
    [["--api", "grpc"], /--api must be native or openai/],
    [["--chat"], /--chat needs --api openai/],
    [["--requests", "0"], /--requests must be >= 1/],
    [["--concurrency", "-1"], /--concurrency/],
    [["--rate", "0"], /--rate/],
    [["--url", "ftp://x"], /http:\/\/ or https:\/\//],
    [["--url", "not a url"], /not a valid URL/],
    [["--preset", "nope"], /unknown --preset/],
    [["--prompt", "a", "--prompts", "f"], /not both/],
    [["--prompts", "/nonexistent/prompts.txt"], /cannot read/],
    [["extra"], /unexpected argument/],
  ];
  for (const [argv, re] of bad) {
    test(`rejects ${argv.join(" ")}`, () => {
      expect(() => parseLoadArgs(argv)).toThrow(re);
    });
  }

  test("--compare takes two files and sends nothing", () => {
    expect(parseLoadArgs(["--compare", "a.json", "b.json"])).toEqual({ kind: "compare", a: "a.json", b: "b.json" });
  });
});

describe("prompt files", () => {
  test("plain lines, blank lines skipped", () => {
    expect(parsePromptText("one\n\ntwo\r\nthree\n", "p.txt")).toEqual(["one", "two", "three"]);
  });

  test("JSONL with prompt fields", () => {
    expect(parsePromptText('{"prompt":"a"}\n{"prompt":"b\\nc","id":2}\n', "p.jsonl")).toEqual(["a", "b\nc"]);
  });

  test("a .jsonl file with a bad line is an error naming the line", () => {
    expect(() => parsePromptText('{"prompt":"a"}\n{"text":"b"}\n', "p.jsonl")).toThrow(/line 2/);
  });

  test("mixed lines in a .txt file are all prompts", () => {
    expect(parsePromptText('{"prompt":"a"}\nplain\n', "p.txt")).toEqual(['{"prompt":"a"}', "plain"]);
  });

  test("--prompts reads the file", () => {
    const dir = mkdtempSync(join(tmpdir(), "bench-prompts-"));
    const f = join(dir, "p.jsonl");
    writeFileSync(f, '{"prompt":"x"}\n{"prompt":"y"}\n');
    expect(run(["--prompts", f])).toMatchObject({ prompts: ["x", "y"], promptSource: f });
  });
});

describe("exit codes", () => {
  const cases: string[][] = [
    ["load", "--requests", "abc"],
    ["load", "--nope"],
    ["http", "--loadgen", "magic"],
    ["http", "--contenders", "apache"],
    ["http", "--rounds", "0"],
    ["frobnicate"],
    [],
  ];
  for (const argv of cases) {
    test(`'${argv.join(" ")}' exits 2 with a message and no stack trace`, async () => {
      const io = captureIo();
      expect(await runBenchCli(argv, io)).toBe(2);
      const text = io.stderr() + io.stdout();
      expect(text.length).toBeGreaterThan(0);
      expect(text).not.toMatch(/\n\s+at /);
    });
  }

  test("--help prints usage and exits 0", async () => {
    const io = captureIo();
    expect(await runBenchCli(["--help"], io)).toBe(0);
    expect(io.stdout()).toContain("warren bench load [options]");
    expect(io.stdout()).toContain("--ignore-eos");
    expect(io.stdout()).toContain("warren bench http [options]");
  });

  test("as a process: bad argument exits 2, unreachable server exits 1, one line each", () => {
    const cli = join(import.meta.dir, "../../bench/cli.ts");
    const bad = Bun.spawnSync([process.execPath, cli, "load", "--concurrency", "zero"]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr.toString()).toContain("--concurrency expects an integer");
    const down = Bun.spawnSync([process.execPath, cli, "load", "--url", "http://127.0.0.1:1", "--requests", "1"]);
    expect(down.exitCode).toBe(1);
    expect(down.stderr.toString().trim()).toBe("warren bench load: cannot reach http://127.0.0.1:1: connection refused (is the server running?)");
    expect(down.stdout.toString()).toBe("");
  });
});
