// The contract between a Connection and its host, and the per-request record they share.
import type { Connection } from "./connection.ts";
import type { HttpError } from "./errors.ts";
import type { HeadLimits, RequestHead } from "./parser.ts";
import type { ResponseParts } from "./respond.ts";
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

/** The I/O side (server.ts, or a fake in tests). One host serves every connection. */
export interface ConnectionHost {
  /** socket.write of data[0, length): bytes taken, negative once closed. */
  write(conn: Connection, data: Uint8Array, length: number): number;
  /** Shut the write side (FIN) after the last response. */
  end(conn: Connection): void;
  /** Tear the socket down now. */
  destroy(conn: Connection): void;
  pauseReading(conn: Connection): void;
  resumeReading(conn: Connection): void;
  /** Run the handler; it answers with conn.respond or conn.respondError. */
  dispatch(conn: Connection, ex: Exchange): void;
  /** Called once per exchange that leaves the queue: answered, or dropped (`aborted`). */
  requestDone(conn: Connection, ex: Exchange, aborted: boolean): void;
  /** Flush after pending microtasks, so responses finishing together share one write. */
  scheduleFlush(conn: Connection): void;
  readonly dates: DateCache;
}

export function newExchange(head: RequestHead, now: number, error: HttpError | 0): Exchange {
  return { head, body: null, startMs: now, error, status: 0, response: null, dispatched: false, done: false, continuePending: false, hostData: null };
}
