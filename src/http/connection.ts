// One client connection as a state machine: bytes in -> requests out to the host -> responses back
// in strict order -> bytes out. Two parts do the work, and this file joins them:
//   request-reader.ts   buffers input, parses heads and bodies, hands each request here;
//   response-writer.ts  queues the exchanges in order, writes and streams answers, flushes bytes.
// The connection owns what spans both: its state (ConnState, moved only by to() and checked
// against TRANSITIONS), the timers each state enforces, pausing the socket's reads, and when the
// connection ends. Pure: no sockets, no clock (every input carries `now`), no timers (the server's
// sweep calls tick). The host (server.ts, or a fake in tests) does the I/O.
import { ERROR_SPECS, HttpError, errorBody } from "./errors.ts";
import { type ConnectionHost, type ConnectionOptions, type Exchange, type ResponseParts, newExchange } from "./exchange.ts";
import { type RequestHead, emptyHead } from "./parser.ts";
import { RequestReader, type RequestSink } from "./request-reader.ts";
import { ResponseWriter, type StreamOwner } from "./response-writer.ts";

export enum ConnState {
  /** Nothing buffered, nothing in flight. Keep-alive timer: the connection is ended quietly. */
  Idle,
  /** Part of a request head has arrived. Header timer from its first byte (slowloris): 408. */
  ReadingHead,
  /** Head parsed, body bytes outstanding. Body timer, restarted by each body byte: 408. */
  ReadingBody,
  /** Requests are with the handler, nothing to write. No read timer: inference may be slow. */
  Handling,
  /** Response bytes queued or a body streaming. Write timer while the socket takes nothing. */
  Writing,
  /** No more requests are read; ends once the responses owed are flushed (error, close, stop). */
  Closing,
  /** Write side shut; input discarded until the peer closes or the linger timer ends, so the peer
   *  reads our last response rather than a reset. */
  Lingering,
  /** Socket gone. Every input is ignored. */
  Closed,
}

const bit = (s: ConnState) => 1 << s;
/** The open states. With pipelining a connection can read one request while it writes another's
 *  answer, so any open state can follow any other: the one shown is the one whose timer applies
 *  (see openState). */
const OPEN = bit(ConnState.Idle) | bit(ConnState.ReadingHead) | bit(ConnState.ReadingBody) | bit(ConnState.Handling) | bit(ConnState.Writing);

/** The states each state may move to, as bit masks; to() refuses any other move (it would be a bug).
 *  The way out is one way: Closing flushes what is owed before Lingering, and nothing reopens. */
const TRANSITIONS: Readonly<Record<ConnState, number>> = {
  [ConnState.Idle]: OPEN | bit(ConnState.Closing) | bit(ConnState.Closed),
  [ConnState.ReadingHead]: OPEN | bit(ConnState.Closing) | bit(ConnState.Closed),
  [ConnState.ReadingBody]: OPEN | bit(ConnState.Closing) | bit(ConnState.Closed),
  [ConnState.Handling]: OPEN | bit(ConnState.Closing) | bit(ConnState.Closed),
  [ConnState.Writing]: OPEN | bit(ConnState.Closing) | bit(ConnState.Closed),
  [ConnState.Closing]: bit(ConnState.Lingering) | bit(ConnState.Closed),
  [ConnState.Lingering]: bit(ConnState.Closed),
  [ConnState.Closed]: 0,
};

/** Whether a connection in `from` may move to `to`. */
export function canTransition(from: ConnState, to: ConnState): boolean {
  return (TRANSITIONS[from] & bit(to)) !== 0;
}

// Why reading is paused (bits): the write queue is over its high-water mark, or the pipelining
// bound is reached. Reading resumes when neither holds.
const PAUSE_WRITE = 1, PAUSE_PIPELINE = 2;

export class Connection implements RequestSink, StreamOwner {
  now: number;
  private current = ConnState.Idle;
  private readonly reader: RequestReader;
  private readonly writer: ResponseWriter;
  /** When the current state's own timer started: Idle (keep-alive) or Lingering (linger). */
  private sinceMs: number;
  private paused = 0;
  /** Inside a read: flushes wait for its end, so answers ready together leave in one write. */
  private batching = false;
  /** A flush was asked for while batching. */
  private flushDeferred = false;

  constructor(private host: ConnectionHost, readonly opts: ConnectionOptions, now: number) {
    this.now = now;
    this.sinceMs = now;
    this.reader = new RequestReader(opts);
    this.writer = new ResponseWriter(host, this, opts.highWaterBytes, opts.coalesceMaxBytes);
  }

  /** Changed only by to(). */
  get state(): ConnState {
    return this.current;
  }

  /** Idle and holding nothing (no input, answers, queued bytes, pauses or closing flags): the object
   *  may be put aside and later serve another socket (the server keeps idle ones that way). */
  get reusable(): boolean {
    return this.current === ConnState.Idle && this.paused === 0 && !this.batching && !this.flushDeferred && this.reader.reusable && this.writer.reusable;
  }

  /** Since when it has been idle (its keep-alive timer). */
  get idleSinceMs(): number {
    return this.sinceMs;
  }

  /** A reusable connection takes on another socket, idle since `idleSinceMs` (its keep-alive timer). */
  rebind(host: ConnectionHost, idleSinceMs: number): void {
    if (!this.reusable) throw new Error("connection: rebind of a connection in use");
    this.host = host;
    this.writer.rebind(host);
    this.sinceMs = idleSinceMs;
    this.now = idleSinceMs;
  }

  /** Requests parsed and not yet fully answered. */
  get inFlight(): number {
    return this.writer.pending;
  }

  /** Response bytes queued in user space. */
  get queuedBytes(): number {
    return this.writer.out.bytes;
  }

  get closed(): boolean {
    return this.state >= ConnState.Lingering;
  }

  // ---- Input from the host ----

  onData(chunk: Uint8Array, now: number): void {
    this.now = now;
    const r = this.reader;
    if (r.stopped || this.state >= ConnState.Closing) return;
    r.append(chunk);
    this.batching = true;
    r.read(this, now);
    r.releaseInput();
    this.endBatch();
    this.step();
  }

  onDrain(now: number): void {
    this.now = now;
    this.flush();
  }

  /** The handler's answer for `ex`: written now if `ex` is first in line, else when its turn comes. */
  respond(ex: Exchange, parts: ResponseParts, now: number): void {
    this.now = now;
    if (ex.done) {
      parts.stream?.cancel();
      return;
    }
    if (this.writer.answer(ex, parts)) this.writeReady();
    this.step();
  }

  respondError(ex: Exchange, code: HttpError, now: number): void {
    const parts = { status: ERROR_SPECS[code].status, headerLines: JSON_TYPE, body: errorBody(code), stream: null, declaredLength: -1 };
    this.respond(ex, parts, now);
  }

  /** Enforces the timer of the current state; the server's periodic sweep calls this. */
  tick(now: number): void {
    this.now = now;
    const o = this.opts;
    if (this.writer.stalled(now, o.writeTimeoutMs) && !this.closed) return this.destroy();
    switch (this.state) {
      case ConnState.ReadingHead:
        if (now - this.reader.headStartMs >= o.headerTimeoutMs) this.fail(HttpError.HeaderTimeout, null);
        break;
      case ConnState.ReadingBody:
        if (now - this.reader.bodyActiveMs >= o.bodyTimeoutMs) this.fail(HttpError.BodyTimeout, null);
        break;
      case ConnState.Idle:
        if (now - this.sinceMs >= o.keepAliveTimeoutMs) {
          this.beginClosing();
          this.flush();
        }
        break;
      case ConnState.Lingering:
        if (now - this.sinceMs >= o.lingerMs) this.destroy();
        break;
    }
  }

  /** A stopping server's grace: the next response written says Connection: close and ends the
   *  connection (a body already streaming finishes as its head said). Requests are still read
   *  meanwhile, and an idle connection is left to its client. */
  closeAfterNextResponse(): void {
    this.writer.closeNext = true;
  }

  /** Graceful stop: an idle connection ends now; a busy one after its current response. */
  shutdown(now: number): void {
    this.now = now;
    if (this.state >= ConnState.Closing) return;
    const w = this.writer;
    w.stopping = true;
    const current = w.first;
    if (current === undefined) {
      this.beginClosing();
      this.flush();
      return;
    }
    w.dropFrom(1);
    if (this.reader.readingBody && !current.dispatched) this.reader.stopAfterBody();
    else this.reader.stop();
    this.step();
  }

  destroy(): void {
    if (this.state === ConnState.Closed) return;
    this.host.destroy();
    this.onClose(this.now);
  }

  /** The socket is gone (peer closed, error, or destroy). Cancels streaming; drops what is queued. */
  onClose(now: number): void {
    if (this.state === ConnState.Closed) return;
    this.now = now;
    this.to(ConnState.Closed);
    this.reader.stop();
    this.writer.abort();
  }

  // ---- RequestSink: the reader's requests ----

  admitRequest(): boolean {
    if (this.writer.pending < this.opts.maxPipelined) return true;
    this.pause(PAUSE_PIPELINE);
    return false;
  }

  onHead(head: RequestHead): void {
    const ex = newExchange(head, this.now, 0);
    this.writer.enqueue(ex);
    if (!this.reader.readingBody) return this.dispatch(ex);
    if (head.expectContinue) {
      ex.continuePending = true;
      if (this.writer.first === ex) this.sendContinue(ex);
    }
  }

  onBody(body: Uint8Array): void {
    const ex = this.writer.last!;
    ex.body = body;
    ex.continuePending = false;
    this.dispatch(ex);
  }

  /** A request could not be read: answer `code` after the responses already owed, then close. */
  onReadError(code: HttpError, head: RequestHead | null): void {
    this.fail(code, head);
  }

  // ---- StreamOwner: the writer's streamed bodies ----

  streamEnded(ex: Exchange, ok: boolean, close: boolean): void {
    if (ex.done) return;
    if (!ok) return this.destroy();
    this.writer.finish(ex);
    // Not on closeNext: a stream whose head did not say close leaves the connection to its client.
    if (close || this.writer.stopping) this.beginClosing();
    this.writeReady();
    this.step();
  }

  flushSoon(): void {
    if (this.state < ConnState.Lingering) this.host.scheduleFlush();
  }

  /** Pushes queued bytes to the socket; applies backpressure; ends a closing connection when done. */
  flush(): void {
    if (this.state >= ConnState.Lingering) return;
    const w = this.writer;
    const empty = w.flushOut(this.now);
    if (w.overHighWater) this.pause(PAUSE_WRITE);
    else {
      this.resume(PAUSE_WRITE);
      w.wakePump();
    }
    if (empty && this.state === ConnState.Closing && w.pending === 0) {
      this.to(ConnState.Lingering);
      this.host.end();
    }
    this.step();
  }

  // ---- Between the two ----

  private dispatch(ex: Exchange): void {
    this.writer.dispatched(ex);
    this.host.dispatch(ex);
  }

  private sendContinue(ex: Exchange): void {
    this.writer.queueContinue(ex);
    this.requestFlush();
  }

  /** Writes what is answered at the front of the queue; then lets waiting requests in. */
  private writeReady(): void {
    const w = this.writer;
    if (w.writeAnswered(this.now)) this.beginClosing();
    const next = w.first;
    if (next !== undefined && next.continuePending) this.sendContinue(next);
    // Reading resumes only here, after the writer's loop: a handler answering synchronously
    // re-enters writeReady, which must not happen while that loop holds an exchange.
    if (this.paused & PAUSE_PIPELINE && w.pending < this.opts.maxPipelined) {
      this.resume(PAUSE_PIPELINE);
      const outer = this.batching;
      this.batching = true;
      this.reader.read(this, this.now);
      if (!outer) this.endBatch();
    }
    this.requestFlush();
  }

  /** Stands an error in for the request that could not be read (timeouts too), then closes. */
  private fail(code: HttpError, head: RequestHead | null): void {
    this.reader.stop();
    const w = this.writer;
    const last = w.last;
    if (last !== undefined && !last.dispatched) w.popLast();
    const ex = newExchange(head ?? last?.head ?? emptyHead(), this.now, code);
    ex.status = ERROR_SPECS[code].status;
    w.enqueue(ex);
    this.to(ConnState.Closing);
    if (w.first === ex) this.writeReady();
  }

  /** Stops reading, drops exchanges queued behind, ends once flushed. */
  private beginClosing(): void {
    this.reader.stop();
    this.writer.dropFrom(0);
    this.to(ConnState.Closing);
  }

  private endBatch(): void {
    this.batching = false;
    if (this.flushDeferred) {
      this.flushDeferred = false;
      this.requestFlush();
    }
  }

  private requestFlush(): void {
    const w = this.writer;
    if (this.batching) this.flushDeferred = true;
    else if (w.awaitingAnswers && !w.streaming && this.state !== ConnState.Closing) this.host.scheduleFlush();
    else this.flush();
  }

  private pause(reason: number): void {
    if (this.paused === 0) this.host.pauseReading();
    this.paused |= reason;
  }

  private resume(reason: number): void {
    if ((this.paused & reason) === 0) return;
    this.paused &= ~reason;
    if (this.paused === 0) this.host.resumeReading();
  }

  // ---- State ----

  /** After each event: an open connection takes the state of what it is doing (Closing and later
   *  are entered by events of their own and stick). */
  private step(): void {
    if (this.current < ConnState.Closing) this.to(this.openState());
  }

  /** What an open connection is doing; when several hold (pipelining), the one whose timer must run. */
  private openState(): ConnState {
    const r = this.reader, w = this.writer;
    if (r.readingBody) return ConnState.ReadingBody;
    if (r.headStartMs >= 0) return ConnState.ReadingHead;
    if (w.writing) return ConnState.Writing;
    if (w.pending > 0) return ConnState.Handling;
    return ConnState.Idle;
  }

  /** The one place the state changes: checks the move against TRANSITIONS and starts the timer
   *  the new state keeps here (keep-alive for Idle, linger for Lingering). */
  private to(next: ConnState): void {
    const from = this.current;
    if (next === from) return;
    if (!canTransition(from, next)) throw new Error(`connection: illegal transition ${ConnState[from]} -> ${ConnState[next]}`);
    if (next === ConnState.Idle || next === ConnState.Lingering) this.sinceMs = this.now;
    this.current = next;
  }
}

const JSON_TYPE = "content-type: application/json\r\n";
