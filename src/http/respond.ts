// Turns a handler's answer (ResponseParts) into bytes on the outbound queue: framing choice,
// HEAD/204/304 rules, and the pump that moves a streamed body while honouring backpressure.
import type { Connection, Exchange } from "./connection.ts";
import type { Outbound } from "./outbound.ts";
import { type DateCache, FRAME_CHUNKED, FRAME_NONE, HeadEncoder, LAST_CHUNK, chunk, statusHasNoBody } from "./serialize.ts";

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

export interface StreamPlan {
  source: BodySource;
  chunked: boolean;
  /** HTTP/1.0 has no chunked coding: the body ends when the connection does. */
  closeAfter: boolean;
}

/** Queues the head (and a known body). Returns a plan when a body still has to be streamed. */
export function writeResponse(ex: Exchange, parts: ResponseParts, close: boolean, out: Outbound, dates: DateCache, now: number): StreamPlan | null {
  const { status, headerLines } = parts;
  const isHead = ex.head.method === "HEAD";
  const noBody = isHead || statusHasNoBody(status);
  let connection = close ? "close" : ex.head.minor === 0 ? "keep-alive" : "";
  if (parts.stream !== null && !noBody) {
    const chunked = ex.head.minor === 1;
    if (!chunked) connection = "close";
    out.pushEncoded(HEAD.set(dates.prefix(status, now), headerLines, chunked ? FRAME_CHUNKED : FRAME_NONE, connection), null);
    return { source: parts.stream, chunked, closeAfter: !chunked };
  }
  parts.stream?.cancel();
  const bodyLength = parts.body === null ? 0 : parts.body.length;
  let frame = bodyLength;
  if (noBody) {
    // RFC 9110 §8.6: no Content-Length on 1xx/204; HEAD and 304 may state the length a GET would get.
    if (status === 204 || status < 200) frame = FRAME_NONE;
    else if (parts.declaredLength >= 0) frame = parts.declaredLength;
    else frame = isHead && parts.stream === null ? bodyLength : FRAME_NONE;
  }
  out.pushEncoded(HEAD.set(dates.prefix(status, now), headerLines, frame, connection), noBody ? null : parts.body);
  return null;
}

/** Encoding is synchronous, so one encoder serves every response. */
const HEAD = new HeadEncoder();

/**
 * Moves a streamed body to the socket: waits while the queue is over the high-water mark (so a
 * slow reader slows the producer instead of growing memory), frames each chunk, and reports the
 * end to the connection. A closed connection has already cancelled the source.
 */
export async function pumpStream(conn: Connection, ex: Exchange, source: BodySource, chunked: boolean, close: boolean): Promise<void> {
  try {
    for (;;) {
      const wait = conn.writable();
      if (wait !== null) await wait;
      if (conn.closed) return;
      const data = await source.read();
      if (conn.closed) return;
      if (data === null) break;
      if (data.length === 0) continue;
      conn.out.push(chunked ? chunk(data) : data);
      conn.flush();
    }
    if (chunked) conn.out.push(LAST_CHUNK);
    conn.streamEnded(ex, true, close);
  } catch {
    // The body failed after its head went out: nothing honest can follow, so the connection dies.
    source.cancel();
    conn.streamEnded(ex, false, close);
  }
}
