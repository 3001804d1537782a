// The GBNF syntax check: llama.cpp's own grammars pass; each kind of mistake is reported at its
// line and column, as a table (llama.cpp's parser, src/llama-grammar.cpp, refuses all of these).
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { checkGbnf } from "../../src/inference/gbnf.ts";
import { REPO_ROOT } from "../helpers/models.ts";

const GRAMMARS = join(REPO_ROOT, "node_modules/node-llama-cpp/llama/grammars");

describe("checkGbnf", () => {
  test("every grammar llama.cpp ships passes", () => {
    const files = readdirSync(GRAMMARS).filter((f) => f.endsWith(".gbnf"));
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) expect([f, checkGbnf(readFileSync(join(GRAMMARS, f), "utf8"))]).toEqual([f, undefined]);
  });

  test("sound grammars: nested groups over lines, repetitions, classes, escapes, tokens, comments", () => {
    for (const g of [
      'root ::= ("a" |\n  "b")+ # comment\n',
      'root ::= [a-z0-9_]{2,5} "\\n" [^"\\\\] "\\x41\\u00e9"',
      "root ::= item{3}\nitem ::= . | <[42]> | !<think>",
      "root ::= x?\r\nx ::= \"é\"",
    ]) {
      expect([g, checkGbnf(g)]).toEqual([g, undefined]);
    }
  });

  const CASES: Array<[string, string, number, number, RegExp]> = [
    ["undefined rule", 'root ::= "a" | foo', 1, 16, /the rule "foo" is used but never defined/],
    ["no root", 'answer ::= "a"', 1, 15, /no rule named "root"/],
    ["empty grammar", "  # only a comment\n", 1, 1, /empty/],
    ["open class", "root ::= [a-", 1, 10, /never closed/],
    ["open string", 'root ::= "abc', 1, 10, /never closed/],
    ["open group", 'root ::= ("a" | "b"', 1, 10, /expecting "\)"/],
    ["unknown escape", 'root ::= "\\q"', 1, 11, /unknown escape "\\q"/],
    ["short hex escape", 'root ::= "\\x4"', 1, 11, /2 hex digits/],
    ["repetition of nothing", 'root ::= *"a"', 1, 10, /repeats nothing/],
    ["max below min", 'root ::= "a"{3,1}', 1, 13, /maximum \(1\) is below its minimum \(3\)/],
    ["missing ::=", 'root "a"', 1, 6, /expecting "::="/],
    ["alternative on the next line outside parentheses", 'root ::= "a"\n  | "b"', 2, 3, /expecting a rule name/],
    ["junk after a rule", 'root ::= "a" )', 1, 14, /expecting a newline or the end/],
    ["bad token id", "root ::= <[x]>", 1, 10, /<\[123\]>/],
  ];
  for (const [name, grammar, line, column, message] of CASES) {
    test(`${name}: line ${line}, column ${column}`, () => {
      const p = checkGbnf(grammar);
      expect(p).toBeDefined();
      expect([p!.line, p!.column]).toEqual([line, column]);
      expect(p!.message).toMatch(message);
    });
  }
});
