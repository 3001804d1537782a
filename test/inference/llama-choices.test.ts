// n choices, slot copies and log-probabilities on the real engine and a real model (stories260K).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Sampled } from "../../src/inference/engine.ts";
import { LlamaEngine } from "../../src/inference/llama/engine.ts";
import { Scheduler } from "../../src/inference/scheduler.ts";
import type { TokenEvent, TokenLogprobs } from "../../src/inference/types.ts";
import { collect, GREEDY, request } from "../helpers/inference.ts";
import { STORIES_ORACLE, requireStories } from "../helpers/models.ts";

const PROMPT = "Once upon a time";
let engine: LlamaEngine;

beforeAll(async () => {
  engine = await LlamaEngine.load({ modelPath: requireStories(), slots: 4, slotContextSize: 512, threads: 1 });
});
afterAll(async () => {
  await engine?.dispose();
});

function byIndex(events: readonly TokenEvent[], n: number) {
  const texts = Array.from({ length: n }, () => "");
  const entries: TokenLogprobs[][] = Array.from({ length: n }, () => []);
  for (const ev of events) {
    if (ev.type !== "text") continue;
    texts[ev.index ?? 0] += ev.text;
    entries[ev.index ?? 0]!.push(...(ev.logprobs ?? []));
  }
  return { texts, entries };
}

describe("copySlot", () => {
  test("a copied prompt continues exactly as the prompt evaluated in that slot", async () => {
    // ~300 tokens of prompt in slot 0, copied into slot 1 and evaluated again in slot 2.
    const words = engine.tokenize(" Once upon a time, there was a little girl named Lily who loved to play in the park.", false);
    const prompt = [engine.info.bosToken!];
    while (prompt.length < 300) prompt.push(...words);
    const samplers = [0, 1, 2].map(() => engine.createSampler(GREEDY, prompt));
    for (const s of [0, 1, 2]) engine.clearSlot(s, 0);
    try {
      const [first] = await engine.decode([{ slot: 0, pos: 0, tokens: prompt, sampler: samplers[0], forks: [samplers[1]!] }]);
      await engine.copySlot(0, [1]);
      const [again] = await engine.decode([{ slot: 2, pos: 0, tokens: prompt, sampler: samplers[2] }]);
      const out = [[first![0]!.token], [first![1]!.token], [again![0]!.token]];
      for (let i = 0; i < 40; i++) {
        const step = await engine.decode([0, 1, 2].map((s) => ({ slot: s, pos: prompt.length + i, tokens: [out[s]!.at(-1)!], sampler: samplers[s] })));
        step.forEach((r, s) => out[s]!.push(r[0]!.token));
      }
      expect(engine.detokenize(out[1]!)).toBe(engine.detokenize(out[0]!));
      expect(out[1]).toEqual(out[2]!);
      expect(engine.detokenize(out[0]!).length).toBeGreaterThan(40);
    } finally {
      for (const s of samplers) s.dispose();
      for (const s of [0, 1, 2]) engine.clearSlot(s, 0);
    }
  });
});

describe("n choices on stories260K", () => {
  test("at temperature 0 every choice is the single greedy answer (llama.cpp's), also with a reused prefix", async () => {
    const s = new Scheduler({ engine, maxQueue: 4 });
    const prompt = engine.tokenize(PROMPT, true);
    for (const round of [0, 1]) {
      const r = await collect(s.submit(request(prompt, { maxTokens: 30, choices: 3 })));
      expect(byIndex(r.events, 3).texts).toEqual([STORIES_ORACLE, STORIES_ORACLE, STORIES_ORACLE]);
      expect(r.done.usage.completionTokens).toBe(90);
      if (round === 1) expect(r.done.usage.cachedTokens).toBe(prompt.length - 1);
    }
    expect(s.stats().slotCopies).toBe(4);
  });

  test("at temperature > 0 the choices differ, and a seed reproduces them", async () => {
    const s = new Scheduler({ engine, maxQueue: 4 });
    const sampling = { ...GREEDY, temperature: 1, topK: 0, seed: 1234 };
    const run = async () => byIndex((await collect(s.submit(request(engine.tokenize(PROMPT, true), { maxTokens: 24, choices: 4, sampling })))).events, 4).texts;
    const a = await run();
    expect(new Set(a).size).toBe(4);
    expect(await run()).toEqual(a);
  });
});

describe("log-probabilities on stories260K", () => {
  test("greedy: the whole vocabulary, probabilities summing to 1, the sampled token the most probable", async () => {
    const sampler = engine.createSampler(GREEDY, []);
    engine.clearSlot(0, 0);
    try {
      const prompt = engine.tokenize(PROMPT, true);
      const [[r]] = (await engine.decode([{ slot: 0, pos: 0, tokens: prompt, sampler, probabilities: true }])) as [[Sampled]];
      const p = r.probabilities!;
      expect(p.length / 2).toBe(engine.info.vocabSize);
      let sum = 0;
      for (let i = 1; i < p.length; i += 2) sum += p[i]!;
      expect(sum).toBeCloseTo(1, 4);
      expect(p[0]).toBe(r.token);
      for (let i = 3; i < p.length; i += 2) expect(p[i]!).toBeLessThanOrEqual(p[i - 2]!);
    } finally {
      sampler.dispose();
      engine.clearSlot(0, 0);
    }
  });

  test("through the scheduler: greedy tokens carry the top logprob; top-k 5 at temperature 1 leaves at most 5 candidates", async () => {
    const s = new Scheduler({ engine, maxQueue: 4 });
    const prompt = engine.tokenize(PROMPT, true);
    const greedy = await collect(s.submit(request(prompt, { maxTokens: 30, logprobs: 3 })));
    const { texts, entries } = byIndex(greedy.events, 1);
    expect(texts[0]).toBe(STORIES_ORACLE);
    expect(entries[0]).toHaveLength(30);
    for (const e of entries[0]!) {
      expect(e.top[0]!.token).toBe(e.token);
      expect(e.logprob).toBe(e.top[0]!.logprob);
      expect(e.logprob).toBeLessThanOrEqual(0);
    }
    const warm = await collect(s.submit(request(prompt, { maxTokens: 30, logprobs: 20, sampling: { ...GREEDY, temperature: 1, topK: 5, seed: 9 } })));
    for (const e of byIndex(warm.events, 1).entries[0]!) {
      expect(e.top.length).toBeLessThanOrEqual(5);
      expect(e.top.reduce((a, t) => a + Math.exp(t.logprob), 0)).toBeCloseTo(1, 4);
      expect(e.top.some((t) => t.token === e.token)).toBe(true);
    }
  });

  test("tokenBytes: the bytes of a text's tokens are its UTF-8, byte-fallback tokens included", () => {
    const text = " héllo 你好, said Lily. 🎉";
    const tokens = engine.tokenize(text.slice(1), false);
    const bytes = tokens.flatMap((t) => [...engine.tokenBytes(t)]);
    expect(new TextDecoder().decode(Uint8Array.from(bytes))).toBe(text);
    expect(tokens.some((t) => engine.tokenBytes(t).length === 1 && engine.tokenBytes(t)[0]! >= 0x80)).toBe(true);
    expect(new TextDecoder().decode(engine.tokenBytes(engine.info.bosToken!))).toBe("<s>");
  });
});
