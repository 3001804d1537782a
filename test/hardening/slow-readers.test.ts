// Slow readers: a client streams a long completion and reads nothing. In process (so the
// HTTP server's stats() can be read), over real sockets, on a fake engine whose tokens are 32 KiB
// wide: loopback buffers here grow to tens of MB (tcp_rmem max 32 MiB), and the stream must
// outgrow them within a second or two before the server's own queue is tested.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RawClient } from "../helpers/raw-client.ts";
import { type InProcess, WideFakeEngine, percentile, postJson, startInProcess, waitUntil } from "../helpers/hardening.ts";

const HIGH_WATER = 64 * 1024;
const TOKEN_CHARS = 32 * 1024;
const WRITE_TIMEOUT_MS = 1500;
let w: InProcess;
beforeAll(() => {
  w = startInProcess({
    engine: new WideFakeEngine(TOKEN_CHARS, { slots: 3, slotContextSize: 40_000, batchSize: 64 }),
    http: { highWaterBytes: HIGH_WATER, writeTimeoutMs: WRITE_TIMEOUT_MS },
  });
});
afterAll(() => w.stop());

function streamRequest(maxTokens: number): string {
  const body = JSON.stringify({ prompt: "read me slowly", max_tokens: maxTokens, ignore_eos: true, stream: true });
  return `POST /generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}

/** A normal client: sequential short completions for `ms`; latencies of the ones that succeeded, and failures. */
async function normalClient(ms: number): Promise<{ latencies: number[]; failures: number }> {
  const latencies: number[] = [];
  let failures = 0;
  for (const until = Date.now() + ms; Date.now() < until; ) {
    const t0 = performance.now();
    const r = await postJson(`${w.url}/generate`, { prompt: "normal", max_tokens: 20, ignore_eos: true });
    const body = (await r.json()) as { data?: { tokens: number } };
    if (r.status === 200 && body.data?.tokens === 20) latencies.push(performance.now() - t0);
    else failures++;
  }
  return { latencies, failures };
}

describe("a client that streams a long completion and reads nothing", () => {
  test("its generation pauses, its buffered bytes stay under the high-water mark, the write timeout cancels it", async () => {
    const before = w.scheduler.stats();
    const c = await RawClient.connect(w.port);
    c.pause();
    c.send(streamRequest(30_000));
    let maxQueued = 0;
    const sample = setInterval(() => (maxQueued = Math.max(maxQueued, w.server.stats().queuedBytes)), 5);
    await waitUntil(() => w.scheduler.stats().pausedSlots === 1, "the reader's slot to pause", 10_000);
    const pausedAt = w.scheduler.stats().generatedTokens;
    await Bun.sleep(300);
    expect(w.scheduler.stats().generatedTokens - pausedAt).toBe(0);
    await waitUntil(() => c.isClosed, "the write timeout to drop the connection", WRITE_TIMEOUT_MS + 5000);
    clearInterval(sample);
    // The queue stops at the mark plus at most one frame (one token's text, chunk-framed).
    expect(maxQueued).toBeGreaterThan(HIGH_WATER / 2);
    expect(w.server.stats().peakQueuedBytes).toBeLessThan(HIGH_WATER + TOKEN_CHARS + 1024);
    await waitUntil(() => w.scheduler.stats().busySlots === 0, "the slot to be freed");
    const after = w.scheduler.stats();
    expect(after.requests.cancelled - before.requests.cancelled).toBe(1);
    expect(after.generatedTokens - before.generatedTokens).toBeLessThan(30_000);
    c.destroy();
  }, 20_000);

  test("other clients keep their throughput meanwhile", async () => {
    const alone = await normalClient(1000);
    const readers = await Promise.all([RawClient.connect(w.port), RawClient.connect(w.port)]);
    for (const c of readers) {
      c.pause();
      c.send(streamRequest(30_000));
    }
    await waitUntil(() => w.scheduler.stats().pausedSlots === 2, "both readers' slots to pause", 10_000);
    const beside = await normalClient(1000);
    expect([alone.failures, beside.failures]).toEqual([0, 0]);
    const rate = (n: number) => n / 1;
    console.log(`normal client: ${rate(alone.latencies.length)} req/s alone, ${rate(beside.latencies.length)} req/s beside 2 stalled readers ` +
      `(p50 ${percentile(alone.latencies, 50).toFixed(1)} -> ${percentile(beside.latencies, 50).toFixed(1)} ms)`);
    // Two of three slots are held by readers that read nothing, paused: the third serves about as
    // fast as alone (generous bound for a noisy 2-core machine).
    expect(beside.latencies.length).toBeGreaterThan(alone.latencies.length / 2);
    for (const c of readers) c.destroy();
    await waitUntil(() => w.scheduler.stats().busySlots === 0, "the readers' slots to be freed");
  }, 20_000);
});
