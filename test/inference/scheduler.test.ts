import { beforeAll, describe, expect, test } from "bun:test";
import { FakeEngine } from "../../src/inference/engine-fake.ts";
import { Scheduler, type SchedulerOptions } from "../../src/inference/scheduler.ts";
import { InferenceError, type TokenEvent } from "../../src/inference/types.ts";
import { collect, request } from "../helpers/inference.ts";

/** Set per run of the suite: lockstep (decode() a step at a time), then pipelined (steps run ahead as on a decode thread). */
let mode = false;

function setup(engineOpts: ConstructorParameters<typeof FakeEngine>[0] = {}, opts: Partial<SchedulerOptions> = {}) {
  const engine = new FakeEngine({ pipelined: mode, ...engineOpts });
  const scheduler = new Scheduler({ engine, maxQueue: 8, ...opts });
  const prompt = (text: string) => engine.tokenize(text, true);
  return { engine, scheduler, prompt };
}

for (const pipelined of [false, true]) {
  describe(`scheduler (${pipelined ? "pipelined" : "lockstep"})`, () => {
    beforeAll(() => void (mode = pipelined));
    test("max_tokens is honoured exactly", async () => {
      const { scheduler, prompt } = setup();
      const r = await collect(scheduler.submit(request(prompt("hi"), { maxTokens: 7 })));
      expect(r.done.finishReason).toBe("length");
      expect(r.done.usage.completionTokens).toBe(7);
      expect(new TextEncoder().encode(r.text).length).toBe(7); // one byte per fake token
    });

    test("queued requests start in FIFO order", async () => {
      const { scheduler, prompt } = setup({ slots: 1 });
      const order: string[] = [];
      const runs = ["a", "b", "c", "d"].map(async (id) => {
        for await (const ev of scheduler.submit(request(prompt(id), { id, maxTokens: 3 }))) if (ev.type === "started") order.push(id);
      });
      await Promise.all(runs);
      expect(order).toEqual(["a", "b", "c", "d"]);
    });

    test("a full queue refuses at once with queue_full", async () => {
      const { scheduler, prompt } = setup({ slots: 1, decodeDelayMs: 2 }, { maxQueue: 1 });
      const a = collect(scheduler.submit(request(prompt("a"), { maxTokens: 5 })));
      const b = collect(scheduler.submit(request(prompt("b"), { maxTokens: 5 })));
      let thrown: unknown;
      try {
        scheduler.submit(request(prompt("c")));
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(InferenceError);
      expect((thrown as InferenceError).code).toBe("queue_full");
      expect(scheduler.stats().rejected).toBe(1);
      await Promise.all([a, b]);
      // Room again once the queue drained.
      await collect(scheduler.submit(request(prompt("d"), { maxTokens: 2 })));
    });

    test("prompt + max_tokens beyond the slot context is refused, naming both numbers", () => {
      const { scheduler, prompt } = setup({ slotContextSize: 32 });
      expect(() => scheduler.submit(request(prompt("x".repeat(20)), { maxTokens: 20 }))).toThrow(/21 tokens.*20.*32/);
    });

    test("cancellation stops within one token, frees the slot and clears its cells", async () => {
      const { engine, scheduler, prompt } = setup({ slots: 1, decodeDelayMs: 1 });
      const ac = new AbortController();
      const events: TokenEvent[] = [];
      let tokensAtAbort = -1;
      const run = (async () => {
        for await (const ev of scheduler.submit(request(prompt("long"), { maxTokens: 400, signal: ac.signal }))) {
          events.push(ev);
          if (ev.type === "text" && ev.tokens === 10) {
            tokensAtAbort = ev.tokens;
            ac.abort();
          }
        }
      })();
      await run;
      const done = events.at(-1) as Extract<TokenEvent, { type: "done" }>;
      expect(done.finishReason).toBe("cancelled");
      expect(done.usage.completionTokens - tokensAtAbort).toBeLessThanOrEqual(1);
      expect(scheduler.stats().busySlots).toBe(0);
      expect(engine.slotLength(0)).toBe(0);
      expect(engine.liveSamplers).toBe(0);
      // The freed slot serves the next request.
      const next = await collect(scheduler.submit(request(prompt("next"), { maxTokens: 3 })));
      expect(next.done.finishReason).toBe("length");
    });

    test("leaving the stream early (client gone) cancels the request", async () => {
      const { scheduler, prompt } = setup({ slots: 1, decodeDelayMs: 1 });
      for await (const ev of scheduler.submit(request(prompt("x"), { maxTokens: 400 }))) if (ev.type === "text") break;
      await scheduler.whenIdle();
      expect(scheduler.stats().requests.cancelled).toBe(1);
      expect(scheduler.stats().busySlots).toBe(0);
    });

    test("a queued request that is cancelled leaves the queue at once", async () => {
      const { scheduler, prompt } = setup({ slots: 1, decodeDelayMs: 2 });
      const a = collect(scheduler.submit(request(prompt("a"), { maxTokens: 20 })));
      await Bun.sleep(1); // let "a" take the slot
      const ac = new AbortController();
      const b = collect(scheduler.submit(request(prompt("b"), { maxTokens: 20, signal: ac.signal })));
      expect(scheduler.stats().queueDepth).toBe(1);
      ac.abort();
      expect(scheduler.stats().queueDepth).toBe(0);
      expect((await b).done.finishReason).toBe("cancelled");
      expect((await a).done.finishReason).toBe("length");
    });

    test("one client's cancel never changes another's tokens", async () => {
      const { scheduler, prompt } = setup({ slots: 2, decodeDelayMs: 1 });
      const solo = await collect(scheduler.submit(request(prompt("same prompt"), { maxTokens: 40 })));
      const ac = new AbortController();
      const victim = (async () => {
        for await (const ev of scheduler.submit(request(prompt("same prompt"), { maxTokens: 40, signal: ac.signal }))) {
          if (ev.type === "text" && ev.tokens === 5) ac.abort();
        }
      })();
      const other = collect(scheduler.submit(request(prompt("same prompt"), { maxTokens: 40 })));
      await victim;
      expect((await other).text).toBe(solo.text);
    });

    test("concurrent requests are decoded in the same batch", async () => {
      const { engine, scheduler, prompt } = setup({ slots: 4 });
      await Promise.all([1, 2, 3, 4].map((i) => collect(scheduler.submit(request(prompt(`p${i}`), { maxTokens: 20 })))));
      const widest = Math.max(...engine.decodeLog.map((items) => items.length));
      expect(widest).toBe(4);
      // 4 x 20 tokens in far fewer than 80 decode calls.
      expect(scheduler.stats().decodeCalls).toBeLessThan(30);
    });

    test("a short request starts and ends while a long one keeps running", async () => {
      const { scheduler, prompt } = setup({ slots: 2, decodeDelayMs: 1 });
      let longDone = false;
      const long = collect(scheduler.submit(request(prompt("long"), { maxTokens: 200 }))).then((r) => ((longDone = true), r));
      await Bun.sleep(5);
      const short = await collect(scheduler.submit(request(prompt("short"), { maxTokens: 3 })));
      expect(short.done.finishReason).toBe("length");
      expect(longDone).toBe(false);
      await long;
    });

    test("prompts longer than the batch are evaluated in chunks", async () => {
      const { engine, scheduler, prompt } = setup({ slots: 2, batchSize: 8 });
      const r = await collect(scheduler.submit(request(prompt("a prompt of thirty bytes......"), { maxTokens: 4 })));
      expect(r.done.usage.completionTokens).toBe(4);
      for (const items of engine.decodeLog) expect(items.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(8);
    });

    test("a repeated prompt reuses the slot's cached prefix and gives the same tokens", async () => {
      const { scheduler, prompt } = setup({ slots: 2 });
      const p = prompt("a long shared system prompt, then a question");
      const first = await collect(scheduler.submit(request(p, { maxTokens: 10 })));
      const second = await collect(scheduler.submit(request(p, { maxTokens: 10 })));
      expect(first.done.usage.cachedTokens).toBe(0);
      expect(second.done.usage.cachedTokens).toBe(p.length - 1);
      expect(second.text).toBe(first.text);
      // A prompt sharing only a prefix reuses that much.
      const third = await collect(scheduler.submit(request(prompt("a long shared system prompt, but another"), { maxTokens: 5 })));
      expect(third.done.usage.cachedTokens).toBe(prompt("a long shared system prompt, ").length);
    });

    test("stop strings end generation and are not emitted", async () => {
      const { scheduler, prompt } = setup();
      const p = prompt("stop test");
      const free = await collect(scheduler.submit(request(p, { maxTokens: 40 })));
      const stop = free.text.slice(10, 13);
      const cut = free.text.indexOf(stop);
      const r = await collect(scheduler.submit(request(p, { maxTokens: 40, stop: [stop] })));
      expect(r.done.finishReason).toBe("stop");
      expect(r.text).toBe(free.text.slice(0, cut));
    });

    test("EOS ends with finish reason stop unless ignore_eos", async () => {
      const { scheduler, prompt } = setup({ eosEvery: 7 });
      const r = await collect(scheduler.submit(request(prompt("eos"), { maxTokens: 300 })));
      expect(r.done.finishReason).toBe("stop");
      expect(r.done.usage.completionTokens).toBeLessThan(300);
      const ignored = await collect(scheduler.submit(request(prompt("eos"), { maxTokens: 300, ignoreEos: true })));
      expect(ignored.done.finishReason).toBe("length");
      expect(ignored.done.usage.completionTokens).toBe(300);
    });

    test("queue timeout ends a request that waited too long", async () => {
      const { scheduler, prompt } = setup({ slots: 1, decodeDelayMs: 2 });
      const a = collect(scheduler.submit(request(prompt("a"), { maxTokens: 50 })));
      const b = await collect(scheduler.submit(request(prompt("b"), { maxTokens: 5, queueTimeoutMs: 10 })));
      expect(b.done.finishReason).toBe("error");
      expect(b.done.error).toMatch(/queue/);
      await a;
    });

    test("an engine failure ends the batch's requests with an error and the scheduler keeps serving", async () => {
      const { engine, scheduler, prompt } = setup({ slots: 2 });
      const real = engine.decode.bind(engine);
      let fail = true;
      engine.decode = async (items) => {
        if (fail) {
          fail = false;
          throw new Error("boom");
        }
        return real(items);
      };
      const r = await collect(scheduler.submit(request(prompt("x"), { maxTokens: 5 })));
      expect(r.done.finishReason).toBe("error");
      expect(r.done.error).toContain("boom");
      const ok = await collect(scheduler.submit(request(prompt("x"), { maxTokens: 5 })));
      expect(ok.done.finishReason).toBe("length");
    });

    test("seeded sampling is reproducible and differs from greedy", async () => {
      const { scheduler, prompt } = setup();
      const sampling = { temperature: 0.8, topK: 40, topP: 0.95, minP: 0, repeatPenalty: 1, presencePenalty: 0, frequencyPenalty: 0, penaltyLastN: 64 };
      const a = await collect(scheduler.submit(request(prompt("s"), { maxTokens: 20, sampling: { ...sampling, seed: 7 } })));
      const b = await collect(scheduler.submit(request(prompt("s"), { maxTokens: 20, sampling: { ...sampling, seed: 7 } })));
      const g = await collect(scheduler.submit(request(prompt("s"), { maxTokens: 20 })));
      expect(a.text).toBe(b.text);
      expect(a.text).not.toBe(g.text);
    });

    test("a reader that stops reading pauses its slot; reading on gives the tokens it would have had", async () => {
      const { scheduler, prompt } = setup({ slots: 2 });
      const sampling = { temperature: 0.9, topK: 0, topP: 1, minP: 0, repeatPenalty: 1, presencePenalty: 0, frequencyPenalty: 0, penaltyLastN: 64, seed: 11 };
      const req = () => request(prompt("a slow reader"), { maxTokens: 300, sampling });
      const solo = await collect(scheduler.submit(req()));
      const it = scheduler.submit(req())[Symbol.asyncIterator]();
      await it.next();
      const until = Date.now() + 2000;
      while (scheduler.stats().pausedSlots < 1 && Date.now() < until) await Bun.sleep(2);
      expect(scheduler.stats().pausedSlots).toBe(1);
      // A seeded sampler draws in order: a token lost, repeated or drawn and dropped around the pause changes the rest.
      let text = "";
      for (let r = await it.next(); !r.done; r = await it.next()) if (r.value.type === "text") text += r.value.text;
      expect(text).toBe(solo.text);
    });

    test("a request queued behind one that ends early takes the slot only once the engine is done with it", async () => {
      const { scheduler, prompt } = setup({ slots: 1 });
      const solo = await collect(scheduler.submit(request(prompt("the next one"), { maxTokens: 30 })));
      const free = await collect(scheduler.submit(request(prompt("x"), { maxTokens: 30 })));
      // Ended by a stop string after a few tokens, then by a cancel: either way the engine may have gone ahead.
      const stopped = collect(scheduler.submit(request(prompt("x"), { maxTokens: 30, stop: [free.text.slice(3, 5)] })));
      const after = collect(scheduler.submit(request(prompt("the next one"), { maxTokens: 30 })));
      expect((await stopped).done.finishReason).toBe("stop");
      expect((await after).text).toBe(solo.text);
      const ac = new AbortController();
      const cancelled = (async () => {
        for await (const ev of scheduler.submit(request(prompt("x"), { maxTokens: 30, signal: ac.signal }))) if (ev.type === "text" && ev.tokens === 3) ac.abort();
      })();
      const again = collect(scheduler.submit(request(prompt("the next one"), { maxTokens: 30 })));
      await cancelled;
      expect((await again).text).toBe(solo.text);
    });

    test("close() refuses new work and resolves when running work ends", async () => {
      const { scheduler, prompt } = setup({ slots: 1, decodeDelayMs: 1 });
      const a = collect(scheduler.submit(request(prompt("a"), { maxTokens: 10 })));
      const closed = scheduler.close();
      expect(() => scheduler.submit(request(prompt("b")))).toThrow(/shutting down/);
      await closed;
      expect((await a).done.finishReason).toBe("length");
    });
  });
}
