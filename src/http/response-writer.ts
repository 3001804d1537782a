// The response side of one connection. It keeps the exchanges in arrival order (HTTP/1.1 answers
// pipelined requests in order), writes each answer when its turn comes: framing (HEAD, 1xx/204/304,
// HTTP/1.0 rules) and bytes onto the write queue, pumps a streamed body while honouring
// backpressure, and moves queued bytes to the socket. It decides nothing about the connection's
// life: it reports which response ends the connection, and its owner (the Connection) closes.
import { errorResponseBytes } from "./errors.ts";
import type { BodySource, ConnectionHost, Exchange, ResponseParts } from "./exchange.ts";
import { Outbound } from "./outbound.ts";
import { CONTINUE_100, type DateCache, FRAME_CHUNKED, FRAME_NONE, HeadEncoder, LAST_CHUNK, chunk, statusHasNoBody } from "./serialize.ts";

/** What a streamed body needs of its connection (the Connection implements it). */
export interface StreamOwner {
  /** Lingering or closed: nothing more will be written. */
  readonly closed: boolean;
  /** Pushes queued bytes to the socket (with the connection's backpressure and closing rules). */
  flush(): void;
  /**
   * The same, once this turn of the event loop is over: chunks a stream makes in one turn (a
   * stream's last text, its finish and its end) leave in one write.
   */
  flushSoon(): void;
  /** The stream of `ex` ended, or failed after its head went out (`ok` false). `close`: its head
   *  said the connection ends with it. */
  streamEnded(ex: Exchange, ok: boolean, close: boolean): void;
}

const enum Framing {
  /** Head and complete body are queued. */
  Complete,
  /** Head queued; the body follows in chunks, then the last chunk. */
  Chunked,
  /** Head queued; the body follows as is and ends when the connection does (HTTP/1.0). */
  CloseDelimited,
}

export class ResponseWriter {
  readonly out: Outbound;
  /** The server is stopping: the response being written or next ends the connection, streamed or not. */
  stopping = false;
  /** Every response from now on says close and ends the connection (a stopping server's grace). */
  closeNext = false;
  private queue: Exchange[] = NO_EXCHANGES;
  private source: BodySource | null = null;
  private wake: (() => void) | null = null;
  /** Requests dispatched whose handler has not answered yet. */
  private unanswered = 0;
  /** Since when the socket has taken none of the bytes queued (the write timer), or -1. */
  private stallSinceMs = -1;

  constructor(private host: ConnectionHost, private readonly owner: StreamOwner, private readonly highWaterBytes: number, coalesceMaxBytes: number) {
    this.out = new Outbound(coalesceMaxBytes);
  }

  /** Nothing queued, owed, streaming or flagged (see Connection.reusable). */
  get reusable(): boolean {
    return this.queue.length === 0 && this.source === null && this.out.empty && this.unanswered === 0 && !this.stopping && !this.closeNext && this.stallSinceMs < 0;
  }

  rebind(host: ConnectionHost): void {
    this.host = host;
  }

  /** Requests queued and not yet fully answered. */
  get pending(): number {
    return this.queue.length;
  }

  get first(): Exchange | undefined {
    return this.queue[0];
  }

  get last(): Exchange | undefined {
    return this.queue[this.queue.length - 1];
  }

  get streaming(): boolean {
    return this.source !== null;
  }

  /** Bytes wait for the socket or a body is streaming. */
  get writing(): boolean {
    return !this.out.empty || this.source !== null;
  }

  /** Handlers are still working: a flush now could miss answers about to be ready. */
  get awaitingAnswers(): boolean {
    return this.unanswered > 0;
  }

  enqueue(ex: Exchange): void {
    if (this.queue === NO_EXCHANGES) this.queue = spareQueues.pop() ?? [];
    this.queue.push(ex);
  }

  /** Removes the last exchange (a request whose body never completed: not dispatched, not reported). */
  popLast(): void {
    this.queue.pop();
  }

  dispatched(ex: Exchange): void {
    ex.dispatched = true;
    this.unanswered++;
  }

  /** Records the handler's answer. Returns true when it can be written now (first in line, no stream). */
  answer(ex: Exchange, parts: ResponseParts): boolean {
    this.unanswered--;
    ex.response = parts;
    ex.status = parts.status;
    return this.queue[0] === ex && this.source === null;
  }

  /**
   * Writes every answered exchange at the front of the queue, in order, stopping at one whose body
   * streams. Returns true when a written response ends the connection: it has left the queue, and
   * the exchanges behind it are still queued for the owner to drop.
   */
  writeAnswered(now: number): boolean {
    for (let ex = this.queue[0]; ex !== undefined && (ex.response !== null || ex.error !== 0) && this.source === null; ex = this.queue[0]) {
      if (ex.error !== 0) {
        this.out.push(errorResponseBytes(ex.error, this.host.dates.line(now)));
        this.finish(ex);
        return true;
      }
      const parts = ex.response!;
      const close = !ex.head.keepAlive || this.stopping || this.closeNext || parts.close === true;
      const framing = queueResponse(ex, parts, close, this.out, this.host.dates, now);
      if (framing !== Framing.Complete) {
        this.source = parts.stream;
        void this.pump(ex, parts.stream!, framing === Framing.Chunked, close || framing === Framing.CloseDelimited);
        return false;
      }
      this.finish(ex);
      if (close) return true;
    }
    return false;
  }

  /** Queues a 100 Continue for `ex`, whose client waits for it before sending the body. */
  queueContinue(ex: Exchange): void {
    ex.continuePending = false;
    this.out.push(CONTINUE_100);
  }

  /** `ex`, first in line, is fully written: it leaves the queue and the host hears of it. */
  finish(ex: Exchange): void {
    this.queue.shift();
    if (this.queue.length === 0) {
      if (spareQueues.length < MAX_SPARES) spareQueues.push(this.queue);
      this.queue = NO_EXCHANGES;
    }
    ex.done = true;
    this.host.requestDone(ex, false);
  }

  /** Drops queued exchanges from index `i` on (the shared empty queue must not be mutated). */
  dropFrom(i: number): void {
    const q = this.queue;
    if (q.length <= i) return;
    const dropped = q.slice(i);
    if (i === 0) this.queue = NO_EXCHANGES;
    else q.length = i;
    for (const ex of dropped) this.drop(ex);
  }

  private drop(ex: Exchange): void {
    if (ex.done) return;
    ex.done = true;
    if (!ex.dispatched) return;
    if (ex.response === null) this.unanswered--;
    this.host.requestDone(ex, true);
  }

  /** Writes what the socket takes. Returns true when nothing is left queued. */
  flushOut(now: number): boolean {
    const before = this.out.bytes;
    const empty = this.out.flush(this.host);
    if (empty) this.stallSinceMs = -1;
    else if (this.stallSinceMs < 0 || this.out.bytes < before) this.stallSinceMs = now;
    return empty;
  }

  get overHighWater(): boolean {
    return this.out.bytes >= this.highWaterBytes;
  }

  /** The socket has taken nothing for `limitMs` while bytes wait (a peer that stopped reading). */
  stalled(now: number, limitMs: number): boolean {
    return this.stallSinceMs >= 0 && now - this.stallSinceMs >= limitMs;
  }

  /** Lets a stream pump waiting for room continue (the queue went under the high-water mark). */
  wakePump(): void {
    this.wake?.();
  }

  /** The socket is gone: drops every exchange, the queued bytes and the stream in progress. */
  abort(): void {
    this.dropFrom(0);
    this.out.clear();
    this.source?.cancel();
    this.source = null;
    this.wake?.();
  }

  /** Null when there is room; else resolves once the queue is under the high-water mark or closed. */
  private writable(): Promise<void> | null {
    if (this.out.bytes < this.highWaterBytes || this.owner.closed) return null;
    return new Promise<void>((resolve) => {
      this.wake = () => {
        this.wake = null;
        resolve();
      };
    });
  }

  /**
   * Moves a streamed body to the socket: waits while the queue is over the high-water mark (so a
   * slow reader slows the producer instead of growing memory), frames each chunk, and reports the
   * end to the owner. A closed connection has already cancelled the source.
   */
  private async pump(ex: Exchange, source: BodySource, chunked: boolean, close: boolean): Promise<void> {
    const owner = this.owner;
    try {
      for (;;) {
        const wait = this.writable();
        if (wait !== null) await wait;
        if (owner.closed) return;
        const data = await source.read();
        if (owner.closed) return;
        if (data === null) break;
        if (data.length === 0) continue;
        this.out.push(chunked ? chunk(data) : data);
        owner.flushSoon();
      }
      if (chunked) this.out.push(LAST_CHUNK);
      this.source = null;
      owner.streamEnded(ex, true, close);
    } catch {
      // The body failed after its head went out: nothing honest can follow, so the connection dies.
      source.cancel();
      this.source = null;
      owner.streamEnded(ex, false, close);
    }
  }
}

/** Queues the head (and a complete body), framed for the request and status. */
function queueResponse(ex: Exchange, parts: ResponseParts, close: boolean, out: Outbound, dates: DateCache, now: number): Framing {
  const { status, headerLines } = parts;
  const isHead = ex.head.method === "HEAD";
  const noBody = isHead || statusHasNoBody(status);
  let connection = close ? "close" : ex.head.minor === 0 ? "keep-alive" : "";
  if (parts.stream !== null && !noBody) {
    // HTTP/1.0 has no chunked coding: the body ends when the connection does.
    const chunked = ex.head.minor === 1;
    if (!chunked) connection = "close";
    out.pushEncoded(HEAD.set(dates.prefix(status, now), headerLines, chunked ? FRAME_CHUNKED : FRAME_NONE, connection), null);
    return chunked ? Framing.Chunked : Framing.CloseDelimited;
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
  return Framing.Complete;
}

/** Encoding is synchronous, so one encoder serves every response. */
const HEAD = new HeadEncoder();

/** Shared empty queue; enqueue() swaps in a real array, finish() or a drop swaps it back. */
const NO_EXCHANGES: Exchange[] = Object.freeze([]) as unknown as Exchange[];

// Emptied queues, taken by whichever connection needs one next: a busy connection allocates none
// per request, and an idle one holds none.
const MAX_SPARES = 64;
const spareQueues: Exchange[][] = [];
