// The model registry over fake engines: routing by name, load on demand, LRU eviction under the
// memory budget and the model count, never unloading a model a request holds, keep-alive, failures.
import { describe, expect, test } from "bun:test";
import { roomFor } from "../../src/inference/room.ts";
import { InferenceError } from "../../src/inference/types.ts";
import { collect, request } from "../helpers/inference.ts";
import { harness, statuses, type Harness } from "../helpers/registry.ts";

/** Runs one greedy request on `name` to its end; its text. */
async function ask(h: Harness, name: string | undefined, keepAliveMs?: number): Promise<string> {
  const lease = await h.registry.acquire(name, keepAliveMs);
  try {
    const tokens = lease.scheduler.engine.tokenize("hello", true);
    return (await collect(lease.submit(request(tokens, { maxTokens: 40 })))).text;
  } finally {
    lease.release();
  }
}

async function refusal(p: Promise<unknown>): Promise<InferenceError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof InferenceError) return err;
    throw err;
  }
  throw new Error("expected an InferenceError");
}

describe("routing and load on demand", () => {
  test("each name reaches its own model, loaded on its first request; no name means the first", async () => {
    const h = harness(["a", "b", "c"]);
    expect(statuses(h)).toEqual({ a: "unloaded", b: "unloaded", c: "unloaded" });
    expect(await ask(h, "b")).toBe("I am b.");
    expect(await ask(h, "c")).toBe("I am c.");
    expect(await ask(h, undefined)).toBe("I am a.");
    expect(h.loads).toEqual(["b", "c", "a"]);
    expect(statuses(h)).toEqual({ a: "loaded", b: "loaded", c: "loaded" });
  });

  test("an unknown name is model_not_found naming every model; a single model takes any name", async () => {
    const h = harness(["a", "b"]);
    const err = await refusal(ask(h, "zzz"));
    expect(err.code).toBe("model_not_found");
    expect(err.param).toBe("model");
    expect(err.message).toContain("'zzz' does not exist");
    expect(err.message).toContain("a, b");
    const one = harness(["solo"]);
    expect(one.registry.single).toBe(true);
    expect(await ask(one, "gpt-4o")).toBe("I am solo.");
  });

  test("requests that come while a model loads wait for that one load", async () => {
    const h = harness(["a"]);
    let open!: () => void;
    h.gate = new Promise((r) => (open = r));
    const answers = Promise.all([ask(h, "a"), ask(h, "a"), ask(h, "a")]);
    await Bun.sleep(20);
    expect(statuses(h).a).toBe("loading");
    expect(h.registry.find("a").holds).toBe(3);
    open();
    expect(await answers).toEqual(["I am a.", "I am a.", "I am a."]);
    expect(h.loads).toEqual(["a"]);
  });

  test("a model's loading queue is bounded by its slots and --max-queue", async () => {
    const h = harness(["a"], { settings: { parallel: 1, maxQueue: 1 } });
    let open!: () => void;
    h.gate = new Promise((r) => (open = r));
    const waiting = [ask(h, "a"), ask(h, "a")];
    await Bun.sleep(10);
    expect((await refusal(ask(h, "a"))).code).toBe("queue_full");
    open();
    await Promise.all(waiting);
  });

  test("one model's slow load does not hold up another model's tokens", async () => {
    const h = harness(["a", "b"]);
    await ask(h, "a");
    let open!: () => void;
    h.gate = new Promise((r) => (open = r));
    const slow = ask(h, "b");
    expect(await ask(h, "a")).toBe("I am a.");
    expect(statuses(h).b).toBe("loading");
    open();
    expect(await slow).toBe("I am b.");
  });
});

describe("eviction", () => {
  test("--models-max 2: a third model unloads the least recently used idle one", async () => {
    const h = harness(["a", "b", "c"], { maxLoaded: 2 });
    await ask(h, "a");
    await ask(h, "b");
    await ask(h, "a");
    await ask(h, "c");
    expect(statuses(h)).toEqual({ a: "loaded", b: "unloaded", c: "loaded" });
    expect(h.disposed).toEqual(["b"]);
    expect(h.registry.find("b").totals.unloads.room).toBe(1);
    expect(h.engines.get("b")!.disposed).toBe(true);
    expect(h.violations).toEqual([]);
  });

  test("the memory budget: as many idle models are unloaded, oldest first, as the new one needs", async () => {
    const h = harness(["a", "b", "c", "big"], { budget: 100, bytes: { a: 30, b: 30, c: 30, big: 55 } });
    for (const n of ["a", "b", "c"]) await ask(h, n);
    expect(statuses(h)).toMatchObject({ a: "loaded", b: "loaded", c: "loaded" });
    await ask(h, "big");
    expect(h.disposed).toEqual(["a", "b"]);
    expect(statuses(h)).toEqual({ a: "unloaded", b: "unloaded", c: "loaded", big: "loaded" });
    expect(h.registry.find("big").bytes).toBe(55);
  });

  test("a model larger than the whole budget is refused naming the budget, and marked failed", async () => {
    const h = harness(["a", "huge"], { budget: 100, bytes: { huge: 150 } });
    await ask(h, "a");
    const err = await refusal(ask(h, "huge"));
    expect(err.code).toBe("model_over_budget");
    expect(err.message).toMatch(/needs 1 MiB .* but the memory budget is 1 MiB \(the test's budget\)/);
    expect(statuses(h)).toEqual({ a: "loaded", huge: "failed" });
    expect(h.disposed).toEqual([]);
  });

  test("a host with less memory now than the budget allows: the load is refused, not attempted", async () => {
    let free = 5;
    const h = harness(["a"], { budget: 100, bytes: { a: 20 }, hostProblem: (bytes) => (bytes > free ? `the host has only ${free} bytes available now` : undefined) });
    const err = await refusal(ask(h, "a"));
    expect(err.code).toBe("model_over_budget");
    expect(err.message).toBe("cannot load model 'a' (1 MiB): the host has only 5 bytes available now");
    expect(h.loads).toEqual([]);
    expect(h.registry.find("a").bytes).toBe(0);
    free = 50;
    expect(await ask(h, "a")).toBe("I am a.");
  });

  test("roomFor: LRU first, busy ones never, undefined when even every idle one would not do", () => {
    const m = (bytes: number, idle: boolean, lastUsed: number) => ({ bytes, idle, lastUsed });
    const [old, mid, busy] = [m(40, true, 1), m(40, true, 2), m(40, false, 0)];
    expect(roomFor([mid, old, busy], 10, { bytes: 200, maxLoaded: 0 })).toEqual([]);
    expect(roomFor([mid, old, busy], 50, { bytes: 150, maxLoaded: 0 })).toEqual([old]);
    expect(roomFor([mid, old, busy], 10, { bytes: 200, maxLoaded: 2 })).toEqual([old, mid]);
    expect(roomFor([mid, old, busy], 150, { bytes: 150, maxLoaded: 0 })).toBeUndefined();
    expect(roomFor([busy], 10, { bytes: 200, maxLoaded: 1 })).toBeUndefined();
  });
});

describe("a model a request holds is never unloaded", () => {
  test("a streaming request keeps its model (the LRU one) loaded: the idle one goes instead", async () => {
    const h = harness(["a", "b", "c"], { maxLoaded: 2, decodeDelayMs: 3, reply: (n) => `${n} `.repeat(30) });
    const lease = await h.registry.acquire("a");
    const stream = lease.submit(request(lease.scheduler.engine.tokenize("x", true), { maxTokens: 60 }));
    lease.release();
    const reading = collect(stream);
    await ask(h, "b");
    await ask(h, "c");
    expect(statuses(h)).toEqual({ a: "loaded", b: "unloaded", c: "loaded" });
    expect((await reading).text).toBe("a ".repeat(30));
    expect(h.violations).toEqual([]);
  });

  test("with every loaded model busy a load waits for one to go idle, then takes its place", async () => {
    const h = harness(["a", "b"], { maxLoaded: 1, decodeDelayMs: 2, reply: (n) => `${n}`.repeat(40) });
    const lease = await h.registry.acquire("a");
    const reading = collect(lease.submit(request(lease.scheduler.engine.tokenize("x", true), { maxTokens: 40 })));
    lease.release();
    const other = ask(h, "b");
    await Bun.sleep(20);
    expect(statuses(h)).toEqual({ a: "loaded", b: "loading" });
    expect((await reading).text).toBe("a".repeat(40));
    expect(await other).toBe("b".repeat(40));
    expect(h.disposed).toEqual(["a"]);
    expect(h.violations).toEqual([]);
  });

  test("waiting for room ends after roomWaitMs with model_over_budget naming the busy models", async () => {
    const h = harness(["a", "b"], { maxLoaded: 1, roomWaitMs: 50 });
    const lease = await h.registry.acquire("a");
    const err = await refusal(ask(h, "b"));
    expect(err.code).toBe("model_over_budget");
    expect(err.message).toContain("--models-max 1");
    expect(err.message).toContain("a (1 in flight)");
    lease.release();
    expect(await ask(h, "b")).toBe("I am b.");
  });

  test("a reader that leaves a stream early releases its model", async () => {
    const h = harness(["a"], { decodeDelayMs: 2, reply: () => "z".repeat(100) });
    const lease = await h.registry.acquire("a");
    const stream = lease.submit(request(lease.scheduler.engine.tokenize("x", true), { maxTokens: 100 }));
    lease.release();
    for await (const ev of stream) if (ev.type === "text") break;
    expect(h.registry.find("a").holds).toBe(0);
    await h.registry.unload("a");
    expect(h.violations).toEqual([]);
  });

  test("race: many requests over three models, two loaded at a time; no model is ever freed under one", async () => {
    const h = harness(["a", "b", "c"], { maxLoaded: 2, decodeDelayMs: 1, roomWaitMs: 10_000, reply: (n) => n.repeat(8), settings: { maxQueue: 64 } });
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
    const runs = Array.from({ length: 60 }, async (_, i) => {
      await Bun.sleep(rnd(30));
      const name = "abc"[rnd(3)]!;
      const lease = await h.registry.acquire(name);
      const stream = lease.submit(request(lease.scheduler.engine.tokenize(`r${i}`, true), { maxTokens: 8 }));
      // Most release the lease before reading (the stream alone holds the model), some after.
      if (i % 4 !== 0) lease.release();
      const { text } = await collect(stream);
      lease.release();
      return text === name.repeat(8);
    });
    expect((await Promise.all(runs)).every(Boolean)).toBe(true);
    expect(h.violations).toEqual([]);
    expect(h.disposed.length).toBeGreaterThan(0);
    const loaded = Object.values(statuses(h)).filter((s) => s === "loaded").length;
    expect(loaded).toBeLessThanOrEqual(2);
  }, 30_000);
});

describe("keep-alive, unload and failures", () => {
  test("an idle model unloads after its keep-alive; a request's keep_alive 0 unloads right after it", async () => {
    const h = harness(["a", "b"], { settings: { keepAliveMs: 400 } });
    await ask(h, "a");
    await ask(h, "b", Infinity);
    expect(statuses(h)).toEqual({ a: "loaded", b: "loaded" });
    await Bun.sleep(800);
    expect(statuses(h)).toEqual({ a: "unloaded", b: "loaded" });
    expect(h.registry.find("a").totals.unloads.idle).toBe(1);
    await ask(h, "b", 0);
    await Bun.sleep(10);
    expect(statuses(h).b).toBe("unloaded");
    expect(h.violations).toEqual([]);
  });

  test("unload: refused while held, done when idle; counts survive a reload", async () => {
    const h = harness(["a"]);
    await ask(h, "a");
    const lease = await h.registry.acquire("a");
    expect((await refusal(h.registry.unload("a"))).code).toBe("model_busy");
    lease.release();
    expect((await h.registry.unload("a")).status).toBe("unloaded");
    const before = h.registry.find("a").totals.scheduler.generatedTokens;
    // The reply's characters (one token each) and the end-of-generation token.
    expect(before).toBe("I am a.".length + 1);
    await ask(h, "a");
    expect(h.registry.find("a").totals.scheduler.generatedTokens).toBe(2 * before);
    expect(h.registry.totals().generatedTokens).toBe(2 * before);
    expect(h.registry.find("a").totals.loads).toBe(2);
  });

  test("a load that fails marks the model failed with its reason; the others serve; the next request tries again", async () => {
    const h = harness(["a", "bad"]);
    h.broken.add("bad");
    const err = await refusal(ask(h, "bad"));
    expect(err.code).toBe("model_load_failed");
    expect(err.message).toBe("cannot load model 'bad': broken file");
    expect(h.registry.find("bad")).toMatchObject({ status: "failed", error: "cannot load model 'bad': broken file" });
    expect(await ask(h, "a")).toBe("I am a.");
    const plans = h.plans;
    h.broken.delete("bad");
    expect(await ask(h, "bad")).toBe("I am bad.");
    expect(h.plans).toBe(plans + 1);
    expect(h.registry.find("bad").error).toBeUndefined();
  });

  test("close refuses new requests and frees every loaded model", async () => {
    const h = harness(["a", "b"]);
    await ask(h, "a");
    expect(await h.registry.close(1000)).toEqual([]);
    expect(h.engines.get("a")!.disposed).toBe(true);
    expect((await refusal(ask(h, "b"))).code).toBe("shutting_down");
  });
});
