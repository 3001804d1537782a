// The scheduler on the real engine and a real trained model (TinyStories 260K), at temperature 0.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { LlamaEngine } from "../../src/inference/llama/engine.ts";
import { Scheduler } from "../../src/inference/scheduler.ts";
import { collect, request } from "../helpers/inference.ts";
import { STORIES_ORACLE, requireStories } from "../helpers/models.ts";

const PROMPT = "Once upon a time";
let engine4: LlamaEngine;
let engine1: LlamaEngine;

beforeAll(async () => {
  const modelPath = requireStories();
  engine4 = await LlamaEngine.load({ modelPath, slots: 8, slotContextSize: 256, threads: 1 });
  engine1 = await LlamaEngine.load({ modelPath, slots: 1, slotContextSize: 256, threads: 1 });
});
afterAll(async () => {
  await engine4?.dispose();
  await engine1?.dispose();
});

describe("llama engine + scheduler on stories260K", () => {
  test("greedy output matches llama.cpp's server", async () => {
    const s = new Scheduler({ engine: engine4, maxQueue: 4 });
    const r = await collect(s.submit(request(engine4.tokenize(PROMPT, true), { maxTokens: 40, stop: [" One day,"] })));
    expect(STORIES_ORACLE.startsWith(r.text)).toBe(true);
    expect(r.text).toBe(STORIES_ORACLE.slice(0, STORIES_ORACLE.indexOf(" One day,")));
    const full = await collect(s.submit(request(engine4.tokenize(PROMPT, true), { maxTokens: 30 })));
    expect(full.text).toBe(STORIES_ORACLE);
  });

  test("--flash-attention off and on give llama.cpp's greedy text too", async () => {
    for (const flashAttention of ["off", "on"] as const) {
      const engine = await LlamaEngine.load({ modelPath: requireStories(), slots: 2, slotContextSize: 128, threads: 1, flashAttention });
      try {
        expect(engine.flashAttention).toBe(flashAttention);
        const full = await collect(new Scheduler({ engine, maxQueue: 1 }).submit(request(engine.tokenize(PROMPT, true), { maxTokens: 30 })));
        expect(`${flashAttention}: ${full.text}`).toBe(`${flashAttention}: ${STORIES_ORACLE}`);
      } finally {
        await engine.dispose();
      }
    }
  });

  test("same tokens alone, beside 7 other requests, with 1 slot and with 8", async () => {
    const prompt = engine4.tokenize(PROMPT, true);
    const wide = new Scheduler({ engine: engine4, maxQueue: 16 });
    const narrow = new Scheduler({ engine: engine1, maxQueue: 16 });
    const alone = await collect(wide.submit(request(prompt, { maxTokens: 48, ignoreEos: true })));
    const others = ["The cat", "Tom had a", "She saw", "In the park", "A big dog", "Lily and Ben", "One day"];
    const crowd = await Promise.all([
      collect(wide.submit(request(prompt, { maxTokens: 48, ignoreEos: true }))),
      ...others.map((p) => collect(wide.submit(request(engine4.tokenize(p, true), { maxTokens: 48, ignoreEos: true })))),
    ]);
    const single = await collect(narrow.submit(request(prompt, { maxTokens: 48, ignoreEos: true })));
    expect(crowd[0]!.text).toBe(alone.text);
    expect(single.text).toBe(alone.text);
    expect(alone.done.usage.completionTokens).toBe(48);
  });

  test("concurrent requests share decode calls (batching really happens)", async () => {
    const s = new Scheduler({ engine: engine4, maxQueue: 16 });
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => collect(s.submit(request(engine4.tokenize(`Story ${i}:`, true), { maxTokens: 32, ignoreEos: true })))),
    );
    const st = s.stats();
    expect(st.generatedTokens).toBe(8 * 32);
    // Tokens per decode call well above 1: 8 sequences ride each call.
    expect(st.decodedTokens / st.decodeCalls).toBeGreaterThan(6);
  });

  test("the decode thread goes ahead while this thread is busy, waits at its limit, and goes on: the same tokens", async () => {
    const s = new Scheduler({ engine: engine4, maxQueue: 4 });
    const prompt = engine4.tokenize(PROMPT, true);
    const alone = await collect(s.submit(request(prompt, { maxTokens: 96, ignoreEos: true })));
    let text = "";
    for await (const ev of s.submit(request(prompt, { maxTokens: 96, ignoreEos: true }))) {
      if (ev.type !== "text") continue;
      text += ev.text;
      // Far longer than INFERENCE_MAX_STEPS_AHEAD steps: the decode thread stops to wait, then is told to go on.
      if (ev.tokens === 10 || ev.tokens === 50) Bun.sleepSync(150);
    }
    expect(text).toBe(alone.text);
  });

  test("a request ended by a stop string or a cancel while the decode thread went ahead leaves its slot clean", async () => {
    const s = new Scheduler({ engine: engine1, maxQueue: 4 });
    const next = engine1.tokenize("Tom had a", true);
    const expected = await collect(s.submit(request(next, { maxTokens: 24 })));
    const prompt = engine1.tokenize(PROMPT, true);
    const stopped = collect(s.submit(request(prompt, { maxTokens: 64, stop: [STORIES_ORACLE.slice(8, 14)] })));
    const after = collect(s.submit(request(next, { maxTokens: 24 })));
    expect((await stopped).done.finishReason).toBe("stop");
    expect((await after).text).toBe(expected.text);
    const ac = new AbortController();
    const cancelled = (async () => {
      for await (const ev of s.submit(request(prompt, { maxTokens: 64, signal: ac.signal }))) if (ev.type === "text" && ev.tokens === 4) ac.abort();
    })();
    const again = collect(s.submit(request(next, { maxTokens: 24 })));
    await cancelled;
    expect((await again).text).toBe(expected.text);
  });

  test("prefix reuse skips the shared prompt and keeps output identical", async () => {
    const s = new Scheduler({ engine: engine1, maxQueue: 4 });
    const prompt = engine1.tokenize("Once upon a time, in a small town, there lived a kind old man who", true);
    const a = await collect(s.submit(request(prompt, { maxTokens: 16 })));
    const b = await collect(s.submit(request(prompt, { maxTokens: 16 })));
    expect(b.done.usage.cachedTokens).toBe(prompt.length - 1);
    expect(b.text).toBe(a.text);
  });

  test("UTF-8 prompts round-trip through byte-fallback tokens", () => {
    const text = "héllo 你好";
    expect(engine4.detokenize(engine4.tokenize(text, false))).toBe(text);
  });
});
