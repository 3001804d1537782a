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
import { HttpError } from "./errors.ts";

export const NEED_MORE = 0;

export interface HeadLimits {
  maxHeadBytes: number;
  maxTargetBytes: number;
  maxHeaderCount: number;
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

const CR = 13, LF = 10, SP = 32, HTAB = 9, COLON = 58;

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

/** What the scan of a complete head found, handed from parseComplete to decode. Parsing is
 *  synchronous, so one record serves every parse and a request allocates nothing for it. */
class HeadScan {
  /** Buffer offsets: the head's first byte, the byte after its blank line, the method's end, the request-target. */
  start = 0; end = 0; methodEnd = 0; targetStart = 0; targetEnd = 0;
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
  const limit = Math.min(end, start + limits.maxHeadBytes);
  // Bytes before prevLen were scanned already; the end test below looks back from each new LF.
  let from = Math.max(s, start + prevLen);
  for (;;) {
    const lf = findLF(buf, from, limit);
    if (lf < 0) break;
    if (lf === s || buf[lf - 1] !== CR) return lf - s > limits.maxTargetBytes && oversize(buf, s, lf, limits) === HttpError.TargetTooLong ? -HttpError.TargetTooLong : -HttpError.InvalidLineEnding;
    if (lf - 3 >= s && buf[lf - 2] === LF && buf[lf - 3] === CR) {
      SCAN.start = s;
      SCAN.end = lf + 1;
      const err = parseComplete(buf, SCAN, limits, out);
      return err < 0 ? err : lf + 1 - start;
    }
    from = lf + 1;
  }
  // Judged on the bytes up to the limit only, as they were when the limit was first passed.
  if (end - start > limits.maxHeadBytes) return -oversize(buf, s, start + limits.maxHeadBytes + 1, limits);
  if (end - s > limits.maxTargetBytes && oversize(buf, s, end, limits) === HttpError.TargetTooLong) return -HttpError.TargetTooLong;
  return NEED_MORE;
}

/** The first LF in buf[from, limit), or -1. A loop here beats a native indexOf call per line on
 *  the short lines of a request head (and never looks past the head limit). */
function findLF(buf: Uint8Array, from: number, limit: number): number {
  for (let i = from; i < limit; i++) if (buf[i] === LF) return i;
  return -1;
}

/** Which limit an unfinished head broke: a request-target over its own limit is 414, else 431. */
// It reads the request line as parseComplete does (a token, SP, then target bytes), so a head judged
// before its end gets the answer it would get complete: the fuzzer found "GE(T /long..." and a DEL
// inside a long target answered 414 in pieces but 400 whole.
function oversize(buf: Uint8Array, s: number, end: number, limits: HeadLimits): HttpError {
  let i = s;
  while (i < end && TCHAR[buf[i]!] === 1) i++;
  if (i === s || i >= end || buf[i] !== SP) return HttpError.HeadTooLarge;
  const targetStart = ++i;
  while (i < end && buf[i]! > SP && buf[i]! < 0x7f) i++;
  return i - targetStart > limits.maxTargetBytes ? HttpError.TargetTooLong : HttpError.HeadTooLarge;
}

/** Validates and decodes the head at sc.start, known to end at sc.end (after its blank line). Returns 0 or -HttpError. */
function parseComplete(buf: Uint8Array, sc: HeadScan, limits: HeadLimits, out: RequestHead): number {
  const s = sc.start;
  let i = s;
  while (TCHAR[buf[i]!] === 1) i++;
  if (buf[i] !== SP) return i > s && buf[i] === CR ? -HttpError.InvalidRequestLine : -HttpError.InvalidMethod;
  if (i === s) return -HttpError.InvalidMethod;
  sc.methodEnd = i++;
  const targetStart = i;
  while (buf[i]! > SP && buf[i]! < 0x7f) i++;
  if (i - targetStart > limits.maxTargetBytes) return -HttpError.TargetTooLong;
  if (buf[i] !== SP) return buf[i] === CR && i > targetStart ? -HttpError.InvalidRequestLine : -HttpError.InvalidTarget;
  if (i === targetStart) return -HttpError.InvalidTarget;
  sc.targetStart = targetStart;
  sc.targetEnd = i;
  const minor = parseVersion(buf, i + 1);
  if (minor < 0) return minor;
  sc.minor = minor;
  const err = scanFields(buf, i + 11, sc, limits.maxHeaderCount);
  if (err < 0) return err;
  if (sc.end - s > limits.maxHeadBytes) return -HttpError.HeadTooLarge;
  return decode(buf, sc, out);
}

/** "HTTP/d.d" CRLF at i. Returns the minor version (1.x, x >= 1, reads as 1) or -HttpError. */
function parseVersion(buf: Uint8Array, i: number): number {
  if (buf[i] !== 72 || buf[i + 1] !== 84 || buf[i + 2] !== 84 || buf[i + 3] !== 80 || buf[i + 4] !== 47) return -HttpError.InvalidVersion;
  const major = buf[i + 5]! - 48, minor = buf[i + 7]! - 48;
  if (!(major >= 0 && major <= 9) || buf[i + 6] !== 46 || !(minor >= 0 && minor <= 9)) return -HttpError.InvalidVersion;
  if (buf[i + 8] !== CR || buf[i + 9] !== LF) return -HttpError.InvalidVersion;
  if (major !== 1) return -HttpError.VersionNotSupported;
  return minor === 0 ? 0 : 1;
}

/** Validates field lines from i to the blank line, recording them in sc (count, marks, highByte). Returns 0 or -HttpError. */
function scanFields(buf: Uint8Array, i: number, sc: HeadScan, maxCount: number): number {
  const headEnd = sc.end;
  let marks = sc.marks, n = 0, high = 0;
  for (;;) {
    const c = buf[i];
    if (c === CR) {
      if (i + 2 !== headEnd) return -HttpError.InvalidHeaderName;
      break;
    }
    if (c === SP || c === HTAB) return -HttpError.ObsFold;
    if (n >= maxCount) return -HttpError.TooManyHeaders;
    const nameStart = i;
    while (TCHAR[buf[i]!] === 1) i++;
    if (buf[i] !== COLON) return buf[i] === SP || buf[i] === HTAB ? -HttpError.WhitespaceBeforeColon : -HttpError.InvalidHeaderName;
    if (i === nameStart) return -HttpError.InvalidHeaderName;
    const nameEnd = i++;
    while (buf[i] === SP || buf[i] === HTAB) i++;
    const valueStart = i;
    for (let b = buf[i]!; b !== CR; b = buf[++i]!) {
      if (VALUE[b] !== 1) return -HttpError.InvalidHeaderValue;
      high |= b;
    }
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

/** Fills `out` from the scanned head: strings for method, target and fields, then framing. Returns 0 or -HttpError. */
function decode(buf: Uint8Array, sc: HeadScan, out: RequestHead): number {
  const s = sc.start, methodEnd = sc.methodEnd, targetStart = sc.targetStart, count = sc.count, marks = sc.marks;
  // A Buffer (what sockets deliver) slices each token straight into its own string: a view of a
  // freshly read buffer costs more than a decode (the engine first moves its bytes into an
  // ArrayBuffer). Anything else is decoded once and cut into substrings.
  const b = buf as Latin1Sliceable;
  const text = b.latin1Slice === undefined ? headText(buf, sc) : null;
  const method = methodEnd - s === 3 && buf[s] === 71 && buf[s + 1] === 69 && buf[s + 2] === 84 ? "GET" : token(b, text, s, s, methodEnd);
  const target = recentToken(b, text, s, targetStart, sc.targetEnd);
  const headers = new Array<string>(2 * count);
  let hostsValid = true;
  for (let h = 0; h < count; h++) {
    const na = marks[4 * h]!, nb = marks[4 * h + 1]!, va = marks[4 * h + 2]!, vb = marks[4 * h + 3]!;
    const name = knownName(buf, na, nb) ?? token(b, text, s, na, nb).toLowerCase();
    if (name === "host" && !validHost(buf, va, vb)) hostsValid = false;
    headers[2 * h] = name;
    headers[2 * h + 1] = recentToken(b, text, s, va, vb);
  }
  out.method = method;
  out.target = target;
  out.minor = sc.minor;
  out.headers = headers;
  // Origin-form (the usual case) is recognised from its first byte, without reading the string.
  const path = buf[targetStart] === 47 && method !== "CONNECT" ? target : targetPath(method, target);
  if (typeof path !== "string") return path;
  out.path = path;
  return applyFraming(out, hostsValid);
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

/** Reduces the request-target to origin-form (RFC 9112 §3.2). Returns the path or -HttpError. */
function targetPath(method: string, target: string): string | number {
  if (method === "CONNECT") return -HttpError.MethodNotImplemented;
  if (target.charCodeAt(0) === 47) return target;
  if (target === "*") return method === "OPTIONS" ? "*" : -HttpError.InvalidTarget;
  const scheme = target.slice(0, 8).toLowerCase();
  const authorityStart = scheme.startsWith("http://") ? 7 : scheme === "https://" ? 8 : -1;
  if (authorityStart < 0) return -HttpError.InvalidTarget;
  let pathStart = authorityStart;
  while (pathStart < target.length && target[pathStart] !== "/" && target[pathStart] !== "?") pathStart++;
  if (pathStart === authorityStart) return -HttpError.InvalidTarget;
  if (pathStart === target.length) return "/";
  return target[pathStart] === "?" ? "/" + target.slice(pathStart) : target.slice(pathStart);
}

/** Resolves body framing, keep-alive, Host and Expect from the decoded fields (RFC 9112 §6, §9.3).
 *  `hostsValid`: every Host value passed validHost. Returns 0 or -HttpError. */
function applyFraming(out: RequestHead, hostsValid: boolean): number {
  let hosts = 0, contentLength = -1, te: string[] | null = null;
  let close = false, keepAlive = false, expect: string | null = null;
  const h = out.headers;
  for (let k = 0; k < h.length; k += 2) {
    const name = h[k]!;
    if (name.length > 17) continue;
    switch (name) {
      case "host":
        hosts++;
        break;
      case "content-length": {
        const n = parseContentLength(h[k + 1]!);
        if (n === CONFLICT || (n >= 0 && contentLength >= 0 && n !== contentLength)) return -HttpError.ConflictingContentLength;
        if (n < 0) return -HttpError.InvalidContentLength;
        contentLength = n;
        break;
      }
      case "transfer-encoding":
        te ??= [];
        for (const t of listItems(h[k + 1]!)) te.push(t);
        break;
      case "connection":
        for (const t of listItems(h[k + 1]!)) {
          if (t === "close") close = true;
          else if (t === "keep-alive") keepAlive = true;
        }
        break;
      case "expect":
        expect = h[k + 1]!.toLowerCase();
        break;
    }
  }
  if (hosts > 1) return -HttpError.DuplicateHost;
  if (hosts === 0 && out.minor === 1) return -HttpError.MissingHost;
  if (!hostsValid) return -HttpError.InvalidHost;
  if (te !== null) {
    const err = checkTransferEncoding(te, out.minor, contentLength);
    if (err !== 0) return err;
  }
  if (expect !== null && expect !== "100-continue") return -HttpError.ExpectationFailed;
  out.contentLength = te === null ? contentLength : -1;
  out.chunked = te !== null;
  out.keepAlive = out.minor === 1 ? !close : keepAlive && !close;
  out.expectContinue = expect !== null && out.minor === 1;
  return 0;
}

function checkTransferEncoding(codings: string[], minor: number, contentLength: number): number {
  if (minor === 0) return -HttpError.TransferEncodingOnHttp10;
  if (contentLength >= 0) return -HttpError.ContentLengthWithTransferEncoding;
  if (codings[codings.length - 1] !== "chunked") return -HttpError.TransferEncodingNotChunked;
  if (codings.indexOf("chunked") !== codings.length - 1) return -HttpError.TransferEncodingNotChunked;
  if (codings.length > 1) return -HttpError.UnsupportedTransferCoding;
  return 0;
}

/** Comma-separated list elements, trimmed and lowercased, empty elements dropped (RFC 9110 §5.6.1). */
function listItems(value: string): string[] {
  const items: string[] = [];
  for (const part of value.split(",")) {
    const t = part.trim().toLowerCase();
    if (t !== "") items.push(t);
  }
  return items;
}

const CONFLICT = -2;

/** 1*DIGIT, or a list of identical ones ("5, 5"). Returns -1 when malformed or beyond 10^15, CONFLICT when the list differs. */
function parseContentLength(value: string): number {
  let result = -1;
  for (const part of value.split(",")) {
    const t = part.trim();
    if (t.length === 0 || t.length > 15) return -1;
    let n = 0;
    for (let i = 0; i < t.length; i++) {
      const d = t.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return -1;
      n = n * 10 + d;
    }
    if (result >= 0 && n !== result) return CONFLICT;
    result = n;
  }
  return result;
}

/** uri-host [":" port]: reg-name, IPv4 or IP-literal characters only (RFC 3986 §3.2.2). */
function validHost(buf: Uint8Array, a: number, b: number): boolean {
  for (let i = a; i < b; i++) if (HOST_CHAR[buf[i]!] !== 1) return false;
  return true;
}

const HOST_CHAR = new Uint8Array(256);
for (const c of "-._~!$&'()*+,;=[]%:") HOST_CHAR[c.charCodeAt(0)] = 1;
for (let b = 0x30; b <= 0x39; b++) HOST_CHAR[b] = 1;
for (let b = 0x41; b <= 0x5a; b++) HOST_CHAR[b] = HOST_CHAR[b + 0x20] = 1;
