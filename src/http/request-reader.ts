// The request side of one connection: bytes in, requests out. It buffers what the socket delivers,
// parses heads (parser.ts), decodes bodies (body.ts), and hands each complete head, each complete
// body and the first error to its sink (the Connection) in arrival order. It starts the header and
// body timers; the connection enforces them. Pure: no sockets and no clock (`now` is passed in).
//
//   Head ──head with a body──► Body ──body complete──► Head
//     │ (bodiless head: stays in Head)                   │
//     └──── error, Connection: close, stop() ──► Stopped ◄┘ (and after a closing request's body)
import { type BodyDecoder, ChunkedDecoder, LengthDecoder, concatBody } from "./body.ts";
import { HttpError } from "./errors.ts";
import type { ConnectionOptions } from "./exchange.ts";
import { InputBuffer } from "./input.ts";
import { NEED_MORE, type RequestHead, emptyHead, parseHead } from "./parser.ts";

/** Where the reader's requests go (the Connection). Calls arrive synchronously from read(). */
export interface RequestSink {
  /** Whether another request may start (the pipelining bound). When not, the sink pauses reading
   *  and calls read() again once responses have gone out. */
  admitRequest(): boolean;
  /** A complete head. When it announced a body, the reader is now reading it (readingBody). */
  onHead(head: RequestHead): void;
  /** The body of the last head is complete. */
  onBody(body: Uint8Array): void;
  /** A request could not be read: `code` says why, `head` is its head when one was parsed. The
   *  reader has stopped. */
  onReadError(code: HttpError, head: RequestHead | null): void;
}

const enum Mode {
  Head,
  Body,
  /** No further requests are parsed (Connection: close, an error, or stop); input is discarded. */
  Stopped,
}

export class RequestReader {
  /** When the unfinished head being read began (its first byte), or -1: the header timer (slowloris). */
  headStartMs = -1;
  /** When the body being read last made progress: the body timer. */
  bodyActiveMs = 0;
  private mode = Mode.Head;
  // Held only while in use (from the spares below): an idle keep-alive connection should be a few
  // hundred bytes.
  private input: InputBuffer | null = null;
  private head: RequestHead | null = null;
  /** Bytes of the unfinished head already scanned for its end. */
  private headScanned = 0;
  private decoder: BodyDecoder | null = null;
  private pieces: Uint8Array[] | null = null;
  /** The request whose body is being read is the last one (it said close, or the server is stopping). */
  private lastRequest = false;

  constructor(private readonly opts: ConnectionOptions) {}

  get readingBody(): boolean {
    return this.mode === Mode.Body;
  }

  /** Between requests, holding nothing (see Connection.reusable). */
  get reusable(): boolean {
    return this.mode === Mode.Head && this.input === null && this.head === null && this.headStartMs < 0;
  }

  get stopped(): boolean {
    return this.mode === Mode.Stopped;
  }

  append(chunk: Uint8Array): void {
    (this.input ??= spareInputs.pop() ?? new InputBuffer()).append(chunk);
  }

  /** Gives an emptied input buffer back to the spares (after a read, with no bytes left over). */
  releaseInput(): void {
    if (this.input?.length !== 0) return;
    if (spareInputs.length < MAX_SPARES) spareInputs.push(this.input);
    this.input = null;
  }

  /** Parses every complete request buffered, handing each to `sink`, up to the pipelining bound. */
  read(sink: RequestSink, now: number): void {
    const inp = this.input;
    while (inp !== null && inp.length > 0 && this.mode !== Mode.Stopped) {
      if (this.mode === Mode.Body) {
        if (!this.readBody(sink, now)) return;
        continue;
      }
      if (!sink.admitRequest()) return;
      // Some clients send CRLF after a body (RFC 9112 §2.2): not part of the head, nor the start of a
      // slow one. Also when its CR came in an earlier read: the parser does not count empty lines
      // toward the head limit, and they must not pile up in the buffer meanwhile.
      while (inp.length >= 2 && inp.buf![inp.start] === 13 && inp.buf![inp.start + 1] === 10) {
        inp.consume(2);
        this.headScanned = Math.max(0, this.headScanned - 2);
      }
      if (inp.length === 0) {
        // A head begun by a lone CR keeps its header timer: a client cannot stay open on a drip of CRLFs.
        this.head = null;
        this.headScanned = 0;
        return;
      }
      const head = (this.head ??= emptyHead());
      const r = parseHead(inp.buf!, inp.start, inp.end, this.headScanned, this.opts, head);
      if (r === NEED_MORE) {
        this.headScanned = inp.length;
        if (this.headStartMs < 0) this.headStartMs = now;
        return;
      }
      this.head = null;
      this.headScanned = 0;
      this.headStartMs = -1;
      if (r < 0) return this.fail(sink, -r as HttpError, head);
      inp.consume(r);
      this.startRequest(sink, head, now);
    }
  }

  private startRequest(sink: RequestSink, head: RequestHead, now: number): void {
    if (head.contentLength > this.opts.maxBodyBytes) return this.fail(sink, HttpError.BodyTooLarge, head);
    if (head.contentLength <= 0 && !head.chunked) {
      // RFC 9112 §9.6: nothing after a request that closes the connection is processed.
      if (!head.keepAlive) this.mode = Mode.Stopped;
      return sink.onHead(head);
    }
    this.lastRequest = !head.keepAlive;
    this.decoder = head.chunked ? new ChunkedDecoder(this.opts) : new LengthDecoder(head.contentLength);
    this.pieces = [];
    this.bodyActiveMs = now;
    this.mode = Mode.Body;
    sink.onHead(head);
  }

  /** Feeds buffered bytes to the body decoder. Returns true when the body completed. */
  private readBody(sink: RequestSink, now: number): boolean {
    const inp = this.input!, decoder = this.decoder!;
    const r = decoder.feed(inp.buf!, inp.start, inp.end, this.pieces!);
    if (r < 0) {
      this.fail(sink, -r as HttpError, null);
      return false;
    }
    inp.consume(r);
    this.bodyActiveMs = now;
    if (!decoder.done) return false;
    const body = concatBody(this.pieces!, decoder.received);
    this.pieces = null;
    this.decoder = null;
    this.mode = this.lastRequest ? Mode.Stopped : Mode.Head;
    sink.onBody(body);
    return true;
  }

  private fail(sink: RequestSink, code: HttpError, head: RequestHead | null): void {
    this.stop();
    sink.onReadError(code, head);
  }

  /** The body being read is the last request read (a stopping server answers it, then closes). */
  stopAfterBody(): void {
    this.lastRequest = true;
  }

  /** Reads nothing more; buffered and later input is discarded. */
  stop(): void {
    this.mode = Mode.Stopped;
    this.input = null;
    this.head = null;
    this.headScanned = 0;
    this.headStartMs = -1;
    this.decoder = null;
    this.pieces = null;
  }
}

// Emptied input buffers, taken by whichever connection needs one next: a busy connection allocates
// none per request, and an idle one holds none.
const MAX_SPARES = 64;
const spareInputs: InputBuffer[] = [];
