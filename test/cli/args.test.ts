// The shared flag parser: the forms it accepts, the one-line errors it gives, and the options its
// callers use (positionals, once, collecting every problem).
import { describe, expect, test } from "bun:test";
import { ArgError, formatFlagHelp, parseArgs, requireRange, type FlagSpec } from "../../src/cli/args.ts";

const specs: readonly FlagSpec[] = [
  { name: "num", type: "int", help: "an int" },
  { name: "ratio", type: "number", arg: "R", help: "a number" },
  { name: "text", type: "string", help: "a string" },
  { name: "flag", type: "bool", help: "a bool" },
  { name: "pair", type: "pair", arg: "A B", help: "two values" },
];

const flags = (argv: string[]) => Object.fromEntries(parseArgs(argv, specs).flags);
const error = (argv: string[], opts = {}) => {
  try {
    parseArgs(argv, specs, opts);
  } catch (e) {
    expect(e).toBeInstanceOf(ArgError);
    return (e as Error).message;
  }
  throw new Error(`no error for ${argv.join(" ")}`);
};

describe("flag parser", () => {
  test("forms: --k v, --k=v, --flag, --no-flag, pairs, positionals when allowed", () => {
    const p = parseArgs(["--num", "3", "--ratio=0.5", "--text", "hi there", "--no-flag", "--pair", "a", "b", "pos"], specs, { positionals: true });
    expect(Object.fromEntries(p.flags)).toEqual({ num: 3, ratio: 0.5, text: "hi there", flag: false, pair: ["a", "b"] });
    expect(p.positional).toEqual(["pos"]);
    expect(flags(["--pair=a", "b"])).toEqual({ pair: ["a", "b"] });
    expect(flags(["--flag"])).toEqual({ flag: true });
    expect(flags(["--flag=false", "--num", "-2"])).toEqual({ flag: false, num: -2 });
  });

  test("the last of a repeated flag wins; values may start with one dash or hold =", () => {
    expect(flags(["--num", "1", "--num", "2", "--text", "-x", "--text=a=b"])).toEqual({ num: 2, text: "a=b" });
    expect(flags(["--text", "-"])).toEqual({ text: "-" });
  });

  test("after --, everything is positional; single-dash words are positionals", () => {
    const p = parseArgs(["--num", "1", "--", "--text", "x"], specs, { positionals: true });
    expect(p.positional).toEqual(["--text", "x"]);
    expect(parseArgs(["-abc", "-1", "x"], specs, { positionals: true }).positional).toEqual(["-abc", "-1", "x"]);
  });

  const bad: [string[], string][] = [
    [["--num", "1.5"], '--num expects an integer, got "1.5"'],
    [["--ratio", "abc"], '--ratio expects a number, got "abc"'],
    [["--ratio="], '--ratio expects a number, got ""'],
    [["--text"], "--text needs a value"],
    [["--text", "--num", "3"], "--text needs a value"],
    [["--pair", "a"], "--pair needs two values"],
    [["--pair", "a", "--num", "1"], "--pair needs two values"],
    [["--zzz"], "unknown option --zzz"],
    [["--no-text"], "unknown option --no-text"],
    [["--no-flag=1"], "--no-flag takes no value"],
    [["--flag=maybe"], '--flag expects true or false, got "maybe"'],
    [["extra"], 'unexpected argument "extra"'],
  ];
  for (const [argv, message] of bad) {
    test(`rejects ${argv.join(" ")} with one line naming the problem`, () => {
      expect(error(argv)).toBe(message);
    });
  }

  test("once: a flag given twice is an error", () => {
    expect(error(["--num", "1", "--num=1"], { once: true })).toBe("--num given twice");
  });

  test("problems: every problem is collected, and flags after a missing value still count", () => {
    const problems: string[] = [];
    const p = parseArgs(["--bogus", "1", "--text", "--num", "7", "stray", "--ratio", "x"], specs, { problems });
    expect(problems).toEqual(["unknown option --bogus", "--text needs a value", '--ratio expects a number, got "x"', 'unexpected argument "stray"']);
    expect(Object.fromEntries(p.flags)).toEqual({ num: 7 });
  });

  test("requireRange names the flag and the range", () => {
    expect(requireRange("num", 5, 1, 10)).toBe(5);
    expect(() => requireRange("num", 0, 1)).toThrow("--num must be >= 1, got 0");
    expect(() => requireRange("num", 11, 1, 10)).toThrow("--num must be between 1 and 10, got 11");
  });

  test("help lists every flag with its argument, aligned", () => {
    const lines = formatFlagHelp(specs).split("\n");
    expect(lines).toHaveLength(specs.length);
    expect(lines[0]).toMatch(/^ {2}--num <N> +an int$/);
    expect(lines[1]).toMatch(/^ {2}--ratio <R> +a number$/);
    expect(lines[3]).toMatch(/^ {2}--flag +a bool$/);
    expect(lines[4]).toMatch(/^ {2}--pair A B +two values$/);
    expect(new Set(lines.map((l, i) => l.indexOf(specs[i]!.help))).size).toBe(1);
  });
});
