// The connection state machine, driven purely: a fake host records writes, time is passed in.
// First a transition table (from-state, event, to-state), then behaviour the table cannot show:
// ordering, coalescing, backpressure, 100-continue, shutdown, streaming.
import { describe, expect, test } from "bun:test";
import { ConnState, Connection, canTransition } from "../../src/http/connection.ts";
import { HttpError } from "../../src/http/errors.ts";
import type { BodySource, ConnectionHost, ConnectionOptions, Exchange, ResponseParts } from "../../src/http/exchange.ts";
import { DateCache } from "../../src/http/serialize.ts";

const OPTS: ConnectionOptions = {
  maxHeadBytes: 4096, maxTargetBytes: 1024, maxHeaderCount: 32, maxBodyBytes: 1024, maxChunkLineBytes: 64, maxTrailerBytes: 256,
  headerTimeoutMs: 1000, bodyTimeoutMs: 2000, keepAliveTimeoutMs: 5000, writeTimeoutMs: 3000, lingerMs: 500,
  highWaterBytes: 256, maxPipelined: 4, coalesceMaxBytes: 4096,
};

class FakeHost implements ConnectionHost {
  readonly dates = new DateCache();
  /** The connection this host serves (set once it is built). */
  conn!: Connection;
  /** Every byte the socket took, as latin1 text. */
  sent = "";
  writes = 0;
  /** Bytes the socket takes per write; Infinity = all. */
  room = Infinity;
  ended = false;
  destroyed = false;
  paused = false;
  readonly dispatched: Exchange[] = [];
  readonly done: { ex: Exchange; aborted: boolean }[] = [];
  scheduled = 0;

  write(data: Uint8Array, length: number): number {
    const n = Math.min(this.room, length);
    if (n > 0) {
      this.writes++;
      this.sent += String.fromCharCode(...data.subarray(0, n));
    }
    return n;
  }
  end() { this.ended = true; }
  destroy() { this.destroyed = true; }
  pauseReading() { this.paused = true; }
  resumeReading() { this.paused = false; }
  dispatch(ex: Exchange) { this.dispatched.push(ex); }
  requestDone(ex: Exchange, aborted: boolean) { this.done.push({ ex, aborted }); }
  scheduleFlush() { this.scheduled++; }
  /** Runs the flush the server would run after pending microtasks. */
  runScheduled() {
    if (this.scheduled === 0) return;
    this.scheduled = 0;
    this.conn.flush();
  }
  statuses(): number[] { return [...this.sent.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1])); }
}

const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const text = (body: string): ResponseParts => ({ status: 200, headerLines: "content-type: text/plain\r\n", body: bytes(body), stream: null, declaredLength: -1 });
const GET = (path = "/", extra = "") => `GET ${path} HTTP/1.1\r\nHost: t\r\n${extra}\r\n`;
const POST = (body: string, extra = "") => `POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: ${body.length}\r\n${extra}\r\n${body}`;

function setup(opts: Partial<ConnectionOptions> = {}) {
  const host = new FakeHost();
  const conn = (host.conn = new Connection(host, { ...OPTS, ...opts }, 0));
  const send = (s: string, now = 0) => conn.onData(bytes(s), now);
  const answer = (i: number, parts: ResponseParts = text(`r${i}`), now = 0) => conn.respond(host.dispatched[i]!, parts, now);
  return { host, conn, send, answer };
}
type Rig = ReturnType<typeof setup>;

interface Transition {
  from: ConnState;
  /** Brings a fresh connection into `from`. */
  arrange: (r: Rig) => void;
  event: string;
  act: (r: Rig) => void;
  to: ConnState;
  /** States the event passes through on its way to `to` (all within one call). */
  via?: ConnState[];
  check?: (r: Rig) => void;
}

const viaClosing = [ConnState.Closing];

const toIdle = () => {};
const toReadingHead = (r: Rig) => r.send("GET / HTTP/1.1\r\nHo", 0);
const toReadingBody = (r: Rig) => r.send(POST("hello").slice(0, -3), 0);
const toHandling = (r: Rig) => r.send(GET(), 0);
const toWriting = (r: Rig) => { r.send(GET(), 0); r.host.room = 10; r.answer(0, text("x".repeat(100))); };
const toClosing = (r: Rig) => { r.send(GET(), 0); r.send("BAD\r\n\r\n", 0); };
const toLingering = (r: Rig) => { r.send(GET("/", "Connection: close\r\n"), 0); r.answer(0); };

const TABLE: Transition[] = [
  { from: ConnState.Idle, arrange: toIdle, event: "first bytes of a head", act: (r) => r.send("GE"), to: ConnState.ReadingHead },
  { from: ConnState.Idle, arrange: toIdle, event: "a complete GET", act: (r) => r.send(GET()), to: ConnState.Handling, check: (r) => expect(r.host.dispatched).toHaveLength(1) },
  { from: ConnState.Idle, arrange: toIdle, event: "a head announcing a body", act: (r) => r.send(POST("hello").slice(0, -5)), to: ConnState.ReadingBody },
  { from: ConnState.Idle, arrange: toIdle, event: "stray CRLF (RFC 9112 §2.2)", act: (r) => r.send("\r\n\r\n"), to: ConnState.Idle },
  { from: ConnState.Idle, arrange: toIdle, event: "keep-alive timeout", act: (r) => r.conn.tick(5000), to: ConnState.Lingering, via: viaClosing, check: (r) => { expect(r.host.sent).toBe(""); expect(r.host.ended).toBe(true); } },
  { from: ConnState.Idle, arrange: toIdle, event: "tick before keep-alive timeout", act: (r) => r.conn.tick(4999), to: ConnState.Idle },
  { from: ConnState.Idle, arrange: toIdle, event: "malformed request", act: (r) => r.send("GET / HTTP/1.1\r\n\r\n"), to: ConnState.Lingering, via: viaClosing, check: (r) => { expect(r.host.statuses()).toEqual([400]); expect(r.host.ended).toBe(true); } },
  { from: ConnState.Idle, arrange: toIdle, event: "peer closes", act: (r) => r.conn.onClose(0), to: ConnState.Closed },
  { from: ConnState.ReadingHead, arrange: toReadingHead, event: "rest of the head", act: (r) => r.send("st: t\r\n\r\n", 10), to: ConnState.Handling },
  { from: ConnState.ReadingHead, arrange: toReadingHead, event: "header timeout", act: (r) => r.conn.tick(1000), to: ConnState.Lingering, via: viaClosing, check: (r) => expect(r.host.sent).toContain('"code":"header_timeout"') },
  { from: ConnState.ReadingHead, arrange: toReadingHead, event: "more bytes do not restart the header timer", act: (r) => { r.send("st", 900); r.conn.tick(1000); }, to: ConnState.Lingering, via: viaClosing },
  { from: ConnState.ReadingHead, arrange: toReadingHead, event: "tick before header timeout", act: (r) => r.conn.tick(999), to: ConnState.ReadingHead },
  { from: ConnState.ReadingBody, arrange: toReadingBody, event: "rest of the body", act: (r) => r.send("llo", 10), to: ConnState.Handling, check: (r) => expect(new TextDecoder().decode(r.host.dispatched[0]!.body!)).toBe("hello") },
  { from: ConnState.ReadingBody, arrange: toReadingBody, event: "body timeout", act: (r) => r.conn.tick(2000), to: ConnState.Lingering, via: viaClosing, check: (r) => expect(r.host.statuses()).toEqual([408]) },
  { from: ConnState.ReadingBody, arrange: toReadingBody, event: "body bytes restart the body timer", act: (r) => { r.send("l", 1500); r.conn.tick(3000); }, to: ConnState.ReadingBody },
  { from: ConnState.ReadingBody, arrange: toReadingBody, event: "peer closes mid-body", act: (r) => r.conn.onClose(0), to: ConnState.Closed, check: (r) => expect(r.host.done).toHaveLength(0) },
  { from: ConnState.Handling, arrange: toHandling, event: "response, socket takes it all", act: (r) => r.answer(0), to: ConnState.Idle, check: (r) => expect(r.host.statuses()).toEqual([200]) },
  { from: ConnState.Handling, arrange: toHandling, event: "response, socket full", act: (r) => { r.host.room = 0; r.answer(0); }, to: ConnState.Writing },
  { from: ConnState.Handling, arrange: toHandling, event: "time passes: no read timer while handling", act: (r) => r.conn.tick(60_000), to: ConnState.Handling },
  { from: ConnState.Handling, arrange: toHandling, event: "peer closes", act: (r) => r.conn.onClose(0), to: ConnState.Closed, check: (r) => expect(r.host.done[0]!.aborted).toBe(true) },
  { from: ConnState.Handling, arrange: toHandling, event: "handler failed", act: (r) => r.conn.respondError(r.host.dispatched[0]!, HttpError.InternalError, 0), to: ConnState.Idle, check: (r) => { expect(r.host.statuses()).toEqual([500]); expect(r.host.sent).not.toContain("connection: close"); } },
  { from: ConnState.Writing, arrange: toWriting, event: "drain takes the rest", act: (r) => { r.host.room = Infinity; r.conn.onDrain(100); }, to: ConnState.Idle },
  { from: ConnState.Writing, arrange: toWriting, event: "write timeout without progress", act: (r) => { r.host.room = 0; r.conn.tick(3000); }, to: ConnState.Closed, check: (r) => expect(r.host.destroyed).toBe(true) },
  { from: ConnState.Writing, arrange: toWriting, event: "progress restarts the write timer", act: (r) => { r.host.room = 10; r.conn.onDrain(2500); r.conn.tick(4000); }, to: ConnState.Writing },
  { from: ConnState.Closing, arrange: toClosing, event: "the earlier response is answered", act: (r) => r.answer(0), to: ConnState.Lingering, check: (r) => expect(r.host.statuses()).toEqual([200, 400]) },
  { from: ConnState.Closing, arrange: toClosing, event: "more requests are ignored", act: (r) => r.send(GET()), to: ConnState.Closing, check: (r) => expect(r.host.dispatched).toHaveLength(1) },
  { from: ConnState.Lingering, arrange: toLingering, event: "input is discarded", act: (r) => r.send(GET()), to: ConnState.Lingering, check: (r) => expect(r.host.dispatched).toHaveLength(1) },
  { from: ConnState.Lingering, arrange: toLingering, event: "linger timeout", act: (r) => r.conn.tick(500), to: ConnState.Closed, check: (r) => expect(r.host.destroyed).toBe(true) },
  { from: ConnState.Lingering, arrange: toLingering, event: "peer closes", act: (r) => r.conn.onClose(1), to: ConnState.Closed },
  { from: ConnState.Closed, arrange: (r) => r.conn.onClose(0), event: "late data is ignored", act: (r) => r.send(GET()), to: ConnState.Closed, check: (r) => expect(r.host.dispatched).toHaveLength(0) },
];

describe("connection transition table", () => {
  for (const t of TABLE) {
    test(`${ConnState[t.from]} --${t.event}--> ${ConnState[t.to]}`, () => {
      const rig = setup();
      t.arrange(rig);
      expect(ConnState[rig.conn.state]).toBe(ConnState[t.from]);
      t.act(rig);
      expect(ConnState[rig.conn.state]).toBe(ConnState[t.to]);
      t.check?.(rig);
    });
  }

  const STATES = Object.values(ConnState).filter((v): v is ConnState => typeof v === "number");
  const move = (from: ConnState, to: ConnState) => `${ConnState[from]} -> ${ConnState[to]}`;

  test("every move in the table above is one the connection allows", () => {
    const refused = TABLE.flatMap((t) => {
      const path = [t.from, ...(t.via ?? []), t.to];
      return path.slice(1).flatMap((to, i) => (path[i] !== to && !canTransition(path[i]!, to) ? [`${t.event}: ${move(path[i]!, to)}`] : []));
    });
    expect(refused).toEqual([]);
  });

  test("a move the table does not allow is refused, not made", () => {
    const { conn } = setup();
    conn.onClose(0);
    const to = (s: ConnState) => (conn as unknown as { to(s: ConnState): void }).to(s);
    expect(() => to(ConnState.Idle)).toThrow("illegal transition Closed -> Idle");
    expect(conn.state).toBe(ConnState.Closed);
  });

  test("the way out is one way: nothing reopens, Lingering follows Closing only, Closed is final", () => {
    const open = (s: ConnState) => s < ConnState.Closing;
    const rule = (from: ConnState, to: ConnState): boolean => {
      if (open(from)) return to !== ConnState.Lingering;
      if (from === ConnState.Closing) return to === ConnState.Lingering || to === ConnState.Closed;
      if (from === ConnState.Lingering) return to === ConnState.Closed;
      return false;
    };
    const differ = STATES.flatMap((from) => STATES.filter((to) => to !== from && canTransition(from, to) !== rule(from, to)).map((to) => move(from, to)));
    expect(differ).toEqual([]);
  });
});

// The reader must not care how the bytes arrive: one pipelined conversation, covering every way a
// request is read, gives the same requests, the same response bytes and the same end fed whole,
// split at every offset, and byte by byte; with handlers answering at once, or only once every
// byte is in (which also runs into the pipelining bound and back).
describe("connection fed whole, split at every offset, and byte by byte", () => {
  const CHUNKED = "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  const SCRIPTS: Array<[name: string, input: string, statuses: number[], paths: string[]]> = [
    ["bodiless, Content-Length, stray CRLF, chunked, HEAD, Connection: close",
      GET("/a") + POST("hello") + "\r\n" + CHUNKED + "HEAD /d HTTP/1.1\r\nHost: t\r\n\r\n" + GET("/e", "Connection: close\r\n") + GET("/ignored"),
      [200, 200, 200, 200, 200], ["/a", "/p", "/c", "/d", "/e"]],
    ["a bad request after good ones", GET("/a") + POST("xy") + "GET /bad HTTP/1.1\r\n\r\n" + GET("/ignored"), [200, 200, 400], ["/a", "/p"]],
    ["a bad chunk size mid-body", GET("/a") + "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", [200, 400], ["/a"]],
  ];
  const body = (ex: Exchange) => (ex.body === null ? "" : new TextDecoder().decode(ex.body));
  const answerFor = (ex: Exchange) => text(`${ex.head.method} ${ex.head.path} [${body(ex)}]`);

  function run(pieces: Uint8Array[], answerAtOnce: boolean) {
    const host = new FakeHost();
    const conn = (host.conn = new Connection(host, OPTS, 0));
    let answered = 0;
    host.dispatch = (ex) => {
      host.dispatched.push(ex);
      if (answerAtOnce) conn.respond(ex, answerFor(ex), 0);
    };
    for (const piece of pieces) conn.onData(piece, 0);
    // Answering lets paused requests in, which are then answered in turn.
    while (answered < host.dispatched.length) conn.respond(host.dispatched[answered]!, answerFor(host.dispatched[answered++]!), 0);
    host.runScheduled();
    return { requests: host.dispatched.map((ex) => `${ex.head.path} [${body(ex)}]`), sent: host.sent, state: ConnState[conn.state], ended: host.ended };
  }

  for (const [name, input, statuses, paths] of SCRIPTS) {
    for (const answerAtOnce of [true, false]) {
      test(`${name} (${answerAtOnce ? "answered at once" : "answered after the bytes"})`, () => {
        const all = bytes(input);
        const whole = run([all], answerAtOnce);
        expect(whole.requests.map((r) => r.split(" ")[0])).toEqual(paths);
        expect([...whole.sent.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]))).toEqual(statuses);
        expect([whole.state, whole.ended]).toEqual(["Lingering", true]);
        const ways: Array<[string, Uint8Array[]]> = [["bytewise", Array.from(all, (_, i) => all.subarray(i, i + 1))]];
        for (let k = 1; k < all.length; k++) ways.push([`split@${k}`, [all.subarray(0, k), all.subarray(k)]]);
        const differ = ways.filter(([, pieces]) => !Bun.deepEquals(run(pieces, answerAtOnce), whole)).map(([label]) => label);
        expect(differ).toEqual([]);
      });
    }
  }
});

describe("reuse of idle connections", () => {
  test("reusable only when idle and holding nothing: not mid-head, mid-body, with answers owed, or told to close", () => {
    const { conn, send, answer } = setup();
    expect(conn.reusable).toBe(true);
    send("GET / HTTP/1.1\r\n");
    expect(conn.reusable).toBe(false);
    send("Host: t\r\n\r\n");
    expect(conn.reusable).toBe(false);
    answer(0);
    expect(conn.reusable).toBe(true);
    send(POST("abc").slice(0, -1));
    expect(conn.reusable).toBe(false);
    send("c");
    answer(1);
    expect(conn.reusable).toBe(true);
    conn.closeAfterNextResponse();
    expect(conn.reusable).toBe(false);
  });

  test("rebind moves a reusable connection to another socket with the idle time given; in use, it refuses", () => {
    const { host, conn, send, answer } = setup({ keepAliveTimeoutMs: 100 });
    send(GET("/a"));
    expect(() => conn.rebind(new FakeHost(), 0)).toThrow(/in use/);
    answer(0, text("a"), 10);
    const other = new FakeHost();
    other.conn = conn;
    conn.rebind(other, 50);
    expect(conn.idleSinceMs).toBe(50);
    conn.onData(bytes(GET("/b")), 60);
    conn.respond(other.dispatched[0]!, text("b"), 60);
    expect(other.sent).toContain("\r\n\r\nb");
    expect(host.sent).not.toContain("\r\n\r\nb");
    // The keep-alive timer runs from the last answer, on the new socket.
    conn.tick(150);
    expect(other.ended).toBe(false);
    conn.tick(160);
    expect([other.ended, host.ended]).toEqual([true, false]);
  });
});

describe("connection behaviour", () => {
  test("pipelined requests answered out of order are written in order, together", () => {
    const { host, send, answer } = setup();
    send(GET("/a") + GET("/b") + GET("/c"));
    expect(host.dispatched.map((e) => e.head.path)).toEqual(["/a", "/b", "/c"]);
    answer(2);
    answer(1);
    expect(host.sent).toBe("");
    answer(0);
    expect(host.sent.match(/r\d/g)).toEqual(["r0", "r1", "r2"]);
    expect(host.writes).toBe(1);
  });

  test("responses ready while others are pending wait for the scheduled flush", () => {
    const { host, send, answer } = setup();
    send(GET("/a") + GET("/b"));
    answer(0);
    expect(host.writes).toBe(0);
    host.runScheduled();
    expect(host.statuses()).toEqual([200]);
  });

  test("parsing pauses at maxPipelined and resumes as answers go out", () => {
    const { host, send, answer } = setup({ maxPipelined: 2 });
    send(GET("/1") + GET("/2") + GET("/3"));
    expect(host.dispatched).toHaveLength(2);
    expect(host.paused).toBe(true);
    answer(0);
    expect(host.dispatched).toHaveLength(3);
    expect(host.paused).toBe(false);
  });

  test("maxPipelined 1 with handlers answering at once (one streamed): each written once, in order", async () => {
    const host = new FakeHost();
    const conn = (host.conn = new Connection(host, { ...OPTS, maxPipelined: 1 }, 0));
    host.dispatch = (ex) => {
      host.dispatched.push(ex);
      if (ex.head.path === "/1") return; // answered below, after /2 and /3 wait behind it
      if (ex.head.path !== "/2") return conn.respond(ex, text(`at${ex.head.path}`), 0);
      const src = manualSource();
      src.push("at/2");
      src.push(null);
      conn.respond(ex, { ...text(""), body: null, stream: src }, 0);
    };
    conn.onData(bytes(GET("/1") + GET("/2") + GET("/3")), 0);
    expect(host.dispatched).toHaveLength(1);
    conn.respond(host.dispatched[0]!, text("at/1"), 0);
    await tick();
    host.runScheduled();
    expect(host.sent.match(/at\/\d/g)).toEqual(["at/1", "at/2", "at/3"]);
    expect(host.statuses()).toEqual([200, 200, 200]);
  });

  test("reading pauses over the high-water mark and resumes on drain", () => {
    const { host, conn, send, answer } = setup();
    send(GET());
    host.room = 0;
    answer(0, text("x".repeat(400)));
    expect(host.paused).toBe(true);
    host.room = Infinity;
    conn.onDrain(1);
    expect(host.paused).toBe(false);
  });

  test("Connection: close stops parsing; the response says close and the socket ends", () => {
    const { host, send, answer } = setup();
    send(GET("/1", "Connection: close\r\n") + GET("/2"));
    expect(host.dispatched).toHaveLength(1);
    answer(0);
    expect(host.sent).toContain("connection: close\r\n");
    expect(host.ended).toBe(true);
  });

  test("HTTP/1.0 keep-alive is answered with Connection: keep-alive", () => {
    const { host, conn, send, answer } = setup();
    send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    answer(0);
    expect(host.sent).toContain("connection: keep-alive\r\n");
    expect(conn.state).toBe(ConnState.Idle);
  });

  test("Expect: 100-continue is answered before the body is read", () => {
    const { host, send } = setup();
    send(POST("hello", "Expect: 100-continue\r\n").slice(0, -5));
    expect(host.sent).toBe("HTTP/1.1 100 Continue\r\n\r\n");
    send("hello");
    expect(host.dispatched).toHaveLength(1);
  });

  test("100 Continue waits behind earlier responses, and is skipped when the body came anyway", () => {
    const { host, send, answer } = setup();
    send(GET("/first") + POST("hello", "Expect: 100-continue\r\n").slice(0, -5));
    expect(host.sent).toBe("");
    answer(0);
    expect(host.sent.indexOf("100 Continue")).toBeGreaterThan(host.sent.indexOf("200 OK"));
    const other = setup();
    other.send(GET("/first") + POST("hello", "Expect: 100-continue\r\n"));
    other.answer(0);
    other.host.runScheduled();
    expect(other.host.sent).not.toContain("100 Continue");
  });

  test("413 from Content-Length before any body byte, 100-continue not sent", () => {
    const { host, send } = setup({ maxBodyBytes: 4 });
    send(POST("hello", "Expect: 100-continue\r\n").slice(0, -5));
    expect(host.statuses()).toEqual([413]);
    expect(host.dispatched).toHaveLength(0);
  });

  test("a bad request behind good ones is answered after them, then the connection closes", () => {
    const { host, send, answer } = setup();
    send(GET("/ok") + "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    answer(0);
    expect(host.statuses()).toEqual([200, 400]);
    expect(host.sent).toContain('"code":"duplicate_host"');
    expect(host.ended).toBe(true);
  });

  test("chunked request body is decoded and dispatched", () => {
    const { host, send } = setup();
    send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
    send("2\r\nde\r\n0\r\n\r\n");
    expect(new TextDecoder().decode(host.dispatched[0]!.body!)).toBe("abcde");
  });

  test("HEAD and 204 responses carry no body", () => {
    const { host, send, answer } = setup();
    send("HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    answer(0, text("hello"));
    expect(host.sent.endsWith("content-length: 5\r\n\r\n")).toBe(true);
    const r2 = setup();
    r2.send(GET());
    r2.answer(0, { ...text("ignored"), status: 204 });
    expect(r2.host.sent).not.toContain("content-length");
    expect(r2.host.sent.endsWith("\r\n\r\n")).toBe(true);
  });

  test("graceful shutdown: idle ends now", () => {
    const { host, conn } = setup();
    conn.shutdown(0);
    expect(host.ended).toBe(true);
  });

  test("graceful shutdown: busy ends after its current response, which says close", () => {
    const { host, conn, send, answer } = setup();
    send(GET("/1") + GET("/2"));
    conn.shutdown(0);
    expect(host.done.map((d) => d.aborted)).toEqual([true]);
    answer(0);
    expect(host.statuses()).toEqual([200]);
    expect(host.sent).toContain("connection: close");
    expect(host.ended).toBe(true);
  });
});

/** A stream source the test feeds by hand. */
function manualSource() {
  const queue: (Uint8Array | null)[] = [];
  let waiting: ((v: Uint8Array | null) => void) | null = null;
  const source: BodySource & { cancelled: boolean; push(s: string | null): void; pulls: number } = {
    cancelled: false,
    pulls: 0,
    read() {
      source.pulls++;
      const next = queue.shift();
      if (next !== undefined) return Promise.resolve(next);
      return new Promise((resolve) => (waiting = resolve));
    },
    cancel() {
      source.cancelled = true;
      waiting?.(null);
    },
    push(s) {
      const v = s === null ? null : bytes(s);
      if (waiting) {
        const w = waiting;
        waiting = null;
        w(v);
      } else queue.push(v);
    },
  };
  return source;
}
const tick = () => new Promise((r) => setTimeout(r, 0));
/** A turn of the event loop as the server runs it: the stream's pump, then the flush it scheduled. */
async function turn(host: FakeHost): Promise<void> {
  await tick();
  host.runScheduled();
  await tick();
}

describe("connection streaming", () => {
  test("a streamed body is sent chunked and ends with the last chunk", async () => {
    const { host, send, answer, conn } = setup();
    send(GET());
    const src = manualSource();
    answer(0, { ...text(""), body: null, stream: src });
    src.push("hello");
    await tick();
    // A chunk waits for the end of the turn, so what a stream makes in one turn leaves in one write.
    expect(host.sent).not.toContain("hello");
    host.runScheduled();
    expect(host.sent).toContain("transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n");
    src.push("a");
    src.push("b");
    src.push(null);
    const writes = host.writes;
    await turn(host);
    expect(host.sent.endsWith("1\r\na\r\n1\r\nb\r\n0\r\n\r\n")).toBe(true);
    expect(host.writes).toBe(writes + 1);
    expect(conn.state).toBe(ConnState.Idle);
  });

  test("a response behind a streaming one waits until the stream ends", async () => {
    const { host, send, answer } = setup();
    send(GET("/stream") + GET("/next"));
    const src = manualSource();
    answer(0, { ...text(""), body: null, stream: src });
    answer(1, text("second"));
    src.push("first");
    await tick();
    expect(host.sent).not.toContain("second");
    src.push(null);
    await tick();
    host.runScheduled();
    const h = (frame: string) => `HTTP/1.1 200 OK\r\nDATE\r\ncontent-type: text/plain\r\n${frame}\r\n\r\n`;
    expect(host.sent.replace(/date: [^\r]*/g, "DATE")).toBe(
      `${h("transfer-encoding: chunked")}5\r\nfirst\r\n0\r\n\r\n${h("content-length: 6")}second`,
    );
  });

  test("HTTP/1.0 streams are close-delimited", async () => {
    const { host, send, answer } = setup();
    send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    const src = manualSource();
    answer(0, { ...text(""), body: null, stream: src });
    src.push("abc");
    src.push(null);
    await tick();
    expect(host.sent).not.toContain("transfer-encoding");
    expect(host.sent).toContain("connection: close\r\n\r\nabc");
    expect(host.ended).toBe(true);
  });

  test("the pump stops pulling while the queue is over the high-water mark", async () => {
    const { host, send, answer, conn } = setup({ highWaterBytes: 64 });
    send(GET());
    host.room = 0;
    const src = manualSource();
    answer(0, { ...text(""), body: null, stream: src });
    for (let i = 0; i < 10; i++) src.push("x".repeat(40));
    await tick();
    expect(src.pulls).toBeLessThanOrEqual(3);
    expect(conn.queuedBytes).toBeLessThan(64 + 50 + 200);
    host.room = Infinity;
    conn.onDrain(1);
    await turn(host);
    expect(src.pulls).toBeGreaterThan(3);
  });

  test("peer closing mid-stream cancels the source", async () => {
    const { send, answer, conn } = setup();
    send(GET());
    const src = manualSource();
    answer(0, { ...text(""), body: null, stream: src });
    src.push("a");
    await tick();
    conn.onClose(1);
    expect(src.cancelled).toBe(true);
  });

  test("a response arriving after the peer left is cancelled, not written", () => {
    const { host, send, answer, conn } = setup();
    send(GET());
    conn.onClose(0);
    const src = manualSource();
    answer(0, { ...text(""), body: null, stream: src });
    expect(src.cancelled).toBe(true);
    expect(host.sent).toBe("");
  });
});
