// Request body decoders (RFC 9112 §6.3, §7.1): pure state machines fed whatever bytes arrive.
//
// Return protocol of feed(buf, start, end, out):
//   n >= 0   bytes consumed from `start`; body bytes were appended to `out` as subarrays of `buf`
//            (no copies: Bun hands every read a fresh buffer). Check `done` after each call;
//            once done, bytes after `start + n` belong to the next pipelined request.
//   n < 0    -n is an HttpError; answer it and close.
import { HttpError } from "./errors.ts";

export interface BodyDecoder {
  readonly done: boolean;
  /** Body bytes decoded so far. */
  readonly received: number;
  feed(buf: Uint8Array, start: number, end: number, out: Uint8Array[]): number;
}

/** Content-Length framing: exactly `length` bytes (limit already checked against the header). */
export class LengthDecoder implements BodyDecoder {
  received = 0;
  constructor(private readonly length: number) {}

  get done(): boolean {
    return this.received === this.length;
  }

  feed(buf: Uint8Array, start: number, end: number, out: Uint8Array[]): number {
    const n = Math.min(end - start, this.length - this.received);
    if (n > 0) {
      out.push(buf.subarray(start, start + n));
      this.received += n;
    }
    return n;
  }
}

export interface ChunkedLimits {
  maxBodyBytes: number;
  maxChunkLineBytes: number;
  maxTrailerBytes: number;
}

const enum Chunk {
  /** First hex digit of a chunk-size expected. */
  SizeStart,
  /** Inside chunk-size hex digits. */
  Size,
  /** After the size: chunk-ext (ignored) until CR. */
  Ext,
  /** CR of the size line seen; LF expected. */
  SizeLf,
  /** Inside chunk-data; `remaining` bytes left. */
  Data,
  /** Chunk-data done; CR expected. */
  DataCr,
  /** CR after chunk-data seen; LF expected. */
  DataLf,
  /** Start of a trailer line, or of the final blank line. */
  TrailerStart,
  /** Inside a trailer field line, until CR. */
  Trailer,
  /** CR of a trailer line seen; LF expected. */
  TrailerLf,
  /** CR of the final blank line seen; LF expected. */
  EndLf,
  /** Body complete. */
  Done,
}

const CR = 13, LF = 10, SP = 32, HTAB = 9, SEMI = 59, COLON = 58;
/** Largest chunk size we can accumulate without losing integer precision. */
const MAX_SAFE_SIZE = Math.floor((Number.MAX_SAFE_INTEGER - 15) / 16);

function hexValue(b: number): number {
  if (b >= 48 && b <= 57) return b - 48;
  const l = b | 0x20;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/** Chunked transfer coding. Extensions are skipped, trailer fields consumed and dropped. */
export class ChunkedDecoder implements BodyDecoder {
  received = 0;
  private state = Chunk.SizeStart;
  private size = 0;
  private lineBytes = 0;
  private trailerBytes = 0;
  private sawColon = false;

  constructor(private readonly limits: ChunkedLimits) {}

  get done(): boolean {
    return this.state === Chunk.Done;
  }

  feed(buf: Uint8Array, start: number, end: number, out: Uint8Array[]): number {
    let i = start;
    while (i < end && this.state !== Chunk.Done) {
      if (this.state === Chunk.Data) {
        const n = Math.min(end - i, this.size);
        out.push(buf.subarray(i, i + n));
        this.size -= n;
        i += n;
        if (this.size === 0) this.state = Chunk.DataCr;
        continue;
      }
      const err = this.state >= Chunk.TrailerStart ? this.trailerByte(buf[i]!) : this.lineByte(buf[i]!);
      if (err !== 0) return -err;
      i++;
    }
    return i - start;
  }

  /** One byte of a size line or of the CRLF after chunk data. Returns 0 or an HttpError. */
  private lineByte(b: number): number {
    switch (this.state) {
      case Chunk.SizeStart:
      case Chunk.Size: {
        if (++this.lineBytes > this.limits.maxChunkLineBytes) return HttpError.ChunkLineTooLong;
        const v = hexValue(b);
        if (v >= 0) {
          if (this.size > MAX_SAFE_SIZE) return HttpError.ChunkSizeOverflow;
          this.size = this.size * 16 + v;
          this.state = Chunk.Size;
          return 0;
        }
        if (this.state === Chunk.SizeStart) return HttpError.InvalidChunkSize;
        if (b === CR) return this.sizeLineEnd();
        if (b === SEMI || b === SP || b === HTAB) {
          this.state = Chunk.Ext;
          return 0;
        }
        return HttpError.InvalidChunkSize;
      }
      case Chunk.Ext:
        if (++this.lineBytes > this.limits.maxChunkLineBytes) return HttpError.ChunkLineTooLong;
        if (b === CR) return this.sizeLineEnd();
        return b < SP && b !== HTAB || b === 0x7f ? HttpError.InvalidChunkSize : 0;
      case Chunk.SizeLf:
        if (b !== LF) return HttpError.InvalidChunkSize;
        this.lineBytes = 0;
        this.state = this.size === 0 ? Chunk.TrailerStart : Chunk.Data;
        return 0;
      case Chunk.DataCr:
        if (b !== CR) return HttpError.InvalidChunkTerminator;
        this.state = Chunk.DataLf;
        return 0;
      case Chunk.DataLf:
        if (b !== LF) return HttpError.InvalidChunkTerminator;
        this.state = Chunk.SizeStart;
        return 0;
    }
    return HttpError.InvalidChunkSize;
  }

  private sizeLineEnd(): number {
    // 413 as soon as the declared sizes pass the limit, before any of that chunk is buffered.
    if (this.received + this.size > this.limits.maxBodyBytes) return HttpError.BodyTooLarge;
    this.received += this.size;
    this.state = Chunk.SizeLf;
    return 0;
  }

  /** One byte of the trailer section (RFC 9112 §7.1.2). Returns 0 or an HttpError. */
  private trailerByte(b: number): number {
    if (++this.trailerBytes > this.limits.maxTrailerBytes) return HttpError.TrailerTooLarge;
    switch (this.state) {
      case Chunk.TrailerStart:
        if (b === CR) {
          this.state = Chunk.EndLf;
          return 0;
        }
        if (b === COLON || b === SP || b === HTAB || b < SP) return HttpError.InvalidTrailer;
        this.sawColon = false;
        this.state = Chunk.Trailer;
        return 0;
      case Chunk.Trailer:
        if (b === CR) {
          if (!this.sawColon) return HttpError.InvalidTrailer;
          this.state = Chunk.TrailerLf;
          return 0;
        }
        if (b === COLON) this.sawColon = true;
        return b < SP && b !== HTAB || b === 0x7f ? HttpError.InvalidTrailer : 0;
      case Chunk.TrailerLf:
        if (b !== LF) return HttpError.InvalidTrailer;
        this.state = Chunk.TrailerStart;
        return 0;
      case Chunk.EndLf:
        if (b !== LF) return HttpError.InvalidTrailer;
        this.state = Chunk.Done;
        return 0;
    }
    return HttpError.InvalidTrailer;
  }
}

/** Joins decoded pieces into one buffer; a single piece is returned as is (no copy). */
export function concatBody(pieces: Uint8Array[], total: number): Uint8Array {
  if (pieces.length === 1) return pieces[0]!;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of pieces) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
