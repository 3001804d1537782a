// Slow clients (slowloris and slow bodies) against the real CLI with short timeouts:
// they are cut off with 408, and 200 of them at once do not stop normal clients being served.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RawClient } from "../helpers/raw-client.ts";
import { percentile, postJson, tinyModel } from "../helpers/hardening.ts";
import { startWarren, type WarrenProcess } from "../helpers/warren-process.ts";

let w: WarrenProcess;
let port: number;
beforeAll(async () => {
  w = await startWarren(["--model", await tinyModel(), "--threads", "1", "--parallel", "2", "--log-level", "info",
    "--header-timeout-ms", "500", "--body-timeout-ms", "500"]);
  port = Number(new URL(w.url).port);
}, 30_000);
afterAll(() => w?.stop("SIGKILL"));

const code = (r: { json: unknown }) => (r.json as { error: { code: string } }).error.code;

describe("slow clients are cut off", () => {
  test("a head sent one byte per second: 408 header_timeout after --header-timeout-ms, then close", async () => {
    const c = await RawClient.connect(port);
    const t0 = Date.now();
    void c.trickle("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n", 1, 1000);
    const r = await c.readResponse({ timeoutMs: 5000 });
    expect([r.status, code(r), r.headers.connection]).toEqual([408, "header_timeout", "close"]);
    // 500 ms plus at most one sweep period (a quarter of the shortest timeout) and scheduling noise.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(await c.waitClosed(3000)).toBe(true);
  });

  test("a body sent one byte per second: 408 body_timeout, and the request never reaches the model", async () => {
    const body = JSON.stringify({ prompt: "slow", max_tokens: 2 });
    const c = await RawClient.connect(port);
    c.send(`POST /generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    const t0 = Date.now();
    void c.trickle(body, 1, 1000);
    const r = await c.readResponse({ timeoutMs: 5000 });
    expect([r.status, code(r)]).toEqual([408, "body_timeout"]);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(await c.waitClosed(3000)).toBe(true);
  });

  test("a body whose bytes keep coming within the timeout is not cut off", async () => {
    const body = JSON.stringify({ prompt: "steady", max_tokens: 2 });
    const c = await RawClient.connect(port);
    c.send(`POST /generate HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${body.length}\r\n\r\n`);
    await c.trickle(body, 4, 150);
    expect((await c.readResponse({ timeoutMs: 5000 })).status).toBe(200);
    c.destroy();
  });
});

describe("200 slowloris clients at once", () => {
  /** Normal traffic: sequential /generate and /health calls from `workers` clients for `ms`; latencies. */
  async function normalTraffic(workers: number, ms: number): Promise<{ latencies: number[]; failures: string[] }> {
    const latencies: number[] = [], failures: string[] = [];
    const until = Date.now() + ms;
    await Promise.all(Array.from({ length: workers }, async (_, k) => {
      for (let i = 0; Date.now() < until; i++) {
        const t0 = performance.now();
        const r = i % 3 === 0 ? await fetch(`${w.url}/health`) : await postJson(`${w.url}/generate`, { prompt: `worker ${k}`, max_tokens: 8 });
        const text = await r.text();
        latencies.push(performance.now() - t0);
        if (r.status !== 200) failures.push(`${r.status} ${text.slice(0, 100)}`);
      }
    }));
    return { latencies, failures };
  }

  test("do not stop normal clients: every normal request succeeds and latency stays sane", async () => {
    const baseline = await normalTraffic(4, 1500);
    let stop = false, cutOff = 0;
    // Each slow client trickles a head, is cut off at 500 ms, and comes straight back: 200 at all times.
    const slow = async () => {
      while (!stop) {
        const c = await RawClient.connect(port);
        void c.trickle(`GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ${"s".repeat(100)}\r\n\r\n`, 1, 200);
        const r = await c.readResponse({ timeoutMs: 5000 }).catch(() => undefined);
        if (r?.status === 408) cutOff++;
        c.destroy();
      }
    };
    const attackers = Array.from({ length: 200 }, slow);
    await Bun.sleep(300);
    const attacked = await normalTraffic(4, 3000);
    stop = true;
    await Promise.all(attackers);
    expect(attacked.failures).toEqual([]);
    expect(baseline.failures).toEqual([]);
    expect(cutOff).toBeGreaterThanOrEqual(400);
    expect(attacked.latencies.length).toBeGreaterThan(20);
    const [b50, a50, a99] = [percentile(baseline.latencies, 50), percentile(attacked.latencies, 50), percentile(attacked.latencies, 99)];
    console.log(`normal latency p50 ${b50.toFixed(1)} ms alone, ${a50.toFixed(1)} ms (p99 ${a99.toFixed(1)} ms) beside 200 slowloris clients; ${cutOff} cut off with 408`);
    // Generous: the test process itself drives the 200 attackers on the same 2 cores.
    expect(a50).toBeLessThan(b50 * 5 + 50);
    expect(a99).toBeLessThan(2000);
  }, 30_000);
});
