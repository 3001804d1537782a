// Bun.listen wiring: sockets and the clock <-> Link (link.ts) <-> Connection <-> handler(Request) => Response.
// The only file of the HTTP engine that touches Bun. One periodic sweep enforces every timeout,
// so ten thousand idle connections cost no timers of their own.
import type { Socket, TCPSocketListener } from "bun";
import * as L from "../limits.ts";
import { type Peek, carriesMethod, toParts, toRequest } from "./bridge.ts";
import { Connection } from "./connection.ts";
import { HttpError } from "./errors.ts";
import type { ConnectionOptions, Exchange, ResponseParts } from "./exchange.ts";
import { Link, type LinkOwner } from "./link.ts";
import { DateCache } from "./serialize.ts";

export type Handler = (req: Request) => Response | Promise<Response>;

export interface RequestDoneInfo {
  method: string;
  target: string;
  /** 0 when the client went away before an answer was written. */
  status: number;
  durationMs: number;
  /** When it ended (epoch ms): the clock reading the duration ends at. */
  endMs: number;
  remote?: string;
  /** The Request the handler received (absent when the request was rejected before it). */
  request?: Request;
}

export interface HttpServerOptions {
  hostname: string;
  /** 0 = ephemeral. */
  port: number;
  reusePort?: boolean;
  maxHeadBytes?: number;
  maxTargetBytes?: number;
  maxHeaderCount?: number;
  maxBodyBytes?: number;
  headerTimeoutMs?: number;
  bodyTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  writeTimeoutMs?: number;
  highWaterBytes?: number;
  maxPipelined?: number;
  /** 0 = unlimited; beyond it new sockets are closed at once. */
  maxConnections?: number;
  /** One call per request that got an answer or was dropped; for access logs. */
  onRequestDone?: (info: RequestDoneInfo) => void;
}

interface HttpStats {
  openConnections: number;
  activeRequests: number;
  totalConnections: number;
  totalRequests: number;
  /** Response bytes queued in user space right now, all connections together. */
  queuedBytes: number;
  /** Largest queue any one connection has held (bytes): shows the high-water mark holding. */
  peakQueuedBytes: number;
  /** socket.write calls so far: pipelined answers ready together should share one. */
  socketWrites: number;
  /** Open connections holding a Connection object: idle keep-alive ones hold none (see link.ts). */
  heldConnections: number;
}

export interface HttpServer {
  readonly hostname: string;
  readonly port: number;
  stats(): HttpStats;
  /** `idleGraceMs`: graceful only. While work is in flight or still arriving (a request in the last
   *  HTTP_STOP_RECENT_REQUEST_MS), open connections keep being served, for at most this long (less once
   *  every client has closed); then, or at once on a quiet server, they are told to close (idle ones end
   *  at once, busy ones after their current response). */
  stop(opts?: { graceful?: boolean; timeoutMs?: number; idleGraceMs?: number }): Promise<void>;
}

type Sock = Socket<Link | undefined>;

const SIGNAL_REUSE = 64;
/** Idle connection objects kept for reuse, per server (they carry its options). */
const MAX_SPARE_CONNECTIONS = 256;

// Peer address for handlers: remoteAddress(request) below (also RequestDoneInfo.remote). Requests
// carry their connection's AbortSignal (shared by a run of requests, see dispatch), so one map entry
// per signal finds the connection: no per-request bookkeeping and no header a client could forge.
// api/ may not import http/, so main.ts hands remoteAddress to the app.
const owners = new WeakMap<AbortSignal, Link>();

/** The peer address of the connection a request arrived on (undefined for foreign requests). */
export function remoteAddress(req: Request): string | undefined {
  const link = owners.get(req.signal);
  return link?.remote;
}

// Bun.peek unwraps settled promises, keeping handlers that answer at once on the synchronous path
// (so pipelined answers can coalesce into the write at the end of the read).
// Rejected ones stay promises, so the rejection is handled (and reported) on the async path.
const peek: Peek = <T>(p: Promise<T>) => (Bun.peek.status(p) === "fulfilled" ? (Bun.peek(p) as T) : p);

function connectionOptions(o: HttpServerOptions): ConnectionOptions {
  return {
    maxHeadBytes: o.maxHeadBytes ?? L.HTTP_MAX_HEAD_BYTES,
    maxTargetBytes: Math.min(o.maxTargetBytes ?? L.HTTP_MAX_TARGET_BYTES, o.maxHeadBytes ?? L.HTTP_MAX_HEAD_BYTES),
    maxHeaderCount: o.maxHeaderCount ?? L.HTTP_MAX_HEADER_COUNT,
    knownMethod: carriesMethod,
    maxBodyBytes: o.maxBodyBytes ?? L.HTTP_MAX_BODY_BYTES,
    maxChunkLineBytes: L.HTTP_MAX_CHUNK_LINE_BYTES,
    maxTrailerBytes: L.HTTP_MAX_TRAILER_BYTES,
    headerTimeoutMs: o.headerTimeoutMs ?? L.HTTP_HEADER_TIMEOUT_MS,
    bodyTimeoutMs: o.bodyTimeoutMs ?? L.HTTP_BODY_TIMEOUT_MS,
    keepAliveTimeoutMs: o.keepAliveTimeoutMs ?? L.HTTP_KEEPALIVE_TIMEOUT_MS,
    writeTimeoutMs: o.writeTimeoutMs ?? L.HTTP_WRITE_TIMEOUT_MS,
    lingerMs: L.HTTP_LINGER_MS,
    highWaterBytes: o.highWaterBytes ?? L.HTTP_HIGH_WATER_BYTES,
    maxPipelined: o.maxPipelined ?? L.HTTP_MAX_PIPELINED_REQUESTS,
    coalesceMaxBytes: L.HTTP_COALESCE_MAX_BYTES,
  };
}

export function listen(handler: Handler, options: HttpServerOptions): HttpServer {
  return new SocketServer(handler, options);
}

/** The server on Bun.listen: owns the listener, the sweep clock and the counters; runs the handler
 *  for every connection's requests. */
class SocketServer implements HttpServer, LinkOwner {
  readonly hostname: string;
  readonly port: number;
  readonly dates = new DateCache();
  private readonly opts: ConnectionOptions;
  private readonly maxConnections: number;
  private readonly onDone: HttpServerOptions["onRequestDone"];
  private readonly links = new Set<Link>();
  private readonly flushQueue = new Set<Link>();
  private readonly spareConnections: Connection[] = [];
  private readonly counters = { active: 0, totalConnections: 0, totalRequests: 0, peakQueued: 0, writes: 0, lastRequestMs: -Infinity };
  private readonly listener: TCPSocketListener<Link | undefined>;
  private readonly sweep: ReturnType<typeof setInterval>;
  private stopping: Promise<void> | null = null;
  private allClosed: (() => void) | null = null;

  constructor(private readonly handler: Handler, options: HttpServerOptions) {
    this.opts = connectionOptions(options);
    this.maxConnections = options.maxConnections ?? L.HTTP_MAX_CONNECTIONS;
    this.onDone = options.onRequestDone;
    this.listener = this.bind(options);
    this.hostname = options.hostname;
    this.port = this.listener.port;
    const o = this.opts;
    const shortest = Math.min(o.headerTimeoutMs, o.bodyTimeoutMs, o.keepAliveTimeoutMs, o.writeTimeoutMs, o.lingerMs);
    this.sweep = setInterval(() => this.tick(), Math.max(10, Math.min(L.HTTP_SWEEP_MAX_INTERVAL_MS, Math.floor(shortest / 4))));
    this.sweep.unref?.();
  }

  private bind(options: HttpServerOptions): TCPSocketListener<Link | undefined> {
    return Bun.listen<Link | undefined>({
      hostname: options.hostname,
      port: options.port,
      // Declared by Bun's types for connect only, but honoured by listen on Linux.
      ...(options.reusePort ? { reusePort: true } : {}),
      socket: {
        open: (sock) => this.accept(sock),
        data: (sock, chunk) => {
          const link = sock.data;
          if (link === undefined) return;
          link.conn.onData(chunk, Date.now());
          link.settle();
        },
        drain: (sock) => {
          const link = sock.data;
          if (link === undefined) return;
          link.conn.onDrain(Date.now());
          link.settle();
        },
        close: (sock) => this.closed(sock),
        error: (sock) => sock.data?.conn.destroy(),
      },
    });
  }

  private accept(sock: Sock): void {
    // Bun shares one `data` object among sockets unless each gets its own here.
    sock.data = undefined;
    if (this.stopping !== null || (this.maxConnections > 0 && this.links.size >= this.maxConnections)) {
      sock.terminate();
      return;
    }
    const link = new Link(sock, this, Date.now());
    sock.data = link;
    this.links.add(link);
    this.counters.totalConnections++;
  }

  private closed(sock: Sock): void {
    const link = sock.data;
    if (link === undefined) return;
    const aborter = link.aborter;
    link.closed(Date.now());
    aborter?.abort();
    this.links.delete(link);
    if (this.links.size === 0) this.allClosed?.();
  }

  private tick(): void {
    const now = Date.now();
    for (const link of this.links) {
      link.tick(now, this.opts.keepAliveTimeoutMs);
      // An idle keep-alive connection should cost little: its signal is rebuilt on next use.
      if (link.aborter !== null && link.idle) link.aborter = null;
      link.settle();
    }
  }

  // ---- For the links ----

  /** Counts a socket write; `queuedBytes`: the writing connection's queue at that moment. */
  noteWrite(queuedBytes: number): void {
    if (queuedBytes > this.counters.peakQueued) this.counters.peakQueued = queuedBytes;
    this.counters.writes++;
  }

  /** A connection for `link`, idle since `idleSinceMs`: a spare one when there is one. */
  takeConnection(link: Link, idleSinceMs: number): Connection {
    const spare = this.spareConnections.pop();
    if (spare === undefined) return new Connection(link, this.opts, idleSinceMs);
    spare.rebind(link, idleSinceMs);
    return spare;
  }

  spareConnection(conn: Connection): void {
    if (this.spareConnections.length < MAX_SPARE_CONNECTIONS) this.spareConnections.push(conn);
  }

  flushPending(link: Link): boolean {
    return this.flushQueue.has(link);
  }

  scheduleFlush(link: Link): void {
    if (this.flushQueue.size === 0) setImmediate(() => this.flushScheduled());
    this.flushQueue.add(link);
  }

  private flushScheduled(): void {
    const links = [...this.flushQueue];
    this.flushQueue.clear();
    for (const link of links) {
      link.conn.flush();
      link.settle();
    }
  }

  dispatch(link: Link, ex: Exchange): void {
    const conn = link.conn;
    this.counters.active++;
    this.counters.totalRequests++;
    this.counters.lastRequestMs = ex.startMs;
    if (ex.head.path === "*") return conn.respond(ex, NO_CONTENT, conn.now);
    // One AbortController serves a run of requests: it fires for all in flight when the peer
    // goes away. It is replaced every SIGNAL_REUSE requests and after each streamed response
    // (when no other request holds it), so listeners an application leaves on finished
    // requests' signals cannot pile up on a long keep-alive connection.
    if (link.aborter === null || (++link.aborterUses > SIGNAL_REUSE && conn.inFlight === 1)) {
      link.aborter = new AbortController();
      link.aborterUses = 0;
      owners.set(link.aborter.signal, link);
    }
    let result: Response | Promise<Response>;
    try {
      // The parser let through only methods the Request carries unchanged (carriesMethod).
      const req = toRequest(ex.head, ex.body, link.aborter.signal);
      if (this.onDone !== undefined) ex.hostData = req;
      result = this.handler(req);
    } catch {
      return conn.respondError(ex, HttpError.InternalError, Date.now());
    }
    const settled = result instanceof Promise ? peek(result) : result;
    if (!(settled instanceof Promise)) return this.deliver(link, ex, settled);
    // Answers that come later end an event of their own: the connection may be idle after them.
    settled.then(
      (res) => {
        this.deliver(link, ex, res);
        link.settle();
      },
      () => {
        conn.respondError(ex, HttpError.InternalError, Date.now());
        link.settle();
      },
    );
  }

  private deliver(link: Link, ex: Exchange, res: unknown): void {
    const conn = link.conn;
    if (!(res instanceof Response)) return conn.respondError(ex, HttpError.InternalError, Date.now());
    let parts: ResponseParts | Promise<ResponseParts>;
    try {
      parts = toParts(res, peek);
    } catch {
      // A Response subclass whose headers or body getters throw.
      return conn.respondError(ex, HttpError.InternalError, Date.now());
    }
    if (!(parts instanceof Promise)) return conn.respond(ex, parts, Date.now());
    parts.then(
      (p: ResponseParts) => {
        conn.respond(ex, p, Date.now());
        link.settle();
      },
      () => {
        conn.respondError(ex, HttpError.InternalError, Date.now());
        link.settle();
      },
    );
  }

  requestDone(link: Link, ex: Exchange, aborted: boolean): void {
    if (ex.dispatched) this.counters.active--;
    if (ex.response?.stream != null && !aborted) link.aborterUses = SIGNAL_REUSE;
    if (this.onDone === undefined) return;
    const { method, target } = ex.head;
    const request = ex.hostData instanceof Request ? ex.hostData : undefined;
    // The clock now, not the connection's last event: a streamed answer ends long after its head.
    const endMs = Date.now();
    this.onDone({ method, target, status: aborted ? 0 : ex.status, durationMs: endMs - ex.startMs, endMs, remote: link.remote, request });
  }

  // ---- HttpServer ----

  stats(): HttpStats {
    let queued = 0, held = 0;
    for (const link of this.links) {
      queued += link.queuedBytes;
      if (link.holding) held++;
    }
    const c = this.counters;
    return {
      openConnections: this.links.size, activeRequests: c.active, totalConnections: c.totalConnections,
      totalRequests: c.totalRequests, queuedBytes: queued, peakQueuedBytes: c.peakQueued, socketWrites: c.writes, heldConnections: held,
    };
  }

  stop({ graceful = true, timeoutMs = L.HTTP_SHUTDOWN_TIMEOUT_MS, idleGraceMs = 0 }: { graceful?: boolean; timeoutMs?: number; idleGraceMs?: number } = {}): Promise<void> {
    if (this.stopping !== null) return this.stopping;
    this.listener.stop(false);
    if (!graceful) {
      this.stopping = Promise.resolve();
      this.closeAll();
      return this.stopping;
    }
    let grace: ReturnType<typeof setInterval> | undefined;
    const shutdownAll = () => {
      clearInterval(grace);
      const now = Date.now();
      for (const link of this.links) link.conn.shutdown(now);
    };
    // A server with work in flight, or that took a request a moment ago (under steady traffic of short
    // requests nothing may be in flight at the signal), is being sent work: a client (a proxy above
    // all) may be writing a request on any of its idle keep-alive connections at any moment, and
    // closing one under such a request loses it (a proxy cannot retry a POST it has sent). So while
    // work keeps coming, open connections keep being answered and idle ones are left open; the grace
    // ends once the server has been quiet (nothing in flight, no new request) for
    // HTTP_STOP_RECENT_REQUEST_MS, at idleGraceMs, or when every client has closed. A proxy's upstream
    // keep-alive timeout should be shorter than ours (deploy/nginx keeps idle connections 4 s, Warren
    // 5 s). A quiet server closes everything at once. Every answer in the grace says Connection:
    // close, so no client reuses a connection we are ending.
    const c = this.counters;
    const quiet = (now: number) => c.active === 0 && now - c.lastRequestMs >= L.HTTP_STOP_RECENT_REQUEST_MS;
    const start = Date.now();
    if (idleGraceMs > 0 && !quiet(start)) {
      for (const link of this.links) link.conn.closeAfterNextResponse();
      const end = start + Math.min(idleGraceMs, timeoutMs);
      grace = setInterval(() => {
        const now = Date.now();
        if (c.active > 0) c.lastRequestMs = now;
        if (now >= end || quiet(now)) shutdownAll();
      }, STOP_POLL_MS);
    } else shutdownAll();
    this.stopping = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        clearInterval(grace);
        this.closeAll();
        resolve();
      }, timeoutMs);
      this.allClosed = () => {
        clearTimeout(timer);
        clearInterval(grace);
        clearInterval(this.sweep);
        resolve();
      };
      if (this.links.size === 0) this.allClosed();
    });
    return this.stopping;
  }

  private closeAll(): void {
    clearInterval(this.sweep);
    for (const link of this.links) link.conn.destroy();
  }
}

/** How often a stopping server's grace checks whether work is still coming. */
const STOP_POLL_MS = 50;

const NO_CONTENT: ResponseParts = { status: 204, headerLines: "", body: null, stream: null, declaredLength: -1 };
