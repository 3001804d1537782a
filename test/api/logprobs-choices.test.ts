// logprobs and n > 1 on /v1/chat/completions and /v1/completions, driven by the official `openai`
// SDK over the deterministic fake engine (4 slots).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { FakeEngine } from "../../src/inference/engine-fake.ts";
import { ScriptedEngine } from "../helpers/inference.ts";
import { apiError, setup, type Setup, waitFor } from "./helpers.ts";

let s: Setup;
beforeAll(async () => {
  s = await setup(new FakeEngine({ slots: 4, slotContextSize: 512 }));
});
afterAll(() => s.served.close());

const utf8 = new TextEncoder();
const messages = [{ role: "user" as const, content: "hi" }];
type ChatEntry = OpenAI.ChatCompletionTokenLogprob;
type LegacyLogprobs = { tokens: string[]; token_logprobs: number[]; top_logprobs: Array<Record<string, number>>; text_offset: number[] };

function expectSameEntries(a: readonly ChatEntry[], b: readonly ChatEntry[]) {
  expect(a.map((e) => e.token)).toEqual(b.map((e) => e.token));
  a.forEach((e, i) => {
    expect(e.logprob).toBeCloseTo(b[i]!.logprob, 9);
    expect(e.top_logprobs.map((t) => t.token)).toEqual(b[i]!.top_logprobs.map((t) => t.token));
  });
}

/** Streamed chat, per choice index: content, logprob entries, finish reasons; and the usage chunk. */
async function streamChat(params: OpenAI.ChatCompletionCreateParamsNonStreaming) {
  const n = params.n ?? 1;
  const text = Array.from({ length: n }, () => "");
  const entries: ChatEntry[][] = Array.from({ length: n }, () => []);
  const finishes: string[][] = Array.from({ length: n }, () => []);
  const roles: number[] = [];
  let usage: OpenAI.CompletionUsage | null | undefined;
  for await (const c of await s.client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } })) {
    if (c.usage) usage = c.usage;
    for (const ch of c.choices) {
      if (ch.delta.role) roles.push(ch.index);
      text[ch.index] += ch.delta.content ?? "";
      const content = ch.logprobs?.content ?? [];
      // A chunk's entries are those of the tokens its text completes.
      expect(content.map((e) => e.token).join("")).toBe(ch.delta.content ?? "");
      entries[ch.index]!.push(...content);
      if (ch.finish_reason) finishes[ch.index]!.push(ch.finish_reason);
    }
  }
  return { text, entries, finishes, roles, usage };
}

describe("chat logprobs", () => {
  const base = { model: "fake", messages, max_tokens: 12, temperature: 0, logprobs: true, top_logprobs: 5 };

  test("one entry per token: text and bytes line up with the content, the top list is sorted and holds the sampled token", async () => {
    const r = await s.client.chat.completions.create(base);
    const content = r.choices[0]!.message.content!;
    const lp = r.choices[0]!.logprobs!;
    expect(lp.refusal).toBeNull();
    expect(lp.content).toHaveLength(12);
    expect(lp.content!.map((e) => e.token).join("")).toBe(content);
    expect(lp.content!.flatMap((e) => e.bytes!)).toEqual([...utf8.encode(content)]);
    for (const e of lp.content!) {
      expect(e.top_logprobs).toHaveLength(5);
      expect(Math.exp(e.logprob)).toBeLessThanOrEqual(1);
      for (let i = 1; i < 5; i++) expect(e.top_logprobs[i]!.logprob).toBeLessThanOrEqual(e.top_logprobs[i - 1]!.logprob);
      const mine = e.top_logprobs.find((t) => t.token === e.token);
      expect(mine?.logprob).toBe(e.logprob);
      // Greedy picks the most probable token.
      expect(e.top_logprobs[0]!.token).toBe(e.token);
      expect(e.top_logprobs.reduce((a, t) => a + Math.exp(t.logprob), 0)).toBeLessThan(1);
    }
  });

  test("streamed entries equal the whole answer's at temperature 0", async () => {
    const whole = await s.client.chat.completions.create(base);
    const streamed = await streamChat(base);
    expect(streamed.text[0]).toBe(whole.choices[0]!.message.content!);
    expectSameEntries(streamed.entries[0]!, whole.choices[0]!.logprobs!.content!);
  });

  test("logprobs without top_logprobs: entries with empty top lists; absent or false: logprobs null", async () => {
    const r = await s.client.chat.completions.create({ ...base, top_logprobs: undefined });
    expect(r.choices[0]!.logprobs!.content!.every((e) => e.top_logprobs.length === 0)).toBe(true);
    for (const logprobs of [undefined, false]) {
      const plain = await s.client.chat.completions.create({ model: "fake", messages, max_tokens: 4, logprobs });
      expect(plain.choices[0]!.logprobs).toBeNull();
    }
  });

  test("the reported distribution is the one sampled from: top_k 3 leaves 3 candidates whose probabilities sum to 1", async () => {
    const r = await s.client.chat.completions.create({ ...base, temperature: 0.8, seed: 4, top_logprobs: 20, top_k: 3 } as never);
    for (const e of (r as OpenAI.ChatCompletion).choices[0]!.logprobs!.content!) {
      expect(e.top_logprobs).toHaveLength(3);
      expect(e.top_logprobs.reduce((a, t) => a + Math.exp(t.logprob), 0)).toBeCloseTo(1, 9);
    }
  });

  test("bad logprobs fields are 400s naming the field", async () => {
    for (const [extra, param] of [
      [{ logprobs: true, top_logprobs: 21 }, "top_logprobs"],
      [{ top_logprobs: 3 }, "top_logprobs"],
      [{ logprobs: 3 }, "logprobs"],
    ] as const) {
      const e = await apiError(s.client.chat.completions.create({ model: "fake", messages, ...extra } as never));
      expect(e.status).toBe(400);
      expect(e.param).toBe(param);
      expect(e.message).toContain(param);
    }
    expect(s.scheduler.stats().busySlots).toBe(0);
  });

  test("a character split over byte tokens: each token keeps its bytes, written 'bytes:' when not valid UTF-8 alone", async () => {
    const t = await setup(new ScriptedEngine(new FakeEngine().tokenize("a你", false), { slots: 2 }));
    try {
      const r = await t.client.chat.completions.create({ ...base, max_tokens: 4 });
      expect(r.choices[0]!.message.content).toBe("a你");
      const content = r.choices[0]!.logprobs!.content!;
      expect(content.map((e) => e.token)).toEqual(["a", "bytes:\\xe4", "bytes:\\xbd", "bytes:\\xa0"]);
      expect(content.flatMap((e) => e.bytes!)).toEqual([...utf8.encode("a你")]);
      const streamed: ChatEntry[] = [];
      for await (const c of await t.client.chat.completions.create({ ...base, max_tokens: 4, stream: true })) streamed.push(...(c.choices[0]?.logprobs?.content ?? []));
      expectSameEntries(streamed, content);
    } finally {
      await t.served.close();
    }
  });
});

describe("completions logprobs", () => {
  const base = { model: "fake", prompt: "hello", max_tokens: 10, temperature: 0, logprobs: 3 };

  test("tokens, token_logprobs, top_logprobs and text_offset line up with the text", async () => {
    const r = await s.client.completions.create(base);
    const text = r.choices[0]!.text;
    const lp = r.choices[0]!.logprobs as LegacyLogprobs;
    expect(lp.tokens.join("")).toBe(text);
    expect(lp.token_logprobs).toHaveLength(10);
    lp.tokens.forEach((tok, i) => {
      expect(text.slice(lp.text_offset[i])).toStartWith(tok);
      const top = lp.top_logprobs[i]!;
      expect(Object.keys(top)).toHaveLength(3);
      expect(top[tok]).toBe(lp.token_logprobs[i]!);
      expect(Math.max(...Object.values(top))).toBe(lp.token_logprobs[i]!);
    });
  });

  test("streamed: the same entries, text_offset counted from the start of the text", async () => {
    const whole = (await s.client.completions.create(base)).choices[0]!.logprobs as LegacyLogprobs;
    const got: LegacyLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
    for await (const c of await s.client.completions.create({ ...base, stream: true })) {
      const lp = c.choices[0]?.logprobs as LegacyLogprobs | null | undefined;
      if (!lp) continue;
      expect(lp.tokens.join("")).toBe(c.choices[0]!.text);
      for (const k of ["tokens", "token_logprobs", "top_logprobs", "text_offset"] as const) (got[k] as unknown[]).push(...lp[k]);
    }
    expect(got.tokens).toEqual(whole.tokens);
    expect(got.text_offset).toEqual(whole.text_offset);
    got.token_logprobs.forEach((l, i) => expect(l).toBeCloseTo(whole.token_logprobs[i]!, 9));
  });

  test("a stop string's tokens get no entries; held tokens get theirs", async () => {
    const full = (await s.client.completions.create({ ...base, max_tokens: 40, logprobs: undefined })).choices[0]!.text;
    const stop = full.slice(15, 18);
    const r = await s.client.completions.create({ ...base, max_tokens: 40, stop: [stop, `${full[3]}\u0001`] });
    const lp = r.choices[0]!.logprobs as LegacyLogprobs;
    expect(r.choices[0]!.text).toBe(full.slice(0, full.indexOf(stop)));
    expect(lp.tokens.join("")).toBe(r.choices[0]!.text);
    expect(r.usage!.completion_tokens).toBe(lp.tokens.length + 3);
  });

  test("text_offset counts characters: a 3-byte character's tokens share its offset", async () => {
    const t = await setup(new ScriptedEngine(new FakeEngine().tokenize("a你b", false), { slots: 2 }));
    try {
      const r = await t.client.completions.create({ ...base, max_tokens: 6, logprobs: 0 });
      const lp = r.choices[0]!.logprobs as LegacyLogprobs;
      expect(r.choices[0]!.text).toBe("a你ba");
      expect(lp.text_offset).toEqual([0, 1, 1, 1, 2, 3]);
      expect(lp.top_logprobs).toEqual([{}, {}, {}, {}, {}, {}]);
    } finally {
      await t.served.close();
    }
  });

  test("logprobs: true is refused for completions; logprobs beyond 20 too", async () => {
    for (const logprobs of [true, 21]) {
      const e = await apiError(s.client.completions.create({ ...base, logprobs } as never));
      expect(e.status).toBe(400);
      expect(e.param).toBe("logprobs");
    }
  });
});

describe("n choices", () => {
  const chat = { model: "fake", messages, max_tokens: 10, temperature: 0.9, seed: 11, n: 3 };

  test("non-streamed chat: n choices with their indices, each different; usage counts every choice", async () => {
    const r = await s.client.chat.completions.create(chat);
    expect(r.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    expect(new Set(r.choices.map((c) => c.message.content)).size).toBe(3);
    expect(r.choices.every((c) => c.finish_reason === "length" && c.message.content!.length === 10)).toBe(true);
    expect(r.usage).toMatchObject({ prompt_tokens: 20, completion_tokens: 30, total_tokens: 50 });
    // Seeded: the same request gives the same choices, and choice 0 is the n = 1 answer.
    const again = await s.client.chat.completions.create(chat);
    expect(again.choices.map((c) => c.message.content)).toEqual(r.choices.map((c) => c.message.content));
    const one = await s.client.chat.completions.create({ ...chat, n: 1 });
    expect(one.choices[0]!.message.content).toBe(r.choices[0]!.message.content);
  });

  test("at temperature 0 every choice is the greedy answer", async () => {
    const greedy = await s.client.chat.completions.create({ ...chat, temperature: 0, n: 1 });
    const r = await s.client.chat.completions.create({ ...chat, temperature: 0, n: 4 });
    expect(r.choices.map((c) => c.message.content)).toEqual(Array(4).fill(greedy.choices[0]!.message.content));
  });

  test("streamed chat: a role chunk, content and a finish chunk for every index; same text as non-streamed", async () => {
    const whole = await s.client.chat.completions.create({ ...chat, logprobs: true, top_logprobs: 2 });
    const st = await streamChat({ ...chat, logprobs: true, top_logprobs: 2 });
    expect(st.roles.sort()).toEqual([0, 1, 2]);
    expect(st.finishes).toEqual([["length"], ["length"], ["length"]]);
    expect(st.text).toEqual(whole.choices.map((c) => c.message.content!));
    whole.choices.forEach((c, i) => expectSameEntries(st.entries[i]!, c.logprobs!.content!));
    expect(st.usage).toEqual(whole.usage!);
  });

  test("completions: n choices, streamed and not, with per-choice logprobs and text_offset", async () => {
    const params = { model: "fake", prompt: "many", max_tokens: 8, temperature: 0.7, seed: 2, n: 2, logprobs: 1 };
    const whole = await s.client.completions.create(params);
    expect(whole.choices.map((c) => c.index)).toEqual([0, 1]);
    expect(whole.usage!.completion_tokens).toBe(16);
    const texts = ["", ""];
    const offsets: number[][] = [[], []];
    const finishes: string[] = [];
    for await (const c of await s.client.completions.create({ ...params, stream: true })) {
      for (const ch of c.choices) {
        texts[ch.index] += ch.text;
        offsets[ch.index]!.push(...((ch.logprobs as LegacyLogprobs | null)?.text_offset ?? []));
        if (ch.finish_reason) finishes.push(`${ch.index}:${ch.finish_reason}`);
      }
    }
    expect(texts).toEqual(whole.choices.map((c) => c.text));
    expect(offsets).toEqual(whole.choices.map((c) => (c.logprobs as LegacyLogprobs).text_offset));
    expect(finishes.sort()).toEqual(["0:length", "1:length"]);
  });

  test("/metrics counts every choice's tokens and the prompt once", async () => {
    const before = s.scheduler.stats();
    const r = await s.client.completions.create({ model: "fake", prompt: "count me", max_tokens: 5, temperature: 0.5, n: 4 });
    const after = s.scheduler.stats();
    expect(after.generatedTokens - before.generatedTokens).toBe(20);
    expect(after.promptTokens - before.promptTokens).toBe(r.usage!.prompt_tokens);
    const metrics = await (await s.served.fetch(`${s.served.url}/metrics`)).text();
    expect(metrics).toContain(`warren_generated_tokens_total ${after.generatedTokens}`);
    expect(after.slotCopies - before.slotCopies).toBe(3);
    expect(metrics).toContain(`warren_slot_copies_total ${after.slotCopies}`);
  });

  test("a client leaving a streamed n = 4 request frees every slot", async () => {
    const ac = new AbortController();
    const stream = await s.client.chat.completions.create({ ...chat, n: 4, max_tokens: 400, stream: true }, { signal: ac.signal });
    let n = 0;
    await (async () => {
      for await (const c of stream) if (c.choices[0]?.delta.content && ++n === 10) ac.abort();
    })().catch((err) => expect(String(err)).toMatch(/abort/i));
    expect(n).toBe(10);
    await waitFor(() => s.scheduler.stats().busySlots === 0, "every slot to be freed");
    expect(s.scheduler.stats().queueDepth).toBe(0);
  });
});
