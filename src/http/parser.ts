// Incremental HTTP/1.1 request-head parser (RFC 9112 §2-§6). Pure: bytes in, a RequestHead out.
//
// Return protocol of parseHead (picohttpparser style, never throws):
//   n > 0       the head is complete: it is the first n bytes from `start`; `out` is filled.
//   NEED_MORE   no complete head yet; call again with the same start and more bytes, passing the
//               previous byte count as `prevLen` so only new bytes are scanned for the end of head.
//   n < 0       malformed or over a limit: -n is an HttpError; answer it and close.
//
// Strict on purpose (request smuggling): every line ends in CRLF, no obs-fold, no whitespace
// before a colon, no control characters in values, one unambiguous body framing.
//
// Precedence (docs/architecture.md): a head that breaks several rules is answered for the one its
// bytes break first. The request line is judged as it arrives; field lines once the head is
// complete, a bare LF ends a line, or the head outgrows its limit; in each case every byte before
// that point is judged in order by one scan (scanHead), so how the bytes are split across reads
// never changes the answer. The framing of the complete head comes last.
import { HttpError } from "./errors.ts";
import { resolveFraming, validHost } from "./framing.ts";

export const NEED_MORE = 0;

export interface HeadLimits {
  /** From the request line's first byte (empty lines before it are not part of the head). */
  maxHeadBytes: number;
  maxTargetBytes: number;
  maxHeaderCount: number;
  /** The methods the server implements; absent: every method token. Any other method, and CONNECT
   *  always (no tunnels: authority-form is not served), is 501 as soon as its token ends. */
  knownMethod?: (method: string) => boolean;
}

export interface RequestHead {
  method: string;
  /** request-target exactly as received. */
  target: string;
  /** Origin-form path and query: absolute-form reduced to its path, "*" for asterisk-form. */
  path: string;
  /** Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1 and 1.x (RFC 9110 §6.2: treat as highest known). */
  minor: number;
  /** Flat [name, value, name, value...] in received order; names lowercased, values trimmed. */
  headers: string[];
  /** -1 when absent. Mutually exclusive with `chunked`. */
  contentLength: number;
  chunked: boolean;
  keepAlive: boolean;
  /** Only set for HTTP/1.1 (RFC 9110 §10.1.1: ignore 100-continue from 1.0 clients). */
  expectContinue: boolean;
}

export function emptyHead(): RequestHead {
  return { method: "", target: "", path: "", minor: 1, headers: NO_FIELDS, contentLength: -1, chunked: false, keepAlive: true, expectContinue: false };
}

/** Until a head is decoded it has no fields; decoding gives it an array of its own. */
const NO_FIELDS: string[] = Object.freeze([]) as unknown as string[];

const CR = 13, LF = 10, SP = 32, HTAB = 9, COLON = 58, SLASH = 47, QUESTION = 63;

/** tchar (RFC 9110 §5.6.2): method and field-name bytes. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let b = 0x30; b <= 0x39; b++) TCHAR[b] = 1;
for (let b = 0x41; b <= 0x5a; b++) TCHAR[b] = TCHAR[b + 0x20] = 1;

/** field-vchar, SP, HTAB, obs-text (RFC 9110 §5.5). CR/LF/NUL and other CTLs are rejected. */
const VALUE = new Uint8Array(256);
for (let b = 0x20; b < 0x100; b++) VALUE[b] = b === 0x7f ? 0 : 1;
VALUE[HTAB] = 1;

// Names requests commonly carry, interned so the hot path neither allocates nor lowercases them.
const KNOWN_BY_LENGTH: string[][] = [];
for (const name of [
  "host", "accept", "accept-encoding", "accept-language", "connection", "content-length",
  "content-type", "transfer-encoding", "expect", "user-agent", "authorization", "cookie",
  "origin", "referer", "cache-control", "pragma", "upgrade", "te", "x-forwarded-for",
  "x-request-id", "if-none-match", "if-modified-since", "sec-fetch-mode", "keep-alive",
]) (KNOWN_BY_LENGTH[name.length] ??= []).push(name);

// Methods, interned the same way (compared exactly: method names are case-sensitive).
const METHODS_BY_LENGTH: string[][] = [];
for (const name of ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]) (METHODS_BY_LENGTH[name.length] ??= []).push(name);

/** What the scan of a head found, handed from scanHead to decode. Parsing is synchronous, so one
 *  record serves every parse and a request allocates nothing for it. */
class HeadScan {
  /** Buffer offsets: the head's first byte, the byte after its blank line, the request-target, its path. */
  start = 0; end = 0; targetStart = 0; targetEnd = 0; pathStart = 0;
  method = "";
  minor = 1;
  /** Field lines found, and [nameStart, nameEnd, valueStart, valueEnd] for each (grown for heads with more). */
  count = 0; marks = new Int32Array(4 * 128);
  /** Some field value holds a byte >= 0x80 (obs-text): the head is then decoded as Latin-1. */
  highByte = false;
}

const SCAN = new HeadScan();
const ascii = new TextDecoder();

export function parseHead(buf: Uint8Array, start: number, end: number, prevLen: number, limits: HeadLimits, out: RequestHead): number {
  let s = start;
  // RFC 9112 §2.2: ignore empty lines before the request line (some clients send CRLF after a body).
  while (s + 1 < end && buf[s] === CR && buf[s + 1] === LF) s += 2;
  const limit = Math.min(end, s + limits.maxHeadBytes);
  // Bytes before prevLen were scanned already; the end test below looks back from each new LF.
  let from = Math.max(s, start + prevLen);
  for (;;) {
    const lf = findLF(buf, from, limit);
    if (lf < 0) break;
    if (lf === s || buf[lf - 1] !== CR) return judged(buf, s, lf, limits, HttpError.InvalidLineEnding);
    if (lf - 3 >= s && buf[lf - 2] === LF && buf[lf - 3] === CR) {
      SCAN.start = s;
      SCAN.end = lf + 1;
      const err = scanHead(buf, s, lf + 1, SCAN, limits);
      if (err < 0) return err;
      const bad = decode(buf, SCAN, out);
      return bad < 0 ? bad : lf + 1 - start;
    }
    from = lf + 1;
  }
  // The byte after the limit breaks it: judged on the bytes before it, whenever it arrived.
  if (end - s > limits.maxHeadBytes) return judged(buf, s, s + limits.maxHeadBytes, limits, HttpError.HeadTooLarge);
  // The request line is judged as it arrives (a lone CR may still be an empty line).
  if (end - s === 1 && buf[s] === CR) return NEED_MORE;
  const line = scanRequestLine(buf, s, end, SCAN, limits);
  return line < 0 ? line : NEED_MORE;
}

/** The first LF in buf[from, limit), or -1. A loop here beats a native indexOf call per line on
 *  the short lines of a request head (and never looks past the head limit). */
function findLF(buf: Uint8Array, from: number, limit: number): number {
  for (let i = from; i < limit; i++) if (buf[i] === LF) return i;
  return -1;
}

/** The first rule buf[s, stop) breaks, else `otherwise`: what the byte at `stop` broke. As -HttpError. */
function judged(buf: Uint8Array, s: number, stop: number, limits: HeadLimits, otherwise: HttpError): number {
  const err = scanHead(buf, s, stop, SCAN, limits);
  return err < 0 ? err : -otherwise;
}

/** Judges buf[s, stop) in byte order: request line, then field lines, recording them in sc. Returns
 *  -HttpError for the first rule broken, else 0 (for a complete head: it is well-formed). */
function scanHead(buf: Uint8Array, s: number, stop: number, sc: HeadScan, limits: HeadLimits): number {
  const i = scanRequestLine(buf, s, stop, sc, limits);
  if (i <= 0) return i;
  return scanFields(buf, i, stop, sc, limits.maxHeaderCount);
}

/** Method, target and version from s, within stop. Returns the offset after the line's CRLF, 0 when
 *  the line goes on past stop with no rule broken, or -HttpError. */
function scanRequestLine(buf: Uint8Array, s: number, stop: number, sc: HeadScan, limits: HeadLimits): number {
  let i = s;
  while (i < stop && TCHAR[buf[i]!] === 1) i++;
  if (i === stop) return 0;
  if (buf[i] !== SP || i === s) return i > s && buf[i] === CR ? -HttpError.InvalidRequestLine : -HttpError.InvalidMethod;
  const method = methodName(buf, s, i);
  if (method === "CONNECT" || (limits.knownMethod !== undefined && !limits.knownMethod(method))) return -HttpError.MethodNotImplemented;
  sc.method = method;
  const targetStart = ++i;
  // One byte past the limit is enough to know.
  const targetStop = Math.min(stop, targetStart + limits.maxTargetBytes + 1);
  while (i < targetStop && buf[i]! > SP && buf[i]! < 0x7f) i++;
  if (i - targetStart > limits.maxTargetBytes) return -HttpError.TargetTooLong;
  if (i === stop) return 0;
  if (buf[i] !== SP) return buf[i] === CR && i > targetStart ? -HttpError.InvalidRequestLine : -HttpError.InvalidTarget;
  if (i === targetStart) return -HttpError.InvalidTarget;
  const pathStart = targetForm(buf, targetStart, i, method);
  if (pathStart < 0) return pathStart;
  sc.targetStart = targetStart;
  sc.targetEnd = i;
  sc.pathStart = pathStart;
  return scanVersion(buf, i + 1, stop, sc);
}

/** The method as a string: common ones interned, so the hot path does not allocate them. */
function methodName(buf: Uint8Array, a: number, b: number): string {
  const candidates = METHODS_BY_LENGTH[b - a];
  if (candidates !== undefined) {
    outer: for (const name of candidates) {
      for (let k = 0; k < name.length; k++) if (buf[a + k] !== name.charCodeAt(k)) continue outer;
      return name;
    }
  }
  return latin1(buf, a, b);
}

/** Where the path of the target buf[a, b) starts (RFC 9112 §3.2), or -HttpError: origin-form is all
 *  path; "*" only with OPTIONS; absolute-form (http or https, with an authority) from its first "/"
 *  or "?" (b when it has neither). */
function targetForm(buf: Uint8Array, a: number, b: number, method: string): number {
  if (buf[a] === SLASH) return a;
  if (b - a === 1 && buf[a] === 42) return method === "OPTIONS" ? a : -HttpError.InvalidTarget;
  // Target bytes are all above SP, so OR-ing 0x20 lowercases letters and nothing else matches.
  let i = a;
  for (const c of "http") if ((buf[i++]! | 0x20) !== c.charCodeAt(0)) return -HttpError.InvalidTarget;
  if ((buf[i]! | 0x20) === 115) i++; // "s"
  if (i + 3 > b || buf[i] !== COLON || buf[i + 1] !== SLASH || buf[i + 2] !== SLASH) return -HttpError.InvalidTarget;
  const authority = (i += 3);
  while (i < b && buf[i] !== SLASH && buf[i] !== QUESTION) i++;
  return i === authority ? -HttpError.InvalidTarget : i;
}

const VERSION = "HTTP/#.#\r\n";

/** "HTTP/d.d" CRLF at i, within stop: the offset after it, 0 while it is a prefix of one, or -HttpError
 *  (a major version other than 1 is 505 once the line is complete). 1.x (x >= 1) reads as 1.1. */
function scanVersion(buf: Uint8Array, i: number, stop: number, sc: HeadScan): number {
  // The usual case, "HTTP/1.1" CRLF, without the loop.
  if (stop - i >= 10 && buf[i] === 72 && buf[i + 1] === 84 && buf[i + 2] === 84 && buf[i + 3] === 80 && buf[i + 4] === 47 &&
    buf[i + 5] === 49 && buf[i + 6] === 46 && buf[i + 7]! >= 48 && buf[i + 7]! <= 57 && buf[i + 8] === CR && buf[i + 9] === LF) {
    sc.minor = buf[i + 7] === 48 ? 0 : 1;
    return i + 10;
  }
  const n = Math.min(stop - i, VERSION.length);
  for (let k = 0; k < n; k++) {
    const b = buf[i + k]!, want = VERSION.charCodeAt(k);
    if (want === 35 ? !(b >= 48 && b <= 57) : b !== want) return -HttpError.InvalidVersion;
  }
  if (n < VERSION.length) return 0;
  if (buf[i + 5] !== 49) return -HttpError.VersionNotSupported;
  sc.minor = buf[i + 7] === 48 ? 0 : 1;
  return i + VERSION.length;
}

/** Field lines from i to the blank line or stop, recorded in sc (count, marks, highByte). Returns
 *  0 or -HttpError for the first rule broken. */
function scanFields(buf: Uint8Array, i: number, stop: number, sc: HeadScan, maxCount: number): number {
  let marks = sc.marks, n = 0, high = 0;
  while (i < stop) {
    const c = buf[i];
    if (c === CR) {
      // The blank line: in a complete head, the first CRLF at a line start ends it.
      if (i + 1 < stop && buf[i + 1] !== LF) return -HttpError.InvalidHeaderName;
      break;
    }
    if (c === SP || c === HTAB) return -HttpError.ObsFold;
    if (n >= maxCount) return -HttpError.TooManyHeaders;
    const nameStart = i;
    while (i < stop && TCHAR[buf[i]!] === 1) i++;
    if (i === stop) break;
    if (buf[i] !== COLON) return buf[i] === SP || buf[i] === HTAB ? -HttpError.WhitespaceBeforeColon : -HttpError.InvalidHeaderName;
    if (i === nameStart) return -HttpError.InvalidHeaderName;
    const nameEnd = i++;
    while (i < stop && (buf[i] === SP || buf[i] === HTAB)) i++;
    const valueStart = i;
    for (; i < stop; i++) {
      const b = buf[i]!;
      if (b === CR) break;
      if (VALUE[b] !== 1) return -HttpError.InvalidHeaderValue;
      high |= b;
    }
    if (i + 1 >= stop) break;
    if (buf[i + 1] !== LF) return -HttpError.InvalidHeaderValue;
    let valueEnd = i;
    while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) valueEnd--;
    if (marks.length < 4 * (n + 1)) {
      const grown = new Int32Array(marks.length * 2);
      grown.set(marks);
      marks = sc.marks = grown;
    }
    marks[4 * n] = nameStart;
    marks[4 * n + 1] = nameEnd;
    marks[4 * n + 2] = valueStart;
    marks[4 * n + 3] = valueEnd;
    n++;
    i += 2;
  }
  sc.count = n;
  sc.highByte = (high & 0x80) !== 0;
  return 0;
}

/** Node's Buffer (what sockets deliver) decodes ISO-8859-1 in place. */
type Latin1Sliceable = Uint8Array & { latin1Slice?: (start: number, end: number) => string };

/** The whole head as one string, for buffers that cannot slice tokens themselves. */
function headText(buf: Uint8Array, sc: HeadScan): string {
  const s = sc.start, headEnd = sc.end;
  if (sc.highByte) return latin1(buf, s, headEnd);
  return ascii.decode(s === 0 && headEnd === buf.length ? buf : buf.subarray(s, headEnd));
}

function latin1(buf: Uint8Array, a: number, b: number): string {
  let s = "";
  for (let i = a; i < b; i += 4096) s += String.fromCharCode(...buf.subarray(i, Math.min(b, i + 4096)));
  return s;
}

function knownName(buf: Uint8Array, a: number, b: number): string | undefined {
  const candidates = KNOWN_BY_LENGTH[b - a];
  if (candidates === undefined) return undefined;
  outer: for (const name of candidates) {
    for (let k = 0; k < name.length; k++) if ((buf[a + k]! | 0x20) !== name.charCodeAt(k)) continue outer;
    return name;
  }
  return undefined;
}

/** Fills `out` from the scanned head: strings for target and fields, then framing. Returns 0 or -HttpError. */
function decode(buf: Uint8Array, sc: HeadScan, out: RequestHead): number {
  const s = sc.start, targetStart = sc.targetStart, targetEnd = sc.targetEnd, pathStart = sc.pathStart, count = sc.count, marks = sc.marks;
  // A Buffer (what sockets deliver) slices each token straight into its own string: a view of a
  // freshly read buffer costs more than a decode (the engine first moves its bytes into an
  // ArrayBuffer). Anything else is decoded once and cut into substrings.
  const b = buf as Latin1Sliceable;
  const text = b.latin1Slice === undefined ? headText(buf, sc) : null;
  const target = recentToken(b, text, s, targetStart, targetEnd);
  const headers = new Array<string>(2 * count);
  let hostsValid = true;
  for (let h = 0; h < count; h++) {
    const na = marks[4 * h]!, nb = marks[4 * h + 1]!, va = marks[4 * h + 2]!, vb = marks[4 * h + 3]!;
    const name = knownName(buf, na, nb) ?? token(b, text, s, na, nb).toLowerCase();
    if (name === "host" && !validHost(buf, va, vb)) hostsValid = false;
    headers[2 * h] = name;
    headers[2 * h + 1] = recentToken(b, text, s, va, vb);
  }
  out.method = sc.method;
  out.target = target;
  out.minor = sc.minor;
  out.headers = headers;
  // Origin-form and "*" are all path; absolute-form is cut at its path (RFC 9112 §3.2.2).
  const rest = target.slice(pathStart - targetStart);
  out.path = pathStart === targetStart ? target : rest === "" || rest.charCodeAt(0) === QUESTION ? "/" + rest : rest;
  return resolveFraming(headers, out.minor, hostsValid, out);
}

/** Bytes a..b of the head as a string: sliced from the Buffer, or cut from the decoded `text` (which starts at s). */
function token(buf: Latin1Sliceable, text: string | null, s: number, a: number, b: number): string {
  return text === null ? buf.latin1Slice!(a, b) : text.substring(a - s, b - s);
}

// Recently seen short tokens (targets, header values), so that the strings a keep-alive client sends
// again and again are compared, not allocated anew. Two ways per set: a target and a Host value that
// happen to share a set must not evict each other on every request.
const RECENT_SETS = 64, RECENT_MAX_LENGTH = 64;
const recent: string[] = new Array<string>(2 * RECENT_SETS).fill("");

/** token(), answered from `recent` when the same bytes were seen lately. */
function recentToken(buf: Latin1Sliceable, text: string | null, s: number, a: number, b: number): string {
  const length = b - a;
  if (length === 0 || length > RECENT_MAX_LENGTH) return token(buf, text, s, a, b);
  const set = 2 * ((length * 31 + buf[a]! * 7 + buf[b - 1]! * 3 + buf[(a + b) >> 1]!) & (RECENT_SETS - 1));
  const first = recent[set]!;
  if (sameBytes(first, buf, a, length)) return first;
  const second = recent[set + 1]!;
  if (sameBytes(second, buf, a, length)) return second;
  // The newcomer takes the first way; the one it displaces gets a second chance in the other.
  recent[set + 1] = first;
  return (recent[set] = token(buf, text, s, a, b));
}

function sameBytes(str: string, buf: Uint8Array, a: number, length: number): boolean {
  if (str.length !== length) return false;
  for (let i = 0; i < length; i++) if (str.charCodeAt(i) !== buf[a + i]) return false;
  return true;
}
