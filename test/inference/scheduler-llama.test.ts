// The request options llama-server's API needs from the scheduler: max_tokens 0, a pinned slot,
// no prefix reuse, every token's id, the model's own distribution for logprobs, slot views.
import { describe, expect, test } from "bun:test";
import { FakeEngine } from "../../src/inference/engine-fake.ts";
import { Scheduler } from "../../src/inference/scheduler.ts";
import type { TokenEvent } from "../../src/inference/types.ts";
import { collect, GREEDY, request } from "../helpers/inference.ts";

function setup(opts: ConstructorParameters<typeof FakeEngine>[0] = {}) {
  const engine = new FakeEngine(opts);
  const scheduler = new Scheduler({ engine, maxQueue: 8 });
  return { engine, scheduler, prompt: (text: string) => engine.tokenize(text, true) };
}

describe("llama-server's request options in the scheduler", () => {
  test("max_tokens 0 evaluates the prompt into the slot and generates nothing; the next request reuses it", async () => {
    const { engine, scheduler, prompt } = setup({ slots: 1 });
    const p = prompt("a shared prefix");
    const warm = await collect(scheduler.submit(request(p, { maxTokens: 0 })));
    expect(warm.text).toBe("");
    expect(warm.done.finishReason).toBe("length");
    expect(warm.done.usage.completionTokens).toBe(0);
    expect(engine.slotLength(0)).toBe(p.length);
    const next = await collect(scheduler.submit(request([...p, ...prompt("!").slice(1)], { maxTokens: 2 })));
    expect(next.done.usage.cachedTokens).toBe(p.length);
  });

  test("max_tokens 0 takes one choice only", () => {
    const { scheduler, prompt } = setup();
    expect(() => scheduler.submit(request(prompt("x"), { maxTokens: 0, choices: 2 }))).toThrow(/max_tokens 0/);
  });

  test("a pinned slot is used, and a request for a busy slot waits for it even when another is free", async () => {
    const { scheduler, prompt } = setup({ slots: 2, decodeDelayMs: 1 });
    const log: string[] = [];
    const run = async (name: string, slot: number, maxTokens: number) => {
      for await (const ev of scheduler.submit(request(prompt(name), { maxTokens, slot }))) {
        if (ev.type === "started") log.push(`${name} started in ${ev.slot}`);
        if (ev.type === "done") log.push(`${name} done`);
      }
    };
    await Promise.all([run("first", 1, 6), run("second", 1, 2)]);
    expect(log).toEqual(["first started in 1", "first done", "second started in 1", "second done"]);
  });

  test("a slot outside the range is refused", () => {
    const { scheduler, prompt } = setup({ slots: 2 });
    expect(() => scheduler.submit(request(prompt("x"), { slot: 2 }))).toThrow(/slot 2/);
  });

  test("cachePrompt false evaluates the whole prompt again", async () => {
    const { scheduler, prompt } = setup({ slots: 1 });
    const p = prompt("the same prompt twice");
    await collect(scheduler.submit(request(p, { maxTokens: 1 })));
    const reused = await collect(scheduler.submit(request(p, { maxTokens: 1 })));
    expect(reused.done.usage.cachedTokens).toBe(p.length - 1);
    const fresh = await collect(scheduler.submit(request(p, { maxTokens: 1, cachePrompt: false })));
    expect(fresh.done.usage.cachedTokens).toBe(0);
    // Same logits from a fresh evaluation: the same token.
    expect(fresh.text).toBe(reused.text);
  });

  test("token ids cover every generated token: those inside a stop string and the end-of-generation token too", async () => {
    const { scheduler, prompt } = setup({ eosEvery: 5 });
    const plain = await collect(scheduler.submit(request(prompt("ids"), { maxTokens: 200, tokenIds: true })));
    const ids = plain.events.flatMap((e) => (e.type === "text" ? (e.ids ?? []) : []));
    expect(plain.done.finishReason).toBe("stop");
    expect(ids.length).toBe(plain.done.usage.completionTokens);
    expect(ids[ids.length - 1]).toBe(2);
    expect(plain.text.length).toBeGreaterThan(5);
    // A stop string made of the answer's 3rd to 5th characters: its tokens' ids still come.
    const stop = plain.text.slice(2, 5);
    const stopped = await collect(scheduler.submit(request(prompt("ids"), { maxTokens: 200, tokenIds: true, stop: [stop] })));
    expect(stopped.text).toBe(plain.text.slice(0, plain.text.indexOf(stop)));
    const stoppedIds = stopped.events.flatMap((e) => (e.type === "text" ? (e.ids ?? []) : []));
    expect(stoppedIds).toEqual(ids.slice(0, stopped.done.usage.completionTokens));
    expect(stoppedIds.length).toBeGreaterThan(new TextEncoder().encode(stopped.text).length);
  });

  test("logprobs from the model: the softmax of every candidate's logit, whatever the temperature and top-k", async () => {
    const { scheduler, prompt } = setup();
    const sampling = { ...GREEDY, temperature: 2, topK: 2, seed: 1 };
    const model = await collect(scheduler.submit(request(prompt("p"), { maxTokens: 4, sampling, logprobs: 5, logprobsFrom: "model" })));
    const sampler = await collect(scheduler.submit(request(prompt("p"), { maxTokens: 4, sampling, logprobs: 5 })));
    const entries = (c: typeof model) => c.events.flatMap((e) => (e.type === "text" ? (e.logprobs ?? []) : []));
    // The same tokens either way; the sampler's distribution has 2 candidates, the model's all of them.
    expect(entries(model).map((e) => e.token)).toEqual(entries(sampler).map((e) => e.token));
    for (const e of entries(sampler)) expect(e.top.length).toBe(2);
    for (const e of entries(model)) expect(e.top.length).toBe(5);
  });

  test("slot views: idle slots, and a busy one with its request and progress", async () => {
    const { scheduler, prompt } = setup({ slots: 2, decodeDelayMs: 2 });
    const p = prompt("watch me");
    const events: TokenEvent[] = [];
    const run = (async () => {
      for await (const ev of scheduler.submit(request(p, { id: "watched", maxTokens: 50 }))) events.push(ev);
    })();
    while (!events.some((e) => e.type === "text")) await Bun.sleep(1);
    const views = scheduler.slotViews();
    const busy = views.find((v) => v.job)!;
    expect(views.filter((v) => !v.job).length).toBe(1);
    expect(busy.state).toBe("generating");
    expect(busy.job!.req.id).toBe("watched");
    expect(busy.job!.promptEvaluated).toBe(p.length);
    expect(busy.job!.generated).toBeGreaterThan(0);
    await run;
    expect(scheduler.slotViews().every((v) => !v.job && v.state === "idle")).toBe(true);
  });
});
