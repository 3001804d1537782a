// Graceful shutdown of the real CLI: SIGTERM stops accepting; open connections are still
// answered (/health says "draining", new work is still served with Connection: close); requests in flight, streams included,
// finish within --shutdown-timeout-ms; then exit 0. Past the timeout they are cut; a second
// SIGTERM exits at once.
import { describe, expect, test } from "bun:test";
import { RawClient } from "../helpers/raw-client.ts";
import { postJson, tinyModel } from "../helpers/hardening.ts";
import { startWarren, type WarrenProcess } from "../helpers/warren-process.ts";

const H = "Host: localhost\r\n";
const get = (path: string) => `GET ${path} HTTP/1.1\r\n${H}\r\n`;
function post(body: unknown): string {
  const json = JSON.stringify(body);
  return `POST /generate HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Length: ${json.length}\r\n\r\n${json}`;
}

async function start(args: string[]): Promise<{ w: WarrenProcess; port: number }> {
  const w = await startWarren(["--model", await tinyModel(), "--threads", "1", "--parallel", "2", ...args]);
  return { w, port: Number(new URL(w.url).port) };
}

/** A stream that has started: its first bytes have arrived. */
async function startedStream(port: number, maxTokens: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  c.send(post({ prompt: "a long story", max_tokens: maxTokens, ignore_eos: true, stream: true }));
  const until = Date.now() + 5000;
  while (!c.buffered && Date.now() < until) await Bun.sleep(5);
  return c;
}

describe("SIGTERM", () => {
  test("drains: no new connections, /health draining on open ones, in-flight streams and requests finish, exit 0", async () => {
    const { w, port } = await start(["--shutdown-timeout-ms", "10000", "--keep-alive-timeout-ms", "1500"]);
    try {
      const idle = await RawClient.connect(port);
      idle.send(get("/health"));
      expect((await idle.readResponse()).status).toBe(200);
      const idle2 = await RawClient.connect(port);
      idle2.send(get("/health"));
      expect((await idle2.readResponse()).status).toBe(200);
      const stream = await startedStream(port, 1200);
      const plain = postJson(`${w.url}/generate`, { prompt: "in flight", max_tokens: 800, ignore_eos: true });
      await Bun.sleep(50);

      const t0 = Date.now();
      w.proc.kill("SIGTERM");
      await Bun.sleep(150);
      const refused = await RawClient.connect(port).then((c) => (c.destroy(), "connected"), (e: NodeJS.ErrnoException) => e.code);
      expect(refused).toBe("ECONNREFUSED");

      idle.send(get("/health"));
      const health = await idle.readResponse();
      expect(health.status).toBe(503);
      expect((health.json as { data: { status: string } }).data.status).toBe("draining");
      expect(health.headers.connection).toBe("close");
      // Sent on an open connection before the client could know: served, and the connection closes.
      idle2.send(post({ prompt: "sent during the drain", max_tokens: 3 }));
      const late = await idle2.readResponse();
      expect([late.status, (late.json as { data: { tokens: number } }).data.tokens, late.headers.connection]).toEqual([200, 3, "close"]);

      const streamed = (await stream.readToEnd(10_000)).toString();
      expect(streamed).toContain('"done":true');
      expect(streamed).toContain('"tokens":1200');
      const res = await plain;
      expect(res.status).toBe(200);
      expect(((await res.json()) as { data: { tokens: number } }).data.tokens).toBe(800);

      expect(await w.exited).toBe(0);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(w.log()).toContain("SIGTERM: draining");
      expect(w.log()).toMatch(/INFO +stopped/);
    } finally {
      w.proc.kill("SIGKILL");
    }
  }, 30_000);

  test("a quiet server (nothing in flight, no request for a second) exits at once: idle keep-alive connections are closed, not waited for", async () => {
    const { w, port } = await start(["--shutdown-timeout-ms", "10000", "--keep-alive-timeout-ms", "10000"]);
    try {
      const idle = await Promise.all(Array.from({ length: 3 }, () => RawClient.connect(port)));
      for (const c of idle) c.send(get("/health"));
      for (const c of idle) expect((await c.readResponse()).status).toBe(200);
      await Bun.sleep(1200);
      const t0 = Date.now();
      w.proc.kill("SIGTERM");
      expect(await w.exited).toBe(0);
      expect(Date.now() - t0).toBeLessThan(1500);
      for (const c of idle) expect(await c.waitClosed(1000)).toBe(true);
    } finally {
      w.proc.kill("SIGKILL");
    }
  }, 30_000);

  // Steady traffic of short requests: at the signal nothing may be in flight, yet a proxy is about to
  // send its next request on a keep-alive connection it holds. Closing that connection would lose it.
  test("nothing in flight but a request a moment ago: a request sent on an idle connection after the signal is served; exit once quiet", async () => {
    const { w, port } = await start(["--shutdown-timeout-ms", "10000", "--keep-alive-timeout-ms", "10000"]);
    try {
      const [next, unused] = await Promise.all([RawClient.connect(port), RawClient.connect(port)]);
      for (const c of [next, unused]) c.send(get("/health"));
      for (const c of [next, unused]) expect((await c.readResponse()).status).toBe(200);
      w.proc.kill("SIGTERM");
      await Bun.sleep(150);
      next.send(post({ prompt: "the next request", max_tokens: 3 }));
      const late = await next.readResponse();
      expect([late.status, (late.json as { data: { tokens: number } }).data.tokens, late.headers.connection]).toEqual([200, 3, "close"]);
      const answeredAt = Date.now();
      expect(unused.isClosed).toBe(false);
      // Quiet for a second after that request: the unused connection is closed and the process exits,
      // long before the 10 s keep-alive timeout that caps the wait.
      expect(await w.exited).toBe(0);
      expect(await unused.waitClosed(1000)).toBe(true);
      expect(Date.now() - answeredAt).toBeLessThan(5000);
      expect(w.log()).toMatch(/SIGTERM: draining, 0 requests in flight/);
    } finally {
      w.proc.kill("SIGKILL");
    }
  }, 30_000);

  test("past --shutdown-timeout-ms an unfinished stream is cut, and the process still exits 0", async () => {
    const { w, port } = await start(["--shutdown-timeout-ms", "600"]);
    try {
      const stream = await startedStream(port, 1900);
      const t0 = Date.now();
      w.proc.kill("SIGTERM");
      const streamed = (await stream.readToEnd(10_000)).toString();
      expect(streamed).not.toContain('"done":true');
      expect(await w.exited).toBe(0);
      // The timeout, plus at most the scheduler's bounded wait for the cut request to stop.
      expect(Date.now() - t0).toBeGreaterThanOrEqual(550);
      expect(Date.now() - t0).toBeLessThan(3500);
    } finally {
      w.proc.kill("SIGKILL");
    }
  }, 30_000);

  test("a second SIGTERM exits at once", async () => {
    const { w, port } = await start(["--shutdown-timeout-ms", "30000"]);
    try {
      const stream = await startedStream(port, 1900);
      w.proc.kill("SIGTERM");
      await Bun.sleep(150);
      const t0 = Date.now();
      w.proc.kill("SIGTERM");
      expect(await w.exited).toBe(1);
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(w.log()).toContain("second SIGTERM: exiting now");
      stream.destroy();
    } finally {
      w.proc.kill("SIGKILL");
    }
  }, 30_000);
});
