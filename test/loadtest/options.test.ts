// `warren bench load` options: defaults, presets, validation and prompt files.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseLoadArgs, parsePromptText } from "../../src/loadtest/options.ts";
import type { LoadOptions } from "../../src/loadtest/types.ts";

const run = (argv: string[]): LoadOptions => {
  const c = parseLoadArgs(argv);
  if (c.kind !== "run") throw new Error("expected a run");
  return c.options;
};

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
