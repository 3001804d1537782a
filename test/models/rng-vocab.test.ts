import { describe, expect, test } from "bun:test";
import { Xoshiro128, fillNormalish, hashString, splitmix32 } from "../../src/models/rng.ts";
import { BOS_ID, EOS_ID, FIRST_NORMAL_ID, MAX_VOCAB, SPACE_MARK, TOKEN_TYPE, UNK_ID, buildVocab } from "../../src/models/vocab.ts";

describe("rng", () => {
  // Expected values come from the reference C code (Vigna's xoshiro128starstar.c with the same
  // splitmix32 seeding) compiled with gcc; every generated model's weights depend on them.
  test("matches the reference C implementation", () => {
    expect(splitmix32(0)).toBe(0x92ca2f0e);
    expect(hashString("token_embd.weight")).toBe(0x21476267);
    const r = new Xoshiro128(1);
    expect([r.next(), r.next(), r.next()]).toEqual([0x18ec20bc, 0xdd4379ad, 0x692f7371]);
  });

  test("same seed and stream repeat; a different seed or stream does not", () => {
    const take = (seed: number, stream: number) => {
      const r = new Xoshiro128(seed, stream);
      return Array.from({ length: 8 }, () => r.next());
    };
    expect(take(5, 9)).toEqual(take(5, 9));
    expect(take(5, 9)).not.toEqual(take(6, 9));
    expect(take(5, 9)).not.toEqual(take(5, 10));
  });

  test("uniform() is in [0, 1) with mean ~0.5", () => {
    const r = new Xoshiro128(42);
    let sum = 0;
    for (let i = 0; i < 100000; i++) {
      const u = r.uniform();
      if (u < 0 || u >= 1) throw new Error(`out of range: ${u}`);
      sum += u;
    }
    expect(Math.abs(sum / 100000 - 0.5)).toBeLessThan(0.01);
  });

  test("fillNormalish has mean 0 and the requested standard deviation", () => {
    const xs = new Float32Array(200000);
    fillNormalish(new Xoshiro128(11), xs, 0.25);
    let s = 0;
    let s2 = 0;
    for (const x of xs) {
      s += x;
      s2 += x * x;
    }
    const mean = s / xs.length;
    expect(Math.abs(mean)).toBeLessThan(0.005);
    expect(Math.sqrt(s2 / xs.length - mean * mean)).toBeCloseTo(0.25, 2);
  });
});

describe("vocab", () => {
  const v = buildVocab(768);

  test("special tokens, then 256 byte tokens, then normal pieces", () => {
    expect(v.tokens.slice(0, 3)).toEqual(["<unk>", "<s>", "</s>"]);
    expect([UNK_ID, BOS_ID, EOS_ID]).toEqual([0, 1, 2]);
    expect(Array.from(v.types.slice(0, 3))).toEqual([TOKEN_TYPE.UNKNOWN, TOKEN_TYPE.CONTROL, TOKEN_TYPE.CONTROL]);
    for (let b = 0; b < 256; b++) {
      expect(v.tokens[3 + b]).toBe(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
      expect(v.types[3 + b]).toBe(TOKEN_TYPE.BYTE);
      expect(v.scores[3 + b]).toBe(0);
    }
    for (let i = FIRST_NORMAL_ID; i < v.tokens.length; i++) expect(v.types[i]).toBe(TOKEN_TYPE.NORMAL);
  });

  test("exact size, unique tokens, scores strictly decreasing over normal pieces", () => {
    expect(v.tokens.length).toBe(768);
    expect(v.scores.length).toBe(768);
    expect(v.types.length).toBe(768);
    expect(new Set(v.tokens).size).toBe(768);
    for (let i = FIRST_NORMAL_ID + 1; i < 768; i++) expect(v.scores[i]!).toBeLessThan(v.scores[i - 1]!);
  });

  test("has single characters, word-initial letters, common words and sub-words", () => {
    for (const t of ["a", "Z", "7", "!", "~", SPACE_MARK, `${SPACE_MARK}a`, `${SPACE_MARK}the`, `${SPACE_MARK}and`, "ing"]) {
      expect(v.tokens).toContain(t);
    }
  });

  test("every multi-character piece has its prefix one character shorter (SPM merge path)", () => {
    const set = new Set(v.tokens);
    for (let i = FIRST_NORMAL_ID; i < v.tokens.length; i++) {
      const t = v.tokens[i]!;
      if (t.length > 1 && !set.has(t.slice(0, -1))) throw new Error(`no prefix for ${t}`);
    }
  });

  test("a smaller vocabulary is a prefix of a larger one (deterministic order)", () => {
    const big = buildVocab(9800);
    expect(big.tokens.slice(0, 768)).toEqual(v.tokens);
    expect(buildVocab(9800).tokens).toEqual(big.tokens);
  });

  test("rejects sizes it cannot fill", () => {
    expect(() => buildVocab(FIRST_NORMAL_ID)).toThrow(/vocab size/);
    expect(() => buildVocab(MAX_VOCAB + 1)).toThrow(/vocab size/);
    expect(buildVocab(MAX_VOCAB).tokens.length).toBe(MAX_VOCAB);
    expect(MAX_VOCAB).toBeGreaterThan(32000);
  });
});
