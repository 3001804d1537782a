// A second, deliberately plain reading of the request rules Warren's HTTP engine enforces (RFC 9112
// strict profile: see src/http/parser.ts and body.ts). Written over strings and regular expressions,
// not byte loops, so that it shares no code and few habits with the engine: the fuzzers compare the
// two, and any disagreement is a finding in one of them.

export interface RefLimits {
  maxHeadBytes: number;
  maxTargetBytes: number;
  maxHeaderCount: number;
  maxBodyBytes: number;
  maxChunkLineBytes: number;
  maxTrailerBytes: number;
}

interface RefHead {
  kind: "ok";
  /** Offset just past the blank line. */
  end: number;
  method: string;
  target: string;
  path: string;
  minor: number;
  headers: string[];
  contentLength: number;
  chunked: boolean;
  keepAlive: boolean;
}
type RefHeadResult = { kind: "incomplete" } | { kind: "invalid"; why: string } | RefHead;

const TCHAR = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]";
const REQUEST_LINE = new RegExp(`^(${TCHAR}+) ([\\x21-\\x7e]+) HTTP/([0-9])\\.([0-9])$`);
const FIELD_LINE = new RegExp(`^(${TCHAR}+):[ \\t]*([\\t\\x20-\\x7e\\x80-\\xff]*?)[ \\t]*$`);
const HOST = /^[A-Za-z0-9\-._~!$&'()*+,;=[\]%:]*$/;

const invalid = (why: string): RefHeadResult => ({ kind: "invalid", why });
export const text = (b: Uint8Array, from = 0, to = b.length): string => {
  let s = "";
  for (let i = from; i < to; i += 8192) s += String.fromCharCode(...b.subarray(i, Math.min(to, i + 8192)));
  return s;
};

/** Skips the empty lines RFC 9112 §2.2 lets a server ignore before a request line. */
function skipEmptyLines(t: string, at: number): number {
  while (t.startsWith("\r\n", at)) at += 2;
  return at;
}

/** Reads one request head starting at `start` of `t` (a latin1 string of the bytes). */
export function refHead(t: string, start: number, limits: RefLimits): RefHeadResult {
  const s = skipEmptyLines(t, start);
  const window = t.slice(s, Math.min(t.length, start + limits.maxHeadBytes));
  const bare = /(^|[^\r])\n/.exec(window);
  const bareAt = bare === null ? -1 : bare.index + bare[1]!.length;
  const term = window.indexOf("\r\n\r\n");
  if (bareAt >= 0 && (term < 0 || bareAt < term + 3)) return invalid("bare LF");
  if (term < 0) {
    if (t.length - start > limits.maxHeadBytes) return invalid("head too large");
    const line = new RegExp(`^${TCHAR}+ ([\\x21-\\x7e]*)`).exec(t.slice(s));
    if (t.length - s > limits.maxTargetBytes && line !== null && line[1]!.length > limits.maxTargetBytes) return invalid("target too long");
    return { kind: "incomplete" };
  }
  const lines = window.slice(0, term).split("\r\n");
  const rl = REQUEST_LINE.exec(lines[0]!);
  if (rl === null) return invalid("request line");
  const [, method, target, major, minorDigit] = rl as unknown as [string, string, string, string, string];
  if (target.length > limits.maxTargetBytes) return invalid("target too long");
  if (major !== "1") return invalid("version");
  const fields = lines.slice(1);
  if (fields.length > limits.maxHeaderCount) return invalid("too many headers");
  const headers: string[] = [];
  for (const line of fields) {
    const m = FIELD_LINE.exec(line);
    if (m === null) return invalid(`field line ${JSON.stringify(line.slice(0, 40))}`);
    headers.push(m[1]!.toLowerCase(), m[2]!);
  }
  const minor = minorDigit === "0" ? 0 : 1;
  const path = refPath(method, target);
  if (path === null) return invalid("target form");
  const framing = refFraming(headers, minor);
  if (typeof framing === "string") return invalid(framing);
  return { kind: "ok", end: s + term + 4, method, target, path, minor, headers, ...framing };
}

function refPath(method: string, target: string): string | null {
  if (method === "CONNECT") return null;
  if (target.startsWith("/")) return target;
  if (target === "*") return method === "OPTIONS" ? "*" : null;
  const abs = /^https?:\/\/([^/?]+)(.*)$/i.exec(target);
  if (abs === null) return null;
  const rest = abs[2]!;
  return rest === "" ? "/" : rest.startsWith("?") ? "/" + rest : rest;
}

const items = (v: string) => v.split(",").map((x) => x.trim().toLowerCase()).filter((x) => x !== "");

function refFraming(headers: string[], minor: number): { contentLength: number; chunked: boolean; keepAlive: boolean } | string {
  const values = (name: string) => headers.filter((_, i) => i % 2 === 1 && headers[i - 1] === name);
  const hosts = values("host");
  if (hosts.length > 1) return "duplicate host";
  if (hosts.length === 0 && minor === 1) return "missing host";
  if (!HOST.test(hosts[0] ?? "")) return "host chars";
  const lengths = values("content-length").flatMap((v) => v.split(",").map((x) => x.trim()));
  if (lengths.some((x) => !/^[0-9]{1,15}$/.test(x))) return "content-length syntax";
  if (new Set(lengths.map(Number)).size > 1) return "content-length conflict";
  const te = values("transfer-encoding");
  const codings = te.flatMap(items);
  if (te.length > 0) {
    if (minor === 0) return "te on 1.0";
    if (lengths.length > 0) return "te with cl";
    if (codings.length !== 1 || codings[0] !== "chunked") return "te not just chunked";
  }
  const expect = values("expect");
  if (expect.length > 0 && expect[expect.length - 1]!.toLowerCase() !== "100-continue") return "expect";
  const conn = values("connection").flatMap(items);
  const close = conn.includes("close");
  return {
    contentLength: te.length > 0 || lengths.length === 0 ? -1 : Number(lengths[0]),
    chunked: te.length > 0,
    keepAlive: minor === 1 ? !close : conn.includes("keep-alive") && !close,
  };
}

type RefBody = { kind: "incomplete" } | { kind: "invalid"; why: string } | { kind: "ok"; end: number; length: number };

const MAX_SAFE_SIZE = BigInt(Math.floor((Number.MAX_SAFE_INTEGER - 15) / 16));
const INCOMPLETE: RefBody = { kind: "incomplete" };
const bad = (why: string): RefBody => ({ kind: "invalid", why });
const isCtl = (c: string) => (c < " " && c !== "\t") || c === "\x7f";

/** A chunked body from `at` (RFC 9112 §7.1), with the engine's line, trailer and size limits. */
function refChunked(t: string, at: number, limits: RefLimits): RefBody {
  let total = 0;
  for (;;) {
    // chunk-size [chunk-ext] CR: every byte, the CR included, counts toward the line limit.
    let k = 0, digits = "", ext = false;
    for (; ; k++) {
      if (at + k >= t.length) return INCOMPLETE;
      if (k + 1 > limits.maxChunkLineBytes) return bad("chunk line too long");
      const c = t[at + k]!;
      if (!ext && /[0-9A-Fa-f]/.test(c)) {
        if (digits !== "" && BigInt("0x" + digits) > MAX_SAFE_SIZE) return bad("chunk size overflow");
        digits += c;
        continue;
      }
      if (digits === "") return bad("chunk size");
      if (c === "\r") break;
      if (ext) {
        if (isCtl(c)) return bad("chunk extension");
      } else if (c === ";" || c === " " || c === "\t") ext = true;
      else return bad("chunk size");
    }
    const size = parseInt(digits, 16);
    if (total + size > limits.maxBodyBytes) return bad("body too large");
    total += size;
    at += k + 1;
    if (at >= t.length) return INCOMPLETE;
    if (t[at] !== "\n") return bad("chunk line LF");
    at++;
    if (size === 0) return refTrailers(t, at, total, limits);
    at += size;
    for (const want of "\r\n") {
      if (at >= t.length) return INCOMPLETE;
      if (t[at++] !== want) return bad("chunk data CRLF");
    }
  }
}

/** Trailer fields after the last chunk, then the blank line; each byte counts toward the limit. */
function refTrailers(t: string, at: number, total: number, limits: RefLimits): RefBody {
  let used = 0;
  const next = (): string | undefined => (at < t.length && ++used <= limits.maxTrailerBytes ? t[at++] : undefined);
  const stop = (): RefBody => (at >= t.length ? INCOMPLETE : bad("trailer too large"));
  for (;;) {
    let c = next();
    if (c === undefined) return stop();
    if (c === "\r") {
      c = next();
      if (c === undefined) return stop();
      return c === "\n" ? { kind: "ok", end: at, length: total } : bad("final CRLF");
    }
    if (c === ":" || c === " " || c === "\t" || c < " ") return bad("trailer start");
    let colon = false;
    for (c = next(); c !== "\r"; c = next()) {
      if (c === undefined) return stop();
      if (c === ":") colon = true;
      else if (isCtl(c)) return bad("trailer byte");
    }
    if (!colon) return bad("trailer without colon");
    c = next();
    if (c === undefined) return stop();
    if (c !== "\n") return bad("trailer LF");
  }
}

export interface RefRequest {
  method: string;
  path: string;
  /** Body bytes the application sees (the Fetch API drops GET and HEAD bodies). */
  bodyLength: number;
}

interface RefStream {
  requests: RefRequest[];
  /** Why reading stopped: the bytes ran out, they broke a rule, or a request closed the connection. */
  end: "incomplete" | "invalid" | "closed";
  why?: string;
}

/** Every complete, valid request in a connection's byte stream, in order, as the engine must read them. */
export function refStream(b: Uint8Array, limits: RefLimits): RefStream {
  const t = text(b);
  const requests: RefRequest[] = [];
  for (let at = 0; ; ) {
    at = skipEmptyLines(t, at);
    if (at >= t.length) return { requests, end: "incomplete" };
    const head = refHead(t, at, limits);
    if (head.kind !== "ok") return { requests, end: head.kind, ...(head.kind === "invalid" ? { why: head.why } : {}) };
    if (head.contentLength > limits.maxBodyBytes) return { requests, end: "invalid", why: "content-length over limit" };
    let end = head.end, length = Math.max(0, head.contentLength);
    if (head.chunked) {
      const body = refChunked(t, head.end, limits);
      if (body.kind !== "ok") return { requests, end: body.kind, ...(body.kind === "invalid" ? { why: body.why } : {}) };
      end = body.end;
      length = body.length;
    } else if (t.length < end + length) return { requests, end: "incomplete" };
    else end += length;
    requests.push({ method: head.method, path: head.path, bodyLength: head.method === "GET" || head.method === "HEAD" ? 0 : length });
    if (!head.keepAlive) return { requests, end: "closed" };
    at = end;
  }
}
