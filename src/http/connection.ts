// One client connection as a state machine: bytes in -> requests out to the host -> responses
// back in strict order -> bytes out. Pure: no sockets, no clock (every input carries `now`), no
// timers (the server's sweep calls tick). The host (server.ts, or a fake in tests) does the I/O.
import { type BodyDecoder, ChunkedDecoder, LengthDecoder, concatBody } from "./body.ts";
import { ERROR_SPECS, HttpError, errorBody, errorResponseBytes } from "./errors.ts";
import { InputBuffer } from "./input.ts";
import { Outbound, type WriteTarget } from "./outbound.ts";
import { type ConnectionHost, type ConnectionOptions, type Exchange, newExchange } from "./exchange.ts";
import { NEED_MORE, type RequestHead, emptyHead, parseHead } from "./parser.ts";
import { type BodySource, type ResponseParts, pumpStream, writeResponse } from "./respond.ts";
import { CONTINUE_100 } from "./serialize.ts";

export type { ConnectionHost, ConnectionOptions, Exchange } from "./exchange.ts";

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

const enum Read {
  Head,
  Body,
  /** No further requests are parsed (Connection: close, an error, or stop); input is discarded. */
  Stopped,
}
const PAUSE_WRITE = 1, PAUSE_PIPELINE = 2;

export class Connection implements WriteTarget {
  state = ConnState.Idle;
  now: number;
  /** The host's handle for this connection (the Bun socket). */
  io: unknown = null;
  /** Host-owned: aborts the requests in flight when the peer goes away. */
  aborter: AbortController | null = null;
  aborterUses = 0;
  readonly out: Outbound;
  // Held only while in use (from the spares below): an idle keep-alive connection should be a few
  // hundred bytes.
  private input: InputBuffer | null = null;
  private exchanges: Exchange[] = NO_EXCHANGES;
  private read = Read.Head;
  private head: RequestHead | null = null;
  private headScanned = 0;
  private headStartMs = -1;
  private decoder: BodyDecoder | null = null;
  private pieces: Uint8Array[] | null = null;
  private stopAfterBody = false;
  private stopping = false;
  /** Every answer from now on ends the connection; requests are still read (a stopping server's grace). */
  private lastAnswers = false;
  /** Start of the current state's timer: idle since, last body progress, or linger start. */
  private timerMs: number;
  private stallSinceMs = -1;
  private paused = 0;
  private batch = false;
  private dirty = false;
  private waitingHandlers = 0;
  private streaming: BodySource | null = null;
  private wake: (() => void) | null = null;

  constructor(readonly host: ConnectionHost, readonly opts: ConnectionOptions, now: number) {
    this.now = now;
    this.timerMs = now;
    this.out = new Outbound(opts.coalesceMaxBytes);
  }

  /** Requests parsed and not yet fully answered. */
  get inFlight(): number {
    return this.exchanges.length;
  }

  get closed(): boolean {
    return this.state >= ConnState.Lingering;
  }

  write(data: Uint8Array, length: number): number {
    return this.host.write(this, data, length);
  }

  onData(chunk: Uint8Array, now: number): void {
    this.now = now;
    if (this.read === Read.Stopped || this.state >= ConnState.Closing) return;
    (this.input ??= spareInputs.pop() ?? new InputBuffer()).append(chunk);
    this.batch = true;
    this.process();
    if (this.input?.length === 0) {
      if (spareInputs.length < MAX_SPARES) spareInputs.push(this.input);
      this.input = null;
    }
    this.endBatch();
    this.settle();
  }

  /** Parses and dispatches every complete request buffered, up to the pipelining bound. */
  private process(): void {
    const inp = this.input;
    while (inp !== null && inp.length > 0 && this.read !== Read.Stopped) {
      if (this.read === Read.Body) {
        if (!this.readBody()) return;
        continue;
      }
      if (this.exchanges.length >= this.opts.maxPipelined) return this.pause(PAUSE_PIPELINE);
      // Some clients send CRLF after a body (RFC 9112 §2.2): not the start of a slow head.
      while (inp.length >= 2 && inp.buf![inp.start] === 13 && inp.buf![inp.start + 1] === 10 && this.head === null) inp.consume(2);
      if (inp.length === 0) return;
      const head = (this.head ??= emptyHead());
      const r = parseHead(inp.buf!, inp.start, inp.end, this.headScanned, this.opts, head);
      if (r === NEED_MORE) {
        this.headScanned = inp.length;
        if (this.headStartMs < 0) this.headStartMs = this.now;
        return;
      }
      this.head = null;
      this.headScanned = 0;
      this.headStartMs = -1;
      if (r < 0) return this.fail(-r as HttpError, head);
      inp.consume(r);
      this.startExchange(head);
    }
  }

  private startExchange(head: RequestHead): void {
    if (head.contentLength > this.opts.maxBodyBytes) return this.fail(HttpError.BodyTooLarge, head);
    const ex = newExchange(head, this.now, 0);
    this.enqueue(ex);
    // RFC 9112 §9.6: nothing after a request that closes the connection is processed.
    if (head.contentLength <= 0 && !head.chunked) {
      if (!head.keepAlive) this.read = Read.Stopped;
      return this.dispatch(ex);
    }
    this.stopAfterBody = !head.keepAlive;
    this.decoder = head.chunked ? new ChunkedDecoder(this.opts) : new LengthDecoder(head.contentLength);
    this.pieces = [];
    this.timerMs = this.now;
    this.read = Read.Body;
    if (head.expectContinue) {
      ex.continuePending = true;
      if (this.exchanges[0] === ex) this.sendContinue(ex);
    }
  }

  /** Feeds buffered bytes to the body decoder. Returns true when the body completed. */
  private readBody(): boolean {
    const inp = this.input!, decoder = this.decoder!;
    const r = decoder.feed(inp.buf!, inp.start, inp.end, this.pieces!);
    if (r < 0) {
      this.fail(-r as HttpError, null);
      return false;
    }
    inp.consume(r);
    this.timerMs = this.now;
    if (!decoder.done) return false;
    const ex = this.exchanges[this.exchanges.length - 1]!;
    ex.body = concatBody(this.pieces!, decoder.received);
    ex.continuePending = false;
    this.pieces = null;
    this.decoder = null;
    this.read = this.stopAfterBody ? Read.Stopped : Read.Head;
    this.dispatch(ex);
    return true;
  }

  private enqueue(ex: Exchange): void {
    if (this.exchanges === NO_EXCHANGES) this.exchanges = spareQueues.pop() ?? [];
    this.exchanges.push(ex);
  }

  private dispatch(ex: Exchange): void {
    ex.dispatched = true;
    this.waitingHandlers++;
    this.host.dispatch(this, ex);
  }

  private sendContinue(ex: Exchange): void {
    ex.continuePending = false;
    this.out.push(CONTINUE_100);
    this.requestFlush();
  }

  /** The handler's answer for `ex`: written now if `ex` is first in line, else when its turn comes. */
  respond(ex: Exchange, parts: ResponseParts, now: number): void {
    this.now = now;
    if (ex.done) {
      parts.stream?.cancel();
      return;
    }
    this.waitingHandlers--;
    ex.response = parts;
    ex.status = parts.status;
    if (this.exchanges[0] === ex && this.streaming === null) this.writeReady();
    this.settle();
  }

  respondError(ex: Exchange, code: HttpError, now: number): void {
    const parts = { status: ERROR_SPECS[code].status, headerLines: JSON_TYPE, body: errorBody(code), stream: null, declaredLength: -1 };
    this.respond(ex, parts, now);
  }

  /** Writes every answered exchange at the front of the queue, in order. */
  private writeReady(): void {
    for (let ex = this.exchanges[0]; ex !== undefined && (ex.response !== null || ex.error !== 0) && this.streaming === null; ex = this.exchanges[0]) {
      if (ex.error !== 0) {
        this.out.push(errorResponseBytes(ex.error, this.host.dates.line(this.now)));
        this.finish(ex, true);
        break;
      }
      const close = !ex.head.keepAlive || this.stopping || this.lastAnswers || ex.response!.close === true;
      const plan = writeResponse(ex, ex.response!, close, this.out, this.host.dates, this.now);
      if (plan !== null) {
        this.streaming = plan.source;
        void pumpStream(this, ex, plan.source, plan.chunked, plan.closeAfter || close);
        break;
      }
      this.finish(ex, close);
    }
    const next = this.exchanges[0];
    if (next !== undefined && next.continuePending) this.sendContinue(next);
    // Parsing resumes only here, after the loop: a handler answering synchronously re-enters
    // writeReady, which must not happen while the loop above holds an exchange.
    if (this.paused & PAUSE_PIPELINE && this.exchanges.length < this.opts.maxPipelined) {
      this.resume(PAUSE_PIPELINE);
      const outer = this.batch;
      this.batch = true;
      this.process();
      if (!outer) this.endBatch();
    }
    this.requestFlush();
  }

  /** From the stream pump: a streamed body ended, or failed (`ok` false) after its head was sent. */
  streamEnded(ex: Exchange, ok: boolean, close: boolean): void {
    this.streaming = null;
    if (ex.done) return;
    if (!ok) return this.destroy();
    // Not on lastAnswers: a stream whose head did not say close leaves the connection to its client.
    this.finish(ex, close || this.stopping);
    this.writeReady();
    this.settle();
  }

  private finish(ex: Exchange, close: boolean): void {
    this.exchanges.shift();
    if (this.exchanges.length === 0) {
      if (spareQueues.length < MAX_SPARES) spareQueues.push(this.exchanges);
      this.exchanges = NO_EXCHANGES;
    }
    ex.done = true;
    this.host.requestDone(this, ex, false);
    if (close) this.beginClosing();
  }

  /** A request could not be read: answer `code` after the responses already owed, then close. */
  private fail(code: HttpError, head: RequestHead | null): void {
    const last = this.exchanges[this.exchanges.length - 1];
    if (last !== undefined && !last.dispatched) this.exchanges.pop();
    this.decoder = null;
    this.pieces = null;
    this.read = Read.Stopped;
    this.input = null;
    const ex = newExchange(head ?? last?.head ?? emptyHead(), this.now, code);
    ex.status = ERROR_SPECS[code].status;
    this.enqueue(ex);
    this.state = ConnState.Closing;
    if (this.exchanges[0] === ex) this.writeReady();
  }

  /** Stops reading, drops exchanges queued behind, ends once flushed. */
  private beginClosing(): void {
    this.read = Read.Stopped;
    this.input = null;
    this.head = null;
    this.headStartMs = -1;
    this.dropFrom(0);
    this.state = ConnState.Closing;
  }

  /** Drops queued exchanges from index `i` on (the shared empty queue must not be mutated). */
  private dropFrom(i: number): void {
    const q = this.exchanges;
    if (q.length <= i) return;
    const dropped = q.slice(i);
    if (i === 0) this.exchanges = NO_EXCHANGES;
    else q.length = i;
    for (const ex of dropped) this.drop(ex);
  }

  private drop(ex: Exchange): void {
    if (ex.done) return;
    ex.done = true;
    if (!ex.dispatched) return;
    if (ex.response === null) this.waitingHandlers--;
    this.host.requestDone(this, ex, true);
  }

  private endBatch(): void {
    this.batch = false;
    if (this.dirty) {
      this.dirty = false;
      this.requestFlush();
    }
  }

  private requestFlush(): void {
    if (this.batch) this.dirty = true;
    else if (this.waitingHandlers > 0 && this.streaming === null && this.state !== ConnState.Closing) this.host.scheduleFlush(this);
    else this.flush();
  }

  /** Pushes queued bytes to the socket; applies backpressure; ends a closing connection when done. */
  flush(): void {
    if (this.state >= ConnState.Lingering) return;
    const before = this.out.bytes;
    const empty = this.out.flush(this);
    if (empty) this.stallSinceMs = -1;
    else if (this.stallSinceMs < 0 || this.out.bytes < before) this.stallSinceMs = this.now;
    if (this.out.bytes >= this.opts.highWaterBytes) this.pause(PAUSE_WRITE);
    else {
      this.resume(PAUSE_WRITE);
      this.wake?.();
    }
    if (empty && this.state === ConnState.Closing && this.exchanges.length === 0) {
      this.state = ConnState.Lingering;
      this.timerMs = this.now;
      this.host.end(this);
    }
    this.settle();
  }

  onDrain(now: number): void {
    this.now = now;
    this.flush();
  }

  /** Null when there is room; else resolves once the queue is under the high-water mark or closed. */
  writable(): Promise<void> | null {
    if (this.out.bytes < this.opts.highWaterBytes || this.closed) return null;
    return new Promise<void>((resolve) => {
      this.wake = () => {
        this.wake = null;
        resolve();
      };
    });
  }

  /** Enforces the timer of the current state; the server's periodic sweep calls this. */
  tick(now: number): void {
    this.now = now;
    const o = this.opts;
    if (this.stallSinceMs >= 0 && now - this.stallSinceMs >= o.writeTimeoutMs && !this.closed) return this.destroy();
    switch (this.state) {
      case ConnState.ReadingHead:
        if (now - this.headStartMs >= o.headerTimeoutMs) this.fail(HttpError.HeaderTimeout, null);
        break;
      case ConnState.ReadingBody:
        if (now - this.timerMs >= o.bodyTimeoutMs) this.fail(HttpError.BodyTimeout, null);
        break;
      case ConnState.Idle:
        if (now - this.timerMs >= o.keepAliveTimeoutMs) {
          this.beginClosing();
          this.flush();
        }
        break;
      case ConnState.Lingering:
        if (now - this.timerMs >= o.lingerMs) this.destroy();
        break;
    }
  }

  /** A stopping server's grace: requests are still answered, each answer saying Connection: close and
   *  ending the connection; an idle connection is left open for its client to close or send on. */
  answerLast(): void {
    this.lastAnswers = true;
  }

  /** Graceful stop: an idle connection ends now; a busy one after its current response. */
  shutdown(now: number): void {
    this.now = now;
    if (this.state >= ConnState.Closing) return;
    this.stopping = true;
    const current = this.exchanges[0];
    if (current === undefined) {
      this.beginClosing();
      this.flush();
      return;
    }
    this.dropFrom(1);
    if (this.read === Read.Body && current.dispatched === false) this.stopAfterBody = true;
    else {
      this.read = Read.Stopped;
      this.input = null;
      this.headStartMs = -1;
    }
    this.settle();
  }

  destroy(): void {
    if (this.state === ConnState.Closed) return;
    this.host.destroy(this);
    this.onClose(this.now);
  }

  /** The socket is gone (peer closed, error, or destroy). Cancels streaming; drops what is queued. */
  onClose(now: number): void {
    if (this.state === ConnState.Closed) return;
    this.now = now;
    this.state = ConnState.Closed;
    this.dropFrom(0);
    this.out.clear();
    this.input = null;
    this.streaming?.cancel();
    this.streaming = null;
    this.wake?.();
  }

  /** Derives the state from what is buffered and in flight; Closing and later stick. */
  private settle(): void {
    if (this.state >= ConnState.Closing) return;
    let next: ConnState;
    if (this.read === Read.Body) next = ConnState.ReadingBody;
    else if (this.headStartMs >= 0) next = ConnState.ReadingHead;
    else if (!this.out.empty || this.streaming !== null) next = ConnState.Writing;
    else if (this.exchanges.length > 0) next = ConnState.Handling;
    else next = ConnState.Idle;
    if (next === ConnState.Idle && this.state !== ConnState.Idle) this.timerMs = this.now;
    this.state = next;
  }

  private pause(reason: number): void {
    if (this.paused === 0) this.host.pauseReading(this);
    this.paused |= reason;
  }

  private resume(reason: number): void {
    if ((this.paused & reason) === 0) return;
    this.paused &= ~reason;
    if (this.paused === 0) this.host.resumeReading(this);
  }
}

const JSON_TYPE = "content-type: application/json\r\n";
/** Shared empty queue; enqueue() swaps in a real array, finish() or a drop swaps it back. */
const NO_EXCHANGES: Exchange[] = Object.freeze([]) as unknown as Exchange[];

// Emptied queues and input buffers, taken by whichever connection needs one next: a busy
// connection allocates neither per request, and an idle one holds neither.
const MAX_SPARES = 64;
const spareQueues: Exchange[][] = [];
const spareInputs: InputBuffer[] = [];
