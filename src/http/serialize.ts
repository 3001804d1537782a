// Response bytes: status line, headers, Date, chunked framing. Pure: time is passed in.
// Heads are built as strings (cheap concatenation in JSC) and encoded once per response.

const REASONS: Record<number, string> = {
  100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created", 202: "Accepted",
  204: "No Content", 206: "Partial Content", 301: "Moved Permanently", 302: "Found",
  303: "See Other", 304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect",
  400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
  405: "Method Not Allowed", 406: "Not Acceptable", 408: "Request Timeout", 409: "Conflict",
  410: "Gone", 411: "Length Required", 412: "Precondition Failed", 413: "Content Too Large",
  414: "URI Too Long", 415: "Unsupported Media Type", 417: "Expectation Failed",
  422: "Unprocessable Content", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
  500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
  503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported",
};

const encoder = new TextEncoder();
const statusLines = new Map<number, string>();

/** "HTTP/1.1 200 OK\r\n". We always answer as HTTP/1.1, also to 1.0 clients (RFC 9110 §6.2). */
export function statusLine(status: number): string {
  let line = statusLines.get(status);
  if (line === undefined) {
    line = `HTTP/1.1 ${status} ${REASONS[status] ?? ""}\r\n`;
    statusLines.set(status, line);
  }
  return line;
}

/** Formats the Date header at most once per second (toUTCString is slow relative to a request). */
export class DateCache {
  private second = -1;
  private cached = "";
  /** Status line + Date line as bytes, per status, for the current second. */
  private prefixes = new Map<number, Uint8Array>();

  line(nowMs: number): string {
    const second = Math.floor(nowMs / 1000);
    if (second !== this.second) {
      this.second = second;
      this.cached = `date: ${new Date(second * 1000).toUTCString()}\r\n`;
      this.prefixes.clear();
    }
    return this.cached;
  }

  /** statusLine(status) + line(nowMs), encoded. */
  prefix(status: number, nowMs: number): Uint8Array {
    const date = this.line(nowMs);
    let bytes = this.prefixes.get(status);
    if (bytes === undefined) {
      bytes = encoder.encode(statusLine(status) + date);
      this.prefixes.set(status, bytes);
    }
    return bytes;
  }
}

type Latin1Write = (this: Uint8Array, str: string, offset: number, length: number) => number;
/** Buffer.prototype.latin1Write, when present and usable on a plain Uint8Array (checked once). */
const latin1Write: Latin1Write | undefined = (() => {
  const fn = (globalThis as { Buffer?: { prototype?: { latin1Write?: Latin1Write } } }).Buffer?.prototype?.latin1Write;
  if (typeof fn !== "function") return undefined;
  try {
    const probe = new Uint8Array(4);
    fn.call(probe, "a\u00ffb", 1, 3);
    return probe[1] === 0x61 && probe[2] === 0xff && probe[3] === 0x62 ? fn : undefined;
  } catch {
    return undefined;
  }
})();

/** Framing chosen for a response body; a non-negative number means Content-Length. */
export const FRAME_CHUNKED = -1;
/** No framing header: no body (204/304/HEAD of a stream) or close-delimited (HTTP/1.0 stream). */
export const FRAME_NONE = -2;

/**
 * Writes `str` as ISO-8859-1 bytes at `off`; returns the offset after it. `dst` must have
 * str.length bytes free. Header values are ByteStrings (code points <= 0xFF), so UTF-8 would
 * mangle 0x80-0xFF: Buffer#latin1Write where the runtime has it; otherwise short strings are copied
 * code by code, longer ones go through the native encoder first and the byte loop only on mismatch.
 */
export function writeLatin1(str: string, dst: Uint8Array, off: number): number {
  // Where the runtime has Node's Buffer#latin1Write (Bun, Node), it writes at an offset natively:
  // no view, no check afterwards (it keeps the low byte, as the loop below does).
  if (latin1Write !== undefined) {
    latin1Write.call(dst, str, off, str.length);
    return off + str.length;
  }
  // Most header lines are short, and for them the view the encoder needs costs more than the loop.
  if (str.length < 64) {
    for (let i = 0; i < str.length; i++) dst[off + i] = str.charCodeAt(i);
    return off + str.length;
  }
  // At offset 0 the destination itself is used: a subarray view per call costs more than the copy.
  const r = encoder.encodeInto(str, off === 0 ? dst : dst.subarray(off, off + str.length));
  if (r.read === str.length && r.written === str.length) return off + str.length;
  for (let i = 0; i < str.length; i++) dst[off + i] = str.charCodeAt(i);
  return off + str.length;
}

/** Bytes that know their size and write themselves: how a response head is queued without a string. */
export interface Encodable {
  readonly size: number;
  /** Writes exactly `size` bytes at dst[off...]; returns the offset after them. */
  encode(dst: Uint8Array, off: number): number;
}

const CONTENT_LENGTH = encoder.encode("content-length: ");
const CHUNKED = encoder.encode("transfer-encoding: chunked\r\n");
const CONNECTION = encoder.encode("connection: ");

/**
 * A complete response head: status line, Date, the application's headers (already rendered as
 * "name: value\r\n", framing and connection headers removed), then our framing and connection
 * headers (`connection`: "close", "keep-alive" for 1.0 clients, or "" for the 1.1 default). Written
 * without building a string (test/helpers/http-oracle.ts has the string form the tests compare
 * against): status and Date lines come
 * from DateCache.prefix, numbers are written digit by digit, and only the application's header
 * lines are encoded. Set, then encoded at once (one instance serves every response).
 */
export class HeadEncoder implements Encodable {
  private prefix: Uint8Array = CONTENT_LENGTH;
  private headerLines = "";
  private frame = FRAME_NONE;
  private connection = "";
  // The application's header lines are often the very string of the last response (see headerLine
  // in bridge.ts): then their bytes are copied rather than encoded again.
  private lastLines = "";
  private lastLineBytes = new Uint8Array(0);
  size = 0;

  set(prefix: Uint8Array, headerLines: string, frame: number, connection: string): this {
    this.prefix = prefix;
    this.headerLines = headerLines;
    this.frame = frame;
    this.connection = connection;
    let size = prefix.length + headerLines.length + 2;
    if (frame >= 0) size += CONTENT_LENGTH.length + digitCount(frame) + 2;
    else if (frame === FRAME_CHUNKED) size += CHUNKED.length;
    if (connection !== "") size += CONNECTION.length + connection.length + 2;
    this.size = size;
    return this;
  }

  encode(dst: Uint8Array, off: number): number {
    dst.set(this.prefix, off);
    off += this.prefix.length;
    off = this.writeLines(dst, off);
    if (this.frame >= 0) {
      dst.set(CONTENT_LENGTH, off);
      off = crlf(dst, writeDigits(this.frame, dst, off + CONTENT_LENGTH.length));
    } else if (this.frame === FRAME_CHUNKED) {
      dst.set(CHUNKED, off);
      off += CHUNKED.length;
    }
    if (this.connection !== "") {
      dst.set(CONNECTION, off);
      off = crlf(dst, writeLatin1(this.connection, dst, off + CONNECTION.length));
    }
    return crlf(dst, off);
  }

  private writeLines(dst: Uint8Array, off: number): number {
    const lines = this.headerLines;
    if (lines.length === 0) return off;
    if (lines === this.lastLines) {
      dst.set(this.lastLineBytes, off);
      return off + lines.length;
    }
    const end = writeLatin1(lines, dst, off);
    // Short only: a long block is likely to differ next time (per-response values), and a copy
    // per miss would cost more than it saves.
    if (lines.length <= 64) {
      this.lastLines = lines;
      this.lastLineBytes = dst.slice(off, end);
    }
    return end;
  }
}

function digitCount(n: number): number {
  let count = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    count++;
  }
  return count;
}

function writeDigits(n: number, dst: Uint8Array, off: number): number {
  const end = off + digitCount(n);
  for (let i = end - 1; i >= off; i--) {
    dst[i] = 48 + (n % 10);
    n = Math.floor(n / 10);
  }
  return end;
}

function crlf(dst: Uint8Array, off: number): number {
  dst[off] = 13;
  dst[off + 1] = 10;
  return off + 2;
}

/** One chunk in chunked coding (RFC 9112 §7.1): hex size CRLF data CRLF. Empty data is never framed
 * (a zero-size chunk would end the body). */
export function chunk(data: Uint8Array): Uint8Array {
  const size = data.length.toString(16);
  const out = new Uint8Array(size.length + 2 + data.length + 2);
  writeLatin1(size + "\r\n", out, 0);
  out.set(data, size.length + 2);
  out[out.length - 2] = 13;
  out[out.length - 1] = 10;
  return out;
}

export const LAST_CHUNK: Uint8Array = encoder.encode("0\r\n\r\n");
export const CONTINUE_100: Uint8Array = encoder.encode("HTTP/1.1 100 Continue\r\n\r\n");

/** Stream chunks may be bytes, any view, an ArrayBuffer or (Elysia generators) strings. */
export function toBytes(value: unknown): Uint8Array | null {
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") return encoder.encode(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return null;
}

/** Statuses that never carry a body (RFC 9110 §6.4.1), whatever the Response says. */
export function statusHasNoBody(status: number): boolean {
  return status === 204 || status === 304 || (status >= 100 && status < 200);
}
