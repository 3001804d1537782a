// The records a connection's parts share: one request and its response (Exchange), a handler's
// answer once separated from Web types (ResponseParts), the limits (ConnectionOptions) and the
// socket side of one connection (ConnectionHost). Types only, plus the Exchange constructor, so
// every other file of the connection can import it without a cycle.
import type { HttpError } from "./errors.ts";
import type { WriteTarget } from "./outbound.ts";
import type { HeadLimits, RequestHead } from "./parser.ts";
import type { DateCache } from "./serialize.ts";

export interface ConnectionOptions extends HeadLimits {
  maxBodyBytes: number;
  maxChunkLineBytes: number;
  maxTrailerBytes: number;
  headerTimeoutMs: number;
  bodyTimeoutMs: number;
  keepAliveTimeoutMs: number;
  writeTimeoutMs: number;
  lingerMs: number;
  highWaterBytes: number;
  maxPipelined: number;
  coalesceMaxBytes: number;
}

/** A streamed response body. read() resolves null at the end; cancel() stops upstream work. */
export interface BodySource {
  read(): Promise<Uint8Array | null>;
  cancel(): void;
}

/** What the connection needs of a Response, already separated from Web types. */
export interface ResponseParts {
  status: number;
  /** Application headers as "name: value\r\n" lines, without framing, Connection or Date. */
  headerLines: string;
  /** Complete body (null: empty or streamed). */
  body: Uint8Array | null;
  stream: BodySource | null;
  /** Content-Length the application set, kept for HEAD and 304 answers that carry no body. */
  declaredLength: number;
  /** The application asked for the connection to end after this response (Connection: close). */
  close?: boolean;
}

/** One request and its response, queued in arrival order. */
export interface Exchange {
  head: RequestHead;
  body: Uint8Array | null;
  startMs: number;
  /** Set when a closing error stands in for a request (parse error, timeout). */
  error: HttpError | 0;
  status: number;
  response: ResponseParts | null;
  dispatched: boolean;
  done: boolean;
  continuePending: boolean;
  /** The host's own per-request value (server.ts keeps the Web Request here). */
  hostData: unknown;
}

/**
 * The socket side of one connection: server.ts gives each socket its own, tests a fake. The
 * connection calls it; it answers a dispatched request through the connection's respond or
 * respondError. write() (from WriteTarget) is socket.write of data[0, length): bytes taken,
 * negative once closed.
 */
export interface ConnectionHost extends WriteTarget {
  /** Shut the write side (FIN) after the last response. */
  end(): void;
  /** Tear the socket down now. */
  destroy(): void;
  pauseReading(): void;
  resumeReading(): void;
  /** Run the handler for `ex`. */
  dispatch(ex: Exchange): void;
  /** Called once per exchange that leaves the queue: answered, or dropped (`aborted`). */
  requestDone(ex: Exchange, aborted: boolean): void;
  /** Call the connection's flush after pending microtasks, so responses finishing together share one write. */
  scheduleFlush(): void;
  readonly dates: DateCache;
}

export function newExchange(head: RequestHead, now: number, error: HttpError | 0): Exchange {
  return { head, body: null, startMs: now, error, status: 0, response: null, dispatched: false, done: false, continuePending: false, hostData: null };
}
