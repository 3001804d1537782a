// Soak (CI size; `bun bench/cli.ts soak` runs 20,000). Mixed requests (short, streamed,
// cancelled mid-stream, invalid, OpenAI, operations) against one server: no failures except the
// deliberate ones, no leaked work, and memory that stops growing after the warm-up.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { runSoak } from "../../bench/soak/run.ts";
import { FakeEngine } from "../../src/inference/engine-fake.ts";
import { metrics, startInProcess, tinyModel, waitUntil } from "../helpers/hardening.ts";
import { startWarren, type WarrenProcess } from "../helpers/warren-process.ts";

describe("soak: warren serve (the real CLI, tiny model), 4,000 mixed requests", () => {
  let w: WarrenProcess;
  beforeAll(async () => {
    // The run is 5x shorter than `bun bench/cli.ts soak`, so memory upkeep runs 10x as often (default 5 s).
    w = await startWarren(["--model", await tinyModel(), "--threads", "1", "--parallel", "4", "--gc-interval-ms", "500"]);
  }, 30_000);
  afterAll(() => w?.stop("SIGKILL"));

  test("no unexpected answer, no leaked work, RSS after the run within 10% of RSS after the first 1,000", async () => {
    const r = await runSoak({ url: w.url, pid: w.proc.pid, requests: 4000, concurrency: 8, seed: 1, warmup: 1000, sampleEvery: 100 });
    console.log(`soak: ${r.requests} requests in ${(r.ms / 1000).toFixed(1)} s; RSS ${(r.rssAfterWarmup! / 2 ** 20).toFixed(1)} MiB after warm-up, ` +
      `${(r.rssEnd! / 2 ** 20).toFixed(1)} MiB at the end (${(r.rssGrowth! * 100).toFixed(1)}%)`);
    expect(r.failures).toEqual([]);
    expect(r.requests).toBe(4000);
    for (const kind of Object.values(r.byKind)) expect(kind.count).toBeGreaterThan(100);
    await waitUntil(async () => {
      const m = await metrics(w.url);
      return m.warren_slots_busy === 0 && m.warren_queue_depth === 0;
    }, "slots and queue to drain");
    expect(r.rssGrowth!).toBeLessThan(0.1);
  }, 60_000);
});

describe("--gc-interval-ms: periodic full collections while busy, none while idle", () => {
  const gcLines = (log: string) => log.split("\n").filter((l) => / DEBUG gc: full collection in [\d.]+ ms, malloc_trim in [\d.]+ ms$/.test(l)).length;

  test("collects every interval while requests come, stops when they stop; 0 turns it off", async () => {
    const model = await tinyModel();
    const on = await startWarren(["--model", model, "--threads", "1", "--gc-interval-ms", "100", "--log-level", "debug"]);
    const off = await startWarren(["--model", model, "--threads", "1", "--gc-interval-ms", "0", "--log-level", "debug"]);
    try {
      for (const w of [on, off]) {
        for (let i = 0; i < 8; i++) {
          expect((await fetch(`${w.url}/health`)).status).toBe(200);
          await Bun.sleep(60);
        }
      }
      await waitUntil(async () => gcLines(on.log()) >= 2, "collections while busy");
      await Bun.sleep(250); // the collection for the last requests, if one is still due
      const settled = gcLines(on.log());
      await Bun.sleep(400); // idle: four intervals without a request
      expect(gcLines(on.log())).toBe(settled);
      expect(gcLines(off.log())).toBe(0);
    } finally {
      await on.stop("SIGKILL");
      await off.stop("SIGKILL");
    }
  }, 30_000);
});

describe("soak in process: the JS heap after GC", () => {
  const engine = new FakeEngine({ slots: 4, slotContextSize: 2048 });
  const w = startInProcess({ engine, maxQueue: 64 });
  afterAll(() => w.stop());
  // The fake engine logs every decode call for batching tests: drop the log, it is not the server's.
  const heap = () => {
    engine.decodeLog.length = 0;
    Bun.gc(true);
    return process.memoryUsage().heapUsed;
  };

  test("grows by less than 1 MiB over 2,500 requests after a 500-request warm-up (a leak of 400 bytes a request would show)", async () => {
    await runSoak({ url: w.url, requests: 500, concurrency: 8, seed: 2, warmup: 0, sampleEvery: 1000 });
    const before = heap();
    const r = await runSoak({ url: w.url, requests: 2500, concurrency: 8, seed: 3, warmup: 0, sampleEvery: 1000 });
    expect(r.failures).toEqual([]);
    const grew = heap() - before;
    console.log(`in-process soak: heap ${(before / 2 ** 20).toFixed(2)} MiB, ${grew >= 0 ? "+" : ""}${(grew / 1024).toFixed(0)} KiB over 2,500 requests`);
    expect(grew).toBeLessThan(2 ** 20);
    expect(w.scheduler.stats().busySlots).toBe(0);
    expect(w.server.stats().activeRequests).toBe(0);
  }, 60_000);
});
