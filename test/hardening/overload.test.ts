// Overload and connection limits against the real CLI.
//   Overload: 4x more concurrent requests than slots + queue. The excess is refused at once with 503
//   and Retry-After; every admitted request completes; nothing hangs.
//   --max-connections: beyond it new connections are refused at once while the open ones are served.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RawClient } from "../helpers/raw-client.ts";
import { metrics, postJson, tinyModel, waitUntil } from "../helpers/hardening.ts";
import { startWarren, type WarrenProcess } from "../helpers/warren-process.ts";

const SLOTS = 2, QUEUE = 4, TOKENS = 600;

describe(`overload: ${4 * (SLOTS + QUEUE)} concurrent requests for ${SLOTS} slots + ${QUEUE} queue places`, () => {
  let w: WarrenProcess;
  beforeAll(async () => {
    w = await startWarren(["--model", await tinyModel(), "--threads", "1", "--parallel", String(SLOTS), "--max-queue", String(QUEUE)]);
  }, 30_000);
  afterAll(() => w?.stop("SIGKILL"));

  test("the excess gets 503 + Retry-After at once; every admitted request completes", async () => {
    const n = 4 * (SLOTS + QUEUE);
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: n }, async (_, i) => {
      const res = await postJson(`${w.url}/generate`, { prompt: `load ${i}`, max_tokens: TOKENS, ignore_eos: true, stream: i % 2 === 0 });
      const headersAt = performance.now() - t0;
      const text = await res.text();
      return { status: res.status, retryAfter: res.headers.get("retry-after"), text, headersAt, doneAt: performance.now() - t0 };
    }));
    const refused = results.filter((r) => r.status === 503);
    const served = results.filter((r) => r.status === 200);
    expect(served.length + refused.length).toBe(n);
    // Each admitted request holds its slot for a few hundred ms, far longer than sending them all takes.
    expect(refused.length).toBe(n - (SLOTS + QUEUE));
    for (const r of refused) {
      expect(r.retryAfter).toBe("1");
      expect(JSON.parse(r.text).error.code).toBe("queue_full");
    }
    const firstDone = Math.min(...served.map((r) => r.doneAt));
    // "At once": every refusal arrived before the first admitted request finished.
    expect(Math.max(...refused.map((r) => r.headersAt))).toBeLessThan(firstDone);
    for (const r of served) {
      const tokens = r.text.startsWith("data:") ? JSON.parse(r.text.trim().split("\n\n").at(-1)!.slice(6)).tokens : JSON.parse(r.text).data.tokens;
      expect(tokens).toBe(TOKENS);
    }
    await waitUntil(async () => {
      const m = await metrics(w.url);
      return m.warren_slots_busy === 0 && m.warren_queue_depth === 0;
    }, "slots and queue to empty");
    expect((await metrics(w.url)).warren_requests_rejected_total).toBe(refused.length);
  }, 30_000);
});

describe("--max-connections 8", () => {
  let w: WarrenProcess;
  let port: number;
  beforeAll(async () => {
    w = await startWarren(["--model", await tinyModel(), "--threads", "1", "--max-connections", "8", "--keep-alive-timeout-ms", "1500"]);
    port = Number(new URL(w.url).port);
    // startWarren's health probes use pooled connections; let them close before counting.
    await waitUntil(async () => {
      const c = await RawClient.connect(port);
      c.send("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      const body = (await c.readResponse()).text;
      c.destroy();
      return /^warren_open_connections 1$/m.test(body);
    }, "the probe connections to close", 8000);
    await Bun.sleep(100);
  }, 30_000);
  afterAll(() => w?.stop("SIGKILL"));

  test("the 9th connection is closed at once without an answer; the 8 open ones are served; a freed place is reused", async () => {
    const open = await Promise.all(Array.from({ length: 8 }, () => RawClient.connect(port)));
    for (const c of open) c.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    for (const c of open) expect((await c.readResponse()).status).toBe(200);
    const t0 = Date.now();
    // Refused: the server closes it on accept, so the connect itself may already fail with a reset.
    const extra = await RawClient.connect(port).catch((err: NodeJS.ErrnoException) => err.code);
    if (extra instanceof RawClient) {
      extra.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
      expect(await extra.waitClosed(1000)).toBe(true);
      expect(extra.received).toBe(0);
    } else expect(extra).toBe("ECONNRESET");
    expect(Date.now() - t0).toBeLessThan(1000);
    // The open ones are unaffected, and keep being served.
    for (const c of open) {
      const body = JSON.stringify({ prompt: "still here", max_tokens: 3 });
      c.send(`POST /generate HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      expect((await c.readResponse()).status).toBe(200);
    }
    open[0]!.destroy();
    await Bun.sleep(100);
    const again = await RawClient.connect(port);
    again.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    expect((await again.readResponse()).status).toBe(200);
    for (const c of [...open, again]) c.destroy();
  }, 20_000);
});
