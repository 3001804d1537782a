// --threads auto: the tuner measures each candidate on the engine and keeps the best aggregate rate.
// A fake engine whose step time depends on the thread count stands in for a model, so the choice
// is the test's to set: the real models' choices are measured by bench/threads.ts.
import { describe, expect, test } from "bun:test";
import type { BatchItem } from "../../src/inference/engine.ts";
import { FakeEngine } from "../../src/inference/engine-fake.ts";
import { TUNE_BUDGET_MS, tuneThreads } from "../../src/inference/threads.ts";

/** Step time in ms for a thread count and a batch width. */
type Cost = (threads: number, width: number) => number;

class TimedEngine extends FakeEngine {
  steps = 0;
  clock = 0;
  constructor(private readonly cost: Cost) {
    super({ slots: 4, slotContextSize: 512, batchSize: 64 });
  }
  override async decode(items: readonly BatchItem[]) {
    this.steps++;
    this.clock += this.cost(this.threads, items.length);
    return super.decode(items);
  }
}

async function tune(cost: Cost, candidates = [1, 2, 3, 4]) {
  const engine = new TimedEngine(cost);
  const result = await tuneThreads(engine, candidates, () => engine.clock);
  return { engine, result };
}

describe("tuneThreads", () => {
  test("a model whose steps gain from threads: the most threads that pay off", async () => {
    // Like the 100M preset: the step is matrix work that splits across threads, up to 3.
    const { engine, result } = await tune((t, w) => (4 + w) / Math.min(t, 3));
    expect(result.threads).toBe(3);
    expect(engine.threads).toBe(3);
    expect(result.rates.map((r) => r.threads)).toEqual([1, 2, 3, 4]);
    expect(result.rates[2]!.batch).toBeGreaterThan(result.rates[0]!.batch * 2.5);
  });

  test("a tiny model where every extra thread only adds barrier cost: 1", async () => {
    const { result } = await tune((t, w) => 0.05 * w + 0.2 * (t - 1));
    expect(result.threads).toBe(1);
  });

  test("within 5%, fewer threads win (the JS thread needs a core too)", async () => {
    const { result } = await tune((t) => (t === 1 ? 1 : 0.97));
    expect(result.threads).toBe(1);
  });

  test("a count that takes every core must win by 25%: the JS thread and the client need those cores under load", async () => {
    // 4 cores: 4 threads 20% faster than 3 is not enough; 3 threads 20% faster than 2 is.
    const steps: Record<number, number> = { 1: 3, 2: 2, 3: 2 / 1.2, 4: 2 / 1.2 / 1.2 };
    expect((await tune((t) => steps[t]!)).result.threads).toBe(3);
    // 30% faster on every core is enough.
    steps[4] = 2 / 1.2 / 1.3;
    expect((await tune((t) => steps[t]!)).result.threads).toBe(4);
  });

  test("a count that wins with every slot busy but loses with one sequence does not win", async () => {
    // Batch steps split across threads; a single sequence pays the synchronisation alone.
    const { result } = await tune((t, w) => (w === 1 ? 1 + 0.1 * t : 8 / t), [1, 2]);
    expect(result.threads).toBe(1);
  });

  test("bounded: each measurement stops at its budget, and every slot is left empty", async () => {
    const { engine, result } = await tune(() => 7);
    // Per candidate and width: prompt, warm-up, then steps until the budget is spent (the last one crosses it).
    const perMeasurement = 2 + Math.ceil(TUNE_BUDGET_MS / 7);
    expect(engine.steps).toBe(4 * 2 * perMeasurement);
    expect(result.ms).toBe(engine.clock);
    for (let s = 0; s < engine.slots; s++) expect(engine.slotLength(s)).toBe(0);
    expect(engine.liveSamplers).toBe(0);
  });
});
