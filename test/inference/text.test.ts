import { describe, expect, test } from "bun:test";
import { TextStream, longestStopPrefixSuffix } from "../../src/inference/text.ts";

// Tokens are single UTF-8 bytes, like a byte-fallback vocabulary at its worst.
const bytes = {
  detokenize(tokens: readonly number[]): string {
    return new TextDecoder().decode(Uint8Array.from(tokens));
  },
};
const tokensOf = (s: string) => [...new TextEncoder().encode(s)];

function run(text: string, stops: string[]) {
  const ts = new TextStream(bytes, stops, []);
  const pieces: string[] = [];
  let stopped = false;
  for (const t of tokensOf(text)) {
    const r = ts.push(t);
    pieces.push(r.text);
    if (r.stopped) {
      stopped = true;
      break;
    }
  }
  if (!stopped) pieces.push(ts.flush());
  return { pieces, out: pieces.join(""), stopped };
}

describe("TextStream", () => {
  test("never emits half a UTF-8 character", () => {
    const { pieces, out } = run("héllo 你好 🎉!", []);
    expect(out).toBe("héllo 你好 🎉!");
    for (const p of pieces) expect(p).not.toContain("\uFFFD");
  });

  test("stop string split across tokens is cut and never emitted", () => {
    const { out, stopped, pieces } = run("one two STOP three", ["STOP"]);
    expect(stopped).toBe(true);
    expect(out).toBe("one two ");
    expect(pieces.join("")).not.toContain("S");
  });

  test("earliest of several stop strings wins", () => {
    expect(run("abc\n\nxyz END", ["END", "\n\n"]).out).toBe("abc");
  });

  test("a held prefix that does not become a stop string is released", () => {
    const { out, stopped } = run("STOmp STO", ["STOP"]);
    expect(stopped).toBe(false);
    expect(out).toBe("STOmp STO");
  });

  test("multi-byte stop string", () => {
    expect(run("前言。结束了", ["结束"]).out).toBe("前言。");
  });

  test("longestStopPrefixSuffix", () => {
    expect(longestStopPrefixSuffix("abcST", ["STOP"])).toBe(2);
    expect(longestStopPrefixSuffix("abc", ["STOP"])).toBe(0);
    expect(longestStopPrefixSuffix("xSTOP", ["STOP"])).toBe(0); // full match is not a proper prefix
    expect(longestStopPrefixSuffix("a\n", ["\n\n", "x"])).toBe(1);
  });

  test("released: every token is released once, in order, with the text that completes it", () => {
    for (const [text, stops] of [
      ["héllo 你好 🎉!", []],
      ["ab STOmp STO xy", ["STOP"]],
      ["前言。结束", ["结束了"]],
    ] as const) {
      const toks = tokensOf(text);
      const ts = new TextStream(bytes, stops, []);
      let sent = "";
      let released = 0;
      for (const t of toks) {
        const r = ts.push(t);
        sent += r.text;
        released += r.released;
        // Released tokens' text has gone out; text still held belongs to tokens not released yet.
        expect(sent.startsWith(bytes.detokenize(toks.slice(0, released)))).toBe(true);
      }
      sent += ts.flush();
      expect(sent).toBe(text);
      expect(released).toBeLessThanOrEqual(toks.length);
    }
  });

  test("released: a 3-byte character's tokens are released together, with the character", () => {
    const ts = new TextStream(bytes, [], []);
    const results = tokensOf("a你").map((t) => ts.push(t));
    expect(results.map((r) => [r.text, r.released])).toEqual([
      ["a", 1],
      ["", 0],
      ["", 0],
      ["你", 3],
    ]);
  });

  test("released at a stop string: a token partly before it is released, tokens inside it are not", () => {
    // Word tokens: "a", " xS", "TO", "Pz"; the stop string "STOP" starts inside " xS".
    const words = ["a", " xS", "TO", "Pz"];
    const wordsOf = { detokenize: (tokens: readonly number[]) => tokens.map((t) => words[t]).join("") };
    const ts = new TextStream(wordsOf, ["STOP"], []);
    const results = [0, 1, 2, 3].map((t) => ts.push(t));
    expect(results.map((r) => [r.text, r.released, r.stopped])).toEqual([
      ["a", 1, false],
      [" x", 0, false],
      ["", 0, false],
      ["", 1, true],
    ]);
  });
});
