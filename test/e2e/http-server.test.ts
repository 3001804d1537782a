// The HTTP engine end to end over real sockets, with a small Elysia app behind it: keep-alive,
// pipelining, streaming under backpressure, disconnects, 100-continue, HTTP/1.0, graceful stop.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { type Handler, type HttpServer, type HttpServerOptions, type RequestDoneInfo, listen, remoteAddress } from "../../src/http/server.ts";
import { RawClient } from "../helpers/raw-client.ts";

const events = { finallyRan: 0, aborted: 0, produced: 0, remote: "" as string | undefined };
const KIB = 1024;

/** Chunk k of a streamed body: 4 KiB of one digit, so any loss or reordering shows. */
const piece = (k: number, size = 4 * KIB) => String(k % 10).repeat(size);

function makeApp() {
  return new Elysia()
    .get("/health", () => ({ status: "ok" }))
    .get("/n/:i", ({ params }) => ({ i: Number(params.i) }))
    .get("/remote", ({ request }) => {
      events.remote = remoteAddress(request);
      return { remote: events.remote };
    })
    .post("/echo", ({ body }) => ({ got: body }))
    .get("/slow", async () => {
      await Bun.sleep(300);
      return { slow: true };
    })
    .get("/drip", async function* () {
      for (let k = 0; k < 4; k++) {
        yield `data: ${k}\n\n`;
        await Bun.sleep(60);
      }
    })
    .get("/stream200k", async function* () {
      for (let k = 0; k < 50; k++) yield piece(k);
    })
    .get("/endless", async function* ({ request }) {
      request.signal.addEventListener("abort", () => events.aborted++);
      try {
        for (let k = 0; ; k++) {
          events.produced += 64 * KIB;
          yield piece(k, 64 * KIB);
          if (k % 4 === 3) await Bun.sleep(1);
        }
      } finally {
        events.finallyRan++;
      }
    })
    .get("/ticks", async function* ({ request }) {
      request.signal.addEventListener("abort", () => events.aborted++);
      try {
        for (let k = 0; ; k++) {
          yield `data: ${k}\n\n`;
          await Bun.sleep(20);
        }
      } finally {
        events.finallyRan++;
      }
    });
}

const done: RequestDoneInfo[] = [];
let server: HttpServer;
const app = makeApp();
const start = (opts: Partial<HttpServerOptions> = {}, handler: Handler = (r) => app.handle(r)) =>
  listen(handler, { hostname: "127.0.0.1", port: 0, ...opts });

beforeAll(() => {
  server = start({ highWaterBytes: 64 * KIB, onRequestDone: (i) => done.push(i) });
});
afterAll(() => server.stop({ graceful: false }));

const GET = (path: string, extra = "") => `GET ${path} HTTP/1.1\r\nHost: localhost\r\n${extra}\r\n`;
const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await Bun.sleep(10);
  }
};

describe("keep-alive and pipelining", () => {
  test("several requests on one connection (HTTP/1.1 persistent by default)", async () => {
    const c = await RawClient.connect(server.port);
    for (let i = 0; i < 3; i++) {
      c.send(GET(`/n/${i}`));
      const r = await c.readResponse();
      expect(r.status).toBe(200);
      expect(r.json).toEqual({ i });
      expect(r.headers.connection).toBeUndefined();
      expect(r.headers.date).toMatch(/GMT$/);
    }
    expect(c.isClosed).toBe(false);
    c.destroy();
  });

  test("16 pipelined requests in one write: answered in order, in one socket write", async () => {
    const c = await RawClient.connect(server.port);
    c.send(GET("/health"));
    await c.readResponse();
    const before = server.stats().socketWrites;
    c.send(Array.from({ length: 16 }, (_, i) => GET(`/n/${i}`)).join(""));
    for (let i = 0; i < 16; i++) expect((await c.readResponse()).json).toEqual({ i });
    expect(server.stats().socketWrites - before).toBe(1);
    c.destroy();
  });

  test("POST bodies by Content-Length and chunked", async () => {
    const c = await RawClient.connect(server.port);
    const json = '{"a":1}';
    c.send(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${json.length}\r\n\r\n${json}`);
    expect((await c.readResponse()).json).toEqual({ got: { a: 1 } });
    c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4;ext=1\r\n\":2}\r\n0\r\nX-Trailer: t\r\n\r\n");
    expect((await c.readResponse()).json).toEqual({ got: { a: 2 } });
    c.destroy();
  });

  test("Expect: 100-continue gets 100 before the body is sent", async () => {
    const c = await RawClient.connect(server.port);
    c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 7\r\nExpect: 100-continue\r\n\r\n");
    const interim = await c.readResponse();
    expect(interim.status).toBe(100);
    c.send('{"a":3}');
    const r = await c.readResponse();
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ got: { a: 3 } });
    c.destroy();
  });

  test("HTTP/1.0 closes after the response unless keep-alive is asked for", async () => {
    const c = await RawClient.connect(server.port);
    c.send("GET /health HTTP/1.0\r\n\r\n");
    const r = await c.readResponse();
    expect(r.json).toEqual({ status: "ok" });
    expect(r.headers.connection).toBe("close");
    expect(await c.waitClosed(2000)).toBe(true);
    const k = await RawClient.connect(server.port);
    k.send("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    expect((await k.readResponse()).headers.connection).toBe("keep-alive");
    k.send("GET /n/5 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    expect((await k.readResponse()).json).toEqual({ i: 5 });
    k.destroy();
  });

  test("Connection: close is honoured", async () => {
    const c = await RawClient.connect(server.port);
    c.send(GET("/health", "Connection: close\r\n") + GET("/n/1"));
    const r = await c.readResponse();
    expect(r.headers.connection).toBe("close");
    expect(await c.waitClosed(2000)).toBe(true);
    expect(c.buffered).toBe(0);
  });

  test("HEAD has no body but the GET length; OPTIONS * answered by the server", async () => {
    const c = await RawClient.connect(server.port);
    c.send("HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n");
    const r = await c.readResponse({ head: true });
    expect(r.headers["content-length"]).toBe(String('{"status":"ok"}'.length));
    c.send("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
    expect((await c.readResponse()).status).toBe(204);
    c.send(GET("/health"));
    expect((await c.readResponse()).json).toEqual({ status: "ok" });
    c.destroy();
  });

  test("remoteAddress(request) and onRequestDone", async () => {
    const c = await RawClient.connect(server.port);
    c.send(GET("/remote?x=1"));
    expect((await c.readResponse()).json).toEqual({ remote: "127.0.0.1" });
    await until(() => done.some((d) => d.target === "/remote?x=1"));
    const info = done.find((d) => d.target === "/remote?x=1")!;
    expect(info).toMatchObject({ method: "GET", status: 200, remote: "127.0.0.1" });
    expect(info.durationMs).toBeGreaterThanOrEqual(0);
    expect(info.durationMs).toBeLessThan(5000);
    expect(remoteAddress(new Request("http://localhost/"))).toBeUndefined();
    c.destroy();
  });

  test("onRequestDone's duration of a streamed answer runs to its last byte, not to its head", async () => {
    const c = await RawClient.connect(server.port);
    const t0 = Date.now();
    c.send(GET("/drip"));
    await c.readResponse();
    const took = Date.now() - t0;
    await until(() => done.some((d) => d.target === "/drip"));
    const info = done.find((d) => d.target === "/drip")!;
    // Four pieces 60 ms apart: at least the 240 ms the handler slept.
    expect(info.durationMs).toBeGreaterThanOrEqual(200);
    expect(info.durationMs).toBeLessThanOrEqual(took + 50);
    // It ended after the last byte was read here at the latest, and began after the request was sent.
    expect(info.endMs).toBeGreaterThanOrEqual(t0 + info.durationMs);
    expect(info.endMs).toBeLessThanOrEqual(t0 + took + 50);
    c.destroy();
  });
});

describe("idle connections hold no connection state", () => {
  test("idle keep-alive sockets give their Connection back; the next request takes one; keep-alive still times them out", async () => {
    const s = start({ keepAliveTimeoutMs: 400 });
    try {
      const clients = await Promise.all(Array.from({ length: 40 }, () => RawClient.connect(s.port)));
      await Promise.all(clients.map(async (c, i) => {
        c.send(GET(`/n/${i}`));
        expect((await c.readResponse()).json).toEqual({ i });
      }));
      expect(s.stats().openConnections).toBe(40);
      expect(s.stats().heldConnections).toBe(0);
      // A pipelined pair, a body in two pieces and a slow head all work on a socket that held nothing.
      const [a, b, c] = clients as [RawClient, RawClient, RawClient];
      a.send(GET("/n/1") + GET("/n/2"));
      expect([(await a.readResponse()).json, (await a.readResponse()).json]).toEqual([{ i: 1 }, { i: 2 }]);
      b.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\"");
      await Bun.sleep(30);
      expect(s.stats().heldConnections).toBe(1);
      b.send(":5}");
      expect((await b.readResponse()).json).toEqual({ got: { a: 5 } });
      c.send("GET /n/7 HTTP/1.1\r\n");
      await Bun.sleep(30);
      c.send("Host: x\r\n\r\n");
      expect((await c.readResponse()).json).toEqual({ i: 7 });
      expect(s.stats().heldConnections).toBe(0);
      // Idle past the keep-alive timeout, each is closed, detached or not.
      await until(() => s.stats().openConnections === 0 && clients.every((cl) => cl.isClosed), 3000);
    } finally {
      await s.stop({ graceful: false });
    }
  });
});

describe("streaming", () => {
  test("a 200 KiB stream to a slowly reading client arrives intact, queue bounded", async () => {
    const c = await RawClient.connect(server.port);
    c.send(GET("/stream200k"));
    c.pause();
    for (let i = 0; i < 10; i++) {
      await Bun.sleep(20);
      c.resume();
      await Bun.sleep(2);
      c.pause();
    }
    c.resume();
    const r = await c.readResponse();
    expect(r.headers["transfer-encoding"]).toBe("chunked");
    expect(r.rawHead.match(/transfer-encoding/gi)).toHaveLength(1);
    expect(r.text).toBe(Array.from({ length: 50 }, (_, k) => piece(k)).join(""));
    // Bounded near the mark: one chunk (with framing) may sit on top of it.
    expect(server.stats().peakQueuedBytes).toBeLessThanOrEqual(64 * KIB + 64 * KIB + 64);
    c.destroy();
  });

  test("a client that stops reading stops the producer (backpressure reaches the generator)", async () => {
    events.produced = 0;
    const c = await RawClient.connect(server.port);
    c.send(GET("/endless"));
    c.pause();
    // Once kernel buffers are full the generator is no longer pulled at all: wait for that...
    let last = -1;
    for (const t0 = Date.now(); events.produced !== last && Date.now() - t0 < 5000; ) {
      last = events.produced;
      await Bun.sleep(200);
    }
    // ...and check it holds (without backpressure the generator never stops).
    await Bun.sleep(300);
    expect(events.produced).toBe(last);
    expect(server.stats().peakQueuedBytes).toBeLessThanOrEqual(64 * KIB + 64 * KIB + 64);
    c.destroy();
    await until(() => server.stats().activeRequests === 0);
  });

  test("client disconnect mid-stream cancels the body and aborts request.signal", async () => {
    const before = { ...events };
    const c = await RawClient.connect(server.port);
    c.send(GET("/ticks"));
    await until(() => c.received > 100);
    c.destroy();
    await until(() => events.finallyRan > before.finallyRan && events.aborted > before.aborted);
    expect(events.finallyRan).toBe(before.finallyRan + 1);
  });
});

describe("streaming without Elysia", () => {
  test("disconnect cancels a plain ReadableStream body (reader.cancel reaches the source)", async () => {
    let cancelled = 0;
    const s = start({}, () => {
      let k = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          await Bun.sleep(10);
          controller.enqueue(new TextEncoder().encode(`data: ${k++}\n\n`));
        },
        cancel() {
          cancelled++;
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    });
    const c = await RawClient.connect(s.port);
    c.send(GET("/events"));
    await until(() => c.received > 100);
    const head = c.buffered > 0 ? (await c.readResponse({ timeoutMs: 50 }).catch(() => null)) : null;
    expect(head).toBeNull(); // still streaming: no complete response yet
    c.destroy();
    await until(() => cancelled === 1);
    await s.stop({ graceful: false });
  });

  test("streamed bodies go out chunked, known ones with Content-Length; the app's Connection: close is honoured", async () => {
    const s = start({}, (req) =>
      new URL(req.url).pathname === "/sse"
        ? new Response(new ReadableStream({ start(c) { c.enqueue("a"); c.enqueue(new Uint8Array([98])); c.close(); } }), { headers: { "content-type": "text/event-stream", "transfer-encoding": "chunked" } })
        : new Response(new Uint8Array([1, 2, 3]), { headers: { "content-length": "3", connection: new URL(req.url).pathname === "/bye" ? "close" : "keep-alive" } }),
    );
    const c = await RawClient.connect(s.port);
    c.send(GET("/sse") + GET("/bytes"));
    const a = await c.readResponse();
    expect(a.rawHead.match(/transfer-encoding/gi)).toHaveLength(1);
    expect(a.text).toBe("ab");
    const b = await c.readResponse();
    expect(b.rawHead.match(/content-length/gi)).toHaveLength(1);
    expect(b.rawHead).not.toContain("connection");
    expect([...b.body]).toEqual([1, 2, 3]);
    c.send(GET("/bye"));
    expect((await c.readResponse()).headers.connection).toBe("close");
    expect(await c.waitClosed(2000)).toBe(true);
    await s.stop({ graceful: false });
  });
});

describe("handler failures and stats", () => {
  test("a throwing handler gives a JSON 500 and the connection carries on", async () => {
    const s = start({}, (req) => {
      if (new URL(req.url).pathname === "/boom") throw new Error("boom");
      if (new URL(req.url).pathname === "/reject") return Promise.reject(new Error("no"));
      return new Response("fine");
    });
    const c = await RawClient.connect(s.port);
    for (const path of ["/boom", "/reject"]) {
      c.send(GET(path));
      const r = await c.readResponse();
      expect(r.status).toBe(500);
      expect(r.json).toEqual({ success: false, error: { code: "internal_error", message: "internal server error" } });
      expect(r.headers.connection).toBeUndefined();
    }
    c.send(GET("/ok"));
    expect((await c.readResponse()).text).toBe("fine");
    c.destroy();
    await s.stop({ graceful: false });
  });

  test("maxConnections closes sockets beyond it at once", async () => {
    const s = start({ maxConnections: 1 });
    const a = await RawClient.connect(s.port);
    a.send(GET("/health"));
    await a.readResponse();
    const b = await RawClient.connect(s.port);
    expect(await b.waitClosed(2000)).toBe(true);
    expect(s.stats().openConnections).toBe(1);
    a.destroy();
    await s.stop({ graceful: false });
  });
});

describe("graceful stop", () => {
  test("idle closed at once, busy answered with Connection: close, new connections refused", async () => {
    const s = start();
    const idle = await RawClient.connect(s.port);
    idle.send(GET("/health"));
    await idle.readResponse();
    const busy = await RawClient.connect(s.port);
    busy.send(GET("/slow"));
    await until(() => s.stats().activeRequests === 1);
    const stopped = s.stop({ timeoutMs: 5000 });
    expect(await idle.waitClosed(1000)).toBe(true);
    const r = await busy.readResponse();
    expect(r.json).toEqual({ slow: true });
    expect(r.headers.connection).toBe("close");
    expect(await busy.waitClosed(2000)).toBe(true);
    await stopped;
    expect(s.stats().openConnections).toBe(0);
    await expect(RawClient.connect(s.port)).rejects.toThrow();
  });

  test("with work in flight, the grace serves open connections: every answer closes, idle ones stay until it ends", async () => {
    const s = start();
    const idle = await RawClient.connect(s.port);
    idle.send(GET("/health"));
    await idle.readResponse();
    const quiet = await RawClient.connect(s.port);
    quiet.send(GET("/health"));
    await quiet.readResponse();
    const busy = await RawClient.connect(s.port);
    busy.send(GET("/slow"));
    await until(() => s.stats().activeRequests === 1);
    const t0 = Date.now();
    const stopped = s.stop({ timeoutMs: 5000, idleGraceMs: 1200 });
    // The answer in flight when the stop came says close, and its connection ends after it.
    const r = await busy.readResponse();
    expect([r.json, r.headers.connection]).toEqual([{ slow: true }, "close"]);
    expect(await busy.waitClosed(1000)).toBe(true);
    // Nothing is in flight now, but a client may be sending on an idle connection: still answered, with close.
    await Bun.sleep(200);
    idle.send(GET("/health"));
    const late = await idle.readResponse();
    expect([late.status, late.headers.connection]).toEqual([200, "close"]);
    expect(await idle.waitClosed(1000)).toBe(true);
    // A connection nobody uses is closed when the grace ends, not before.
    expect(quiet.isClosed).toBe(false);
    expect(await quiet.waitClosed(2000)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1100);
    await stopped;
    expect(s.stats().openConnections).toBe(0);
  });

  test("the grace ends as soon as every client has closed", async () => {
    const s = start();
    const c = await RawClient.connect(s.port);
    c.send(GET("/slow"));
    await until(() => s.stats().activeRequests === 1);
    const t0 = Date.now();
    const stopped = s.stop({ timeoutMs: 5000, idleGraceMs: 3000 });
    await c.readResponse();
    await stopped;
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  test("in-flight work past the timeout is cut off", async () => {
    let release: () => void = () => {};
    const s = start({}, () => new Promise<Response>((resolve) => (release = () => resolve(new Response("late")))));
    const c = await RawClient.connect(s.port);
    c.send(GET("/hang"));
    await until(() => s.stats().activeRequests === 1);
    const t0 = Date.now();
    await s.stop({ timeoutMs: 200 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(await c.waitClosed(1000)).toBe(true);
    release();
  });
});
