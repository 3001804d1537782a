// n > 1 choices and per-token log-probabilities in the scheduler, over the deterministic fake engine
// (whose copySlot really copies its per-slot hash chain: a missed or wrong copy changes the tokens
// or makes decode throw on a position gap).
import { beforeAll, describe, expect, test } from "bun:test";
import { FakeEngine } from "../../src/inference/engine-fake.ts";
import { Scheduler } from "../../src/inference/scheduler.ts";
import { InferenceError, type SamplingParams, type TokenEvent, type TokenLogprobs } from "../../src/inference/types.ts";
import { collect, GREEDY, request, ScriptedEngine } from "../helpers/inference.ts";

const WARM: SamplingParams = { ...GREEDY, temperature: 0.9, topK: 0 };

/** Set per run of the suites: lockstep (decode() a step at a time), then pipelined (steps run ahead as on a decode thread). */
let mode = false;

function setup(opts: ConstructorParameters<typeof FakeEngine>[0] = {}) {
  const engine = new FakeEngine({ slots: 4, pipelined: mode, ...opts });
  const scheduler = new Scheduler({ engine, maxQueue: 8 });
  return { engine, scheduler, prompt: (text: string) => engine.tokenize(text, true) };
}

interface Choices {
  texts: string[];
  entries: TokenLogprobs[][];
  finishes: Array<Extract<TokenEvent, { type: "finish" }>>;
  events: TokenEvent[];
  done: Extract<TokenEvent, { type: "done" }>;
}

async function choices(stream: AsyncIterable<TokenEvent>, n: number): Promise<Choices> {
  const r = await collect(stream);
  const texts = Array.from({ length: n }, () => "");
  const entries: TokenLogprobs[][] = Array.from({ length: n }, () => []);
  const finishes: Choices["finishes"] = [];
  for (const ev of r.events) {
    if (ev.type === "text") {
      texts[ev.index ?? 0] += ev.text;
      entries[ev.index ?? 0]!.push(...(ev.logprobs ?? []));
    } else if (ev.type === "finish") finishes.push(ev);
  }
  return { texts, entries, finishes, events: r.events, done: r.done };
}

for (const pipelined of [false, true]) {
  describe(`n choices (${pipelined ? "pipelined" : "lockstep"})`, () => {
    beforeAll(() => void (mode = pipelined));
    test("the prompt is evaluated once, then copied to the other choices' slots", async () => {
      const { engine, scheduler, prompt } = setup();
      const p = prompt("a prompt of some length");
      const r = await choices(scheduler.submit(request(p, { maxTokens: 6, choices: 3, sampling: WARM })), 3);
      expect(r.done.finishReason).toBe("length");
      expect(r.done.usage).toEqual({ promptTokens: p.length, completionTokens: 18, cachedTokens: 0 });
      // Prompt once; then each choice decodes all its tokens but the last (the first came from the prompt's logits).
      const decoded = engine.decodeLog.flat().reduce((a, b) => a + b, 0);
      expect(decoded).toBe(p.length + 3 * 5);
      expect(engine.copyLog).toHaveLength(1);
      expect(engine.copyLog[0]!.to).toHaveLength(2);
      expect(engine.copyLog[0]!.to).not.toContain(engine.copyLog[0]!.from);
      const st = scheduler.stats();
      expect(st.slotCopies).toBe(2);
      expect(st.promptTokens).toBe(p.length);
      expect(st.generatedTokens).toBe(18);
      expect(st.requests.length).toBe(1);
      expect(st.busySlots).toBe(0);
    });

    test("at temperature 0 every choice equals the single greedy answer", async () => {
      const { scheduler, prompt } = setup();
      const p = prompt("greedy");
      const single = await collect(scheduler.submit(request(p, { maxTokens: 30 })));
      const r = await choices(scheduler.submit(request(p, { maxTokens: 30, choices: 4 })), 4);
      expect(r.texts).toEqual([single.text, single.text, single.text, single.text]);
      expect(r.finishes.map((f) => f.index).sort()).toEqual([0, 1, 2, 3]);
    });

    test("at temperature > 0 the choices differ; a seed makes them reproducible; choice 0 is the n = 1 answer", async () => {
      const { scheduler, prompt } = setup();
      const p = prompt("warm");
      const seeded = { ...WARM, seed: 99 };
      const a = await choices(scheduler.submit(request(p, { maxTokens: 20, choices: 3, sampling: seeded })), 3);
      const b = await choices(scheduler.submit(request(p, { maxTokens: 20, choices: 3, sampling: seeded })), 3);
      const one = await collect(scheduler.submit(request(p, { maxTokens: 20, sampling: seeded })));
      expect(new Set(a.texts).size).toBe(3);
      expect(b.texts).toEqual(a.texts);
      expect(a.texts[0]).toBe(one.text);
      // Unseeded: still three different answers.
      const u = await choices(scheduler.submit(request(p, { maxTokens: 20, choices: 3, sampling: WARM })), 3);
      expect(new Set(u.texts).size).toBe(3);
    });

    test("max_tokens is exact per choice; EOS ends one choice while the others go on", async () => {
      const { scheduler, prompt } = setup({ eosEvery: 9 });
      const r = await choices(scheduler.submit(request(prompt("eos"), { maxTokens: 60, choices: 4, sampling: { ...WARM, seed: 3 } })), 4);
      const counts = r.finishes.map((f) => f.completionTokens);
      expect(Math.max(...counts)).toBeLessThanOrEqual(60);
      expect(new Set(counts).size).toBeGreaterThan(1);
      expect(r.done.usage.completionTokens).toBe(counts.reduce((a, b) => a + b, 0));
      // Each choice's events end with its finish; the done comes after all of them.
      expect(r.events.at(-1)!.type).toBe("done");
      for (const f of r.finishes) {
        const after = r.events.slice(r.events.indexOf(f) + 1);
        expect(after.some((e) => e.type === "text" && (e.index ?? 0) === f.index)).toBe(false);
      }
    });

    test("a request for n choices waits until n slots are free, and later requests wait behind it", async () => {
      const { scheduler, prompt } = setup({ slots: 3, decodeDelayMs: 1 });
      const order: string[] = [];
      const track = async (name: string, stream: AsyncIterable<TokenEvent>) => {
        for await (const ev of stream) if (ev.type === "started") order.push(name);
      };
      const long = track("long", scheduler.submit(request(prompt("long"), { maxTokens: 30 })));
      await Bun.sleep(5);
      const group = track("group", scheduler.submit(request(prompt("group"), { maxTokens: 5, choices: 3 })));
      const after = track("after", scheduler.submit(request(prompt("after"), { maxTokens: 5 })));
      expect(scheduler.stats().queueDepth).toBe(2);
      await Promise.all([long, group, after]);
      expect(order).toEqual(["long", "group", "after"]);
      expect(scheduler.stats().busySlots).toBe(0);
    });

    test("cancelling frees every slot at once, mid-generation and while queued", async () => {
      const { engine, scheduler, prompt } = setup({ decodeDelayMs: 1 });
      const ac = new AbortController();
      let seen = 0;
      const events: TokenEvent[] = [];
      for await (const ev of scheduler.submit(request(prompt("cancel me"), { maxTokens: 400, choices: 4, signal: ac.signal, sampling: WARM }))) {
        events.push(ev);
        if (ev.type === "text" && ++seen === 12) ac.abort();
      }
      const done = events.at(-1) as Extract<TokenEvent, { type: "done" }>;
      expect(done.finishReason).toBe("cancelled");
      // Within one token per choice of the abort.
      expect(done.usage.completionTokens).toBeLessThanOrEqual(12 + 4 * 2);
      expect(scheduler.stats().busySlots).toBe(0);
      for (let s = 0; s < 4; s++) expect(engine.slotLength(s)).toBe(0);
      expect(engine.liveSamplers).toBe(0);

      // Queued behind a long request, then the reader walks away.
      const hold = collect(scheduler.submit(request(prompt("hold"), { maxTokens: 40 })));
      await Bun.sleep(3);
      const it = scheduler.submit(request(prompt("queued"), { maxTokens: 5, choices: 4 }))[Symbol.asyncIterator]();
      expect(scheduler.stats().queueDepth).toBe(1);
      await it.return!();
      expect(scheduler.stats().queueDepth).toBe(0);
      await hold;
      await scheduler.whenIdle();
      expect(scheduler.stats().busySlots).toBe(0);
      expect(engine.liveSamplers).toBe(0);
    });

    test("a client that stops reading pauses every choice; reading again resumes them", async () => {
      const { scheduler, prompt } = setup({ slots: 3 });
      const it = scheduler.submit(request(prompt("slow reader"), { maxTokens: 300, choices: 3, sampling: WARM }))[Symbol.asyncIterator]();
      await it.next();
      const until = Date.now() + 2000;
      while (scheduler.stats().pausedSlots < 3 && Date.now() < until) await Bun.sleep(2);
      expect(scheduler.stats().pausedSlots).toBe(3);
      let last: TokenEvent | undefined;
      for (let r = await it.next(); !r.done; r = await it.next()) last = r.value;
      expect(last?.type === "done" && last.usage.completionTokens).toBe(900);
    });

    test("a decode failure fails the whole request and frees its slots; the scheduler keeps serving", async () => {
      const { engine, scheduler, prompt } = setup();
      const real = engine.decode.bind(engine);
      let calls = 0;
      engine.decode = async (items) => {
        if (++calls === 4) throw new Error("boom");
        return real(items);
      };
      const r = await choices(scheduler.submit(request(prompt("x"), { maxTokens: 20, choices: 3 })), 3);
      expect(r.done.finishReason).toBe("error");
      expect(r.done.error).toContain("boom");
      expect(scheduler.stats().busySlots).toBe(0);
      expect(engine.liveSamplers).toBe(0);
      const ok = await choices(scheduler.submit(request(prompt("x"), { maxTokens: 5, choices: 3 })), 3);
      expect(ok.done.finishReason).toBe("length");
    });

    test("a failed copy fails the request and frees every slot", async () => {
      const { engine, scheduler, prompt } = setup();
      engine.copySlot = async () => {
        throw new Error("no room");
      };
      const r = await choices(scheduler.submit(request(prompt("x"), { maxTokens: 5, choices: 2 })), 2);
      expect(r.done.finishReason).toBe("error");
      expect(r.done.error).toContain("no room");
      expect(scheduler.stats().busySlots).toBe(0);
      expect(engine.liveSamplers).toBe(0);
    });

    test("n beyond the slot count is refused at once", () => {
      const { scheduler, prompt } = setup({ slots: 2 });
      let thrown: unknown;
      try {
        scheduler.submit(request(prompt("x"), { choices: 3 }));
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(InferenceError);
      expect((thrown as InferenceError).code).toBe("invalid_request");
      expect(scheduler.stats().queueDepth).toBe(0);
    });
  });

  describe(`log-probabilities (${pipelined ? "pipelined" : "lockstep"})`, () => {
    beforeAll(() => void (mode = pipelined));
    const utf8 = new TextEncoder();
    const bytesOf = (engine: FakeEngine, entries: readonly TokenLogprobs[]) => new TextDecoder().decode(Uint8Array.from(entries.flatMap((e) => [...engine.tokenBytes(e.token)])));

    test("one entry per generated token, in step with each text event", async () => {
      const { engine, scheduler, prompt } = setup();
      const r = await collect(scheduler.submit(request(prompt("lp"), { maxTokens: 16, logprobs: 5 })));
      const entries: TokenLogprobs[] = [];
      for (const ev of r.events) {
        if (ev.type !== "text") continue;
        // Each event carries the entries of exactly the tokens its text completes.
        expect(bytesOf(engine, ev.logprobs ?? [])).toBe(ev.text);
        entries.push(...(ev.logprobs ?? []));
      }
      expect(entries).toHaveLength(16);
      for (const e of entries) {
        expect(e.top).toHaveLength(5);
        // Greedy: the sampled token is the most probable one, and its entry in the top list matches.
        expect(e.top[0]!.token).toBe(e.token);
        expect(e.top[0]!.logprob).toBe(e.logprob);
        for (let i = 1; i < e.top.length; i++) expect(e.top[i]!.logprob).toBeLessThanOrEqual(e.top[i - 1]!.logprob);
        expect(e.logprob).toBeLessThanOrEqual(0);
      }
    });

    test("the distribution is the one sampled from: top-k 3 at temperature > 0 leaves 3 candidates summing to 1", async () => {
      const { scheduler, prompt } = setup();
      const r = await choices(scheduler.submit(request(prompt("k"), { maxTokens: 12, logprobs: 20, sampling: { ...WARM, topK: 3, seed: 5 } })), 1);
      for (const e of r.entries[0]!) {
        expect(e.top).toHaveLength(3);
        expect(e.top.reduce((a, t) => a + Math.exp(t.logprob), 0)).toBeCloseTo(1, 9);
        expect(e.top.map((t) => t.token)).toContain(e.token);
        expect(e.top.find((t) => t.token === e.token)!.logprob).toBe(e.logprob);
      }
    });

    test("without logprobs no event carries entries", async () => {
      const { scheduler, prompt } = setup();
      const r = await collect(scheduler.submit(request(prompt("none"), { maxTokens: 8 })));
      expect(r.events.some((e) => e.type === "text" && e.logprobs)).toBe(false);
    });

    test("a token held as a stop-string prefix gets its entry when its text is released; a stop string's own tokens get none", async () => {
      const { engine, scheduler, prompt } = setup();
      const p = prompt("stops");
      const free = await collect(scheduler.submit(request(p, { maxTokens: 60 })));
      // A character that recurs: with "c\u0001" as a stop string, each "c" is held until the next token.
      const c = [...free.text].find((ch, i) => free.text.indexOf(ch) !== i && ch !== " ")!;
      const stop = free.text.slice(20, 23);
      const r = await collect(scheduler.submit(request(p, { maxTokens: 60, stop: [`${c}\u0001`, stop], logprobs: 0 })));
      expect(r.text).toBe(free.text.slice(0, free.text.indexOf(stop)));
      const entries: TokenLogprobs[] = [];
      for (const ev of r.events) {
        if (ev.type !== "text") continue;
        expect(bytesOf(engine, ev.logprobs ?? [])).toBe(ev.text);
        entries.push(...(ev.logprobs ?? []));
      }
      expect(bytesOf(engine, entries)).toBe(r.text);
      // The stop string's 3 tokens were generated (and counted) but have no entries.
      expect(r.done.usage.completionTokens).toBe(utf8.encode(r.text).length + 3);
    });

    test("tokens of a character split over several tokens get their entries with the character", async () => {
      const engine = new ScriptedEngine(new FakeEngine().tokenize("a你é", false), { slots: 2 });
      const scheduler = new Scheduler({ engine, maxQueue: 2 });
      const r = await collect(scheduler.submit(request(engine.tokenize("x", true), { maxTokens: 6, logprobs: 1 })));
      const texts = r.events.filter((e) => e.type === "text").map((e) => [e.text, e.logprobs?.length ?? 0]);
      expect(texts).toEqual([
        ["a", 1],
        ["你", 3],
        ["é", 2],
      ]);
    });

    test("each choice of an n > 1 request gets its own entries", async () => {
      const { engine, scheduler, prompt } = setup();
      const r = await choices(scheduler.submit(request(prompt("n lp"), { maxTokens: 10, choices: 3, logprobs: 2, sampling: { ...WARM, seed: 8 } })), 3);
      for (let i = 0; i < 3; i++) {
        expect(r.entries[i]).toHaveLength(10);
        expect(bytesOf(engine, r.entries[i]!)).toBe(r.texts[i]!);
      }
    });
  });
}

describe("the fake engine's distribution and copy (what the tests above rely on)", () => {
  test("probabilities are sorted, sum to 1, hold the sampled token, and greedy picks the first", async () => {
    const engine = new FakeEngine({ slots: 2, eosEvery: 5 });
    const greedy = engine.createSampler(GREEDY);
    const warm = engine.createSampler({ ...WARM, topK: 4, seed: 1 });
    const out = await engine.decode([
      { slot: 0, pos: 0, tokens: engine.tokenize("abc", true), sampler: greedy, probabilities: true },
      { slot: 1, pos: 0, tokens: engine.tokenize("abc", true), sampler: warm, probabilities: true },
    ]);
    const g = out[0]![0]!;
    const w = out[1]![0]!;
    for (const r of [g, w]) {
      const p = r.probabilities!;
      let sum = 0;
      for (let i = 1; i < p.length; i += 2) sum += p[i]!;
      expect(sum).toBeCloseTo(1, 12);
      for (let i = 3; i < p.length; i += 2) expect(p[i]!).toBeLessThanOrEqual(p[i - 2]!);
      expect(p.filter((_, i) => i % 2 === 0)).toContain(r.token);
    }
    expect(g.probabilities![0]).toBe(g.token);
    expect(g.probabilities!.length / 2).toBe(28); // 26 letters and the space, plus EOS
    expect(w.probabilities!.length / 2).toBe(4);
  });

  test("copySlot copies a slot's cells: the copy continues exactly like the original", async () => {
    const engine = new FakeEngine({ slots: 3 });
    const s = [0, 1].map(() => engine.createSampler(GREEDY));
    const prompt = engine.tokenize("copy me", true);
    await engine.decode([{ slot: 0, pos: 0, tokens: prompt }]);
    await engine.copySlot(0, [1]);
    expect(engine.slotLength(1)).toBe(prompt.length);
    const step = await engine.decode([0, 1].map((slot) => ({ slot, pos: prompt.length, tokens: [5], sampler: s[slot] })));
    expect(step[1]![0]!.token).toBe(step[0]![0]!.token);
    await expect(engine.copySlot(0, [0])).rejects.toThrow(/bad target/);
  });
});
