// logprobs and n > 1 through the openai SDK on the real engine and a real model (stories260K).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type OpenAI from "openai";
import { LlamaEngine } from "../../src/inference/llama/engine.ts";
import { STORIES_ORACLE, requireStories } from "../helpers/models.ts";
import { setup, type Setup } from "./helpers.ts";

let engine: LlamaEngine;
let s: Setup;
beforeAll(async () => {
  engine = await LlamaEngine.load({ modelPath: requireStories(), slots: 3, slotContextSize: 256, threads: 1 });
  s = await setup(engine);
});
afterAll(async () => {
  await s?.served.close();
  await engine?.dispose();
});

type Legacy = { tokens: string[]; token_logprobs: number[]; top_logprobs: Array<Record<string, number>>; text_offset: number[] };

describe("logprobs and n on stories260K", () => {
  test("completions: streamed and whole logprobs agree at temperature 0; the greedy token tops its list; offsets fit the text", async () => {
    const params = { model: "stories", prompt: "Once upon a time", max_tokens: 30, temperature: 0, logprobs: 5 };
    const whole = await s.client.completions.create(params);
    const text = whole.choices[0]!.text;
    expect(text).toBe(STORIES_ORACLE);
    const lp = whole.choices[0]!.logprobs as Legacy;
    expect(lp.tokens.join("")).toBe(text);
    lp.tokens.forEach((tok, i) => {
      expect(text.slice(lp.text_offset[i])).toStartWith(tok);
      expect(Math.max(...Object.values(lp.top_logprobs[i]!))).toBe(lp.token_logprobs[i]!);
      expect(lp.top_logprobs[i]![tok]).toBe(lp.token_logprobs[i]!);
    });
    const streamed: Legacy = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
    for await (const c of await s.client.completions.create({ ...params, stream: true })) {
      const l = c.choices[0]?.logprobs as Legacy | null | undefined;
      if (l) for (const k of ["tokens", "token_logprobs", "top_logprobs", "text_offset"] as const) (streamed[k] as unknown[]).push(...l[k]);
    }
    expect(streamed.tokens).toEqual(lp.tokens);
    expect(streamed.text_offset).toEqual(lp.text_offset);
    // To float noise (see the chat test below).
    streamed.token_logprobs.forEach((l, i) => expect(l).toBeCloseTo(lp.token_logprobs[i]!, 4));
  });

  test("chat n = 3 at temperature 0: three equal greedy choices, with equal logprobs, streamed and not", async () => {
    const params = { model: "stories", messages: [{ role: "user" as const, content: "Tell me a story." }], max_tokens: 20, temperature: 0, n: 3, logprobs: true, top_logprobs: 2 };
    const whole = await s.client.chat.completions.create(params);
    const texts = whole.choices.map((c) => c.message.content);
    expect(new Set(texts).size).toBe(1);
    const entries = whole.choices.map((c) => c.logprobs!.content!);
    for (const e of entries) expect(e.map((x) => x.logprob)).toEqual(entries[0]!.map((x) => x.logprob));
    // Every choice's tokens are counted (a stop string's tokens count too, with no entries).
    expect(whole.usage!.completion_tokens).toBeGreaterThanOrEqual(3 * entries[0]!.length);
    if (whole.choices.every((c) => c.finish_reason === "length")) expect(whole.usage!.completion_tokens).toBe(60);
    const streamed = ["", "", ""];
    const lps: OpenAI.ChatCompletionTokenLogprob[][] = [[], [], []];
    for await (const c of await s.client.chat.completions.create({ ...params, stream: true })) {
      for (const ch of c.choices) {
        streamed[ch.index] += ch.delta.content ?? "";
        lps[ch.index]!.push(...(ch.logprobs?.content ?? []));
      }
    }
    expect(streamed).toEqual(texts as string[]);
    // Equal to float noise, not to the bit: the second request may reuse the first's cached prompt,
    // so its logits come from batches of another shape (on some CPUs, with the kernels ggml picks for
    // them, that shows in the sixth digit).
    lps.forEach((l, i) => l.forEach((e, j) => expect(e.logprob).toBeCloseTo(entries[i]![j]!.logprob, 4)));
  });
});
