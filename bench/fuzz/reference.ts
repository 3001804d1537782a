// A second, deliberately plain reading of the request rules Warren's HTTP engine enforces (RFC 9112
// strict profile: see src/http/parser.ts and body.ts). Written over strings and regular expressions,
// not byte loops, so that it shares no code and few habits with the engine: the fuzzers compare the
// two, and any disagreement is a finding in one of them. Where a stream breaks a rule it names the
// status the engine must answer, for the rule broken first (docs/architecture.md, "Which error wins").

export interface RefLimits {
  maxHeadBytes: number;
  maxTargetBytes: number;
  maxHeaderCount: number;
  maxBodyBytes: number;
  maxChunkLineBytes: number;
  maxTrailerBytes: number;
  /** The methods served (absent: every token); given to the engine's parser as they are to this reading. */
  knownMethod?: (method: string) => boolean;
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
/** `status`: the answer the broken rule calls for. */
type Invalid = { kind: "invalid"; why: string; status: number };
type RefHeadResult = { kind: "incomplete" } | Invalid | RefHead;

const TCHAR = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]";
const FIELD_LINE = new RegExp(`^(${TCHAR}+):[ \\t]*([\\t\\x20-\\x7e\\x80-\\xff]*?)[ \\t]*$`);
/** What an unfinished field line may look like: a name so far, or a name, a colon and value bytes (and its CR). */
const FIELD_SO_FAR = new RegExp(`^${TCHAR}*$|^${TCHAR}+:[\\t\\x20-\\x7e\\x80-\\xff]*\\r?$`);
const HOST = /^[A-Za-z0-9\-._~!$&'()*+,;=[\]%:]*$/;

const invalid = (status: number, why: string): Invalid => ({ kind: "invalid", why, status });
export const text = (b: Uint8Array, from = 0, to = b.length): string => {
  let s = "";
  for (let i = from; i < to; i += 8192) s += String.fromCharCode(...b.subarray(i, Math.min(to, i + 8192)));
  return s;
};

/** Methods a Web Request keeps as sent (this reading's own probe; the engine keeps its own). */
export function webMethod(method: string): boolean {
  try {
    return new Request("http://localhost/", { method }).method === method;
  } catch {
    return false;
  }
}

/** Skips the empty lines RFC 9112 §2.2 lets a server ignore before a request line. */
function skipEmptyLines(t: string, at: number): number {
  while (t.startsWith("\r\n", at)) at += 2;
  return at;
}

// The precedence rule (docs/architecture.md): the first rule the bytes break, in the order they
// come, is the answer. The request line is judged as it arrives; field lines when the head is
// complete, a bare LF ends a line, or the head outgrows its limit (they wait until then).

/** Reads one request head starting at `start` of `t` (a latin1 string of the bytes). */
export function refHead(t: string, start: number, limits: RefLimits): RefHeadResult {
  const s = skipEmptyLines(t, start);
  const rest = t.slice(s);
  if (rest === "\r") return { kind: "incomplete" };
  // The head is counted from its request line; the byte after the limit is not read.
  const window = rest.slice(0, limits.maxHeadBytes);
  const term = window.indexOf("\r\n\r\n");
  const bare = /(^|[^\r])\n/.exec(window);
  const bareAt = bare === null ? -1 : bare.index + bare[1]!.length;
  if (bareAt >= 0 && (term < 0 || bareAt < term)) return judge(window.slice(0, bareAt), limits, false) ?? invalid(400, "bare LF");
  if (term < 0) {
    if (rest.length > limits.maxHeadBytes) return judge(window, limits, false) ?? invalid(431, "head too large");
    return judgeLine(rest, limits) ?? { kind: "incomplete" };
  }
  const head = window.slice(0, term + 4);
  const broken = judge(head, limits, true);
  if (broken !== undefined) return broken;
  const lines = head.slice(0, -4).split("\r\n");
  const [, method, target, minorDigit] = /^(\S+) (\S+) HTTP\/1\.(\d)$/.exec(lines[0]!)! as unknown as [string, string, string, string];
  const headers = lines.slice(1).flatMap((line) => {
    const m = FIELD_LINE.exec(line)!;
    return [m[1]!.toLowerCase(), m[2]!];
  });
  const minor = minorDigit === "0" ? 0 : 1;
  const framing = refFraming(headers, minor);
  if ("kind" in framing) return framing;
  return { kind: "ok", end: s + term + 4, method, target, path: refPath(target), minor, headers, ...framing };
}

/** The first rule `h` (the head's bytes so far, from its request line) breaks, or undefined. */
function judge(h: string, limits: RefLimits, complete: boolean): Invalid | undefined {
  const eol = h.indexOf("\r\n");
  const line = judgeLine(h, limits);
  if (line !== undefined || eol < 0) return line;
  // After the request line: complete field lines, then (unless the head is complete) one unfinished.
  const lines = h.slice(eol + 2, complete ? -2 : undefined).split("\r\n");
  const unfinished = lines.pop();
  for (const [k, field] of lines.entries()) {
    if (/^[ \t]/.test(field)) return invalid(400, "obs-fold");
    if (field.startsWith("\r")) return invalid(400, "field line starts with CR");
    if (k >= limits.maxHeaderCount) return invalid(431, "too many headers");
    if (!FIELD_LINE.test(field)) return invalid(400, `field line ${JSON.stringify(field.slice(0, 40))}`);
  }
  if (complete || unfinished === undefined || unfinished === "" || unfinished === "\r") return undefined;
  if (/^[ \t]/.test(unfinished)) return invalid(400, "obs-fold");
  if (unfinished.startsWith("\r")) return invalid(400, "field line starts with CR");
  if (lines.length >= limits.maxHeaderCount) return invalid(431, "too many headers");
  return FIELD_SO_FAR.test(unfinished) ? undefined : invalid(400, `field line ${JSON.stringify(unfinished.slice(0, 40))}`);
}

/** The first rule the request line at the start of `h` breaks so far, or undefined. */
function judgeLine(h: string, limits: RefLimits): Invalid | undefined {
  const eol = h.indexOf("\r\n");
  const line = eol < 0 ? h : h.slice(0, eol);
  const method = new RegExp(`^${TCHAR}*`).exec(line)![0];
  if (method.length === line.length) return eol >= 0 ? invalid(400, "request line is a method alone") : undefined;
  if (line[method.length] !== " " || method === "") return invalid(400, "method");
  if (method === "CONNECT" || (limits.knownMethod !== undefined && !limits.knownMethod(method))) return invalid(501, `method ${JSON.stringify(method)} not served`);
  const afterMethod = line.slice(method.length + 1);
  const target = /^[\x21-\x7e]*/.exec(afterMethod)![0];
  if (target.length > limits.maxTargetBytes) return invalid(414, "target too long");
  if (target.length === afterMethod.length) return eol >= 0 ? invalid(400, "request line without version") : undefined;
  if (afterMethod[target.length] !== " " || target === "") return invalid(400, "target");
  if (!targetFormOk(method, target)) return invalid(400, "target form");
  const version = afterMethod.slice(target.length + 1);
  const want = eol >= 0 ? /^HTTP\/[0-9]\.[0-9]$/ : /^(H(T(T(P(\/([0-9](\.([0-9]\r?)?)?)?)?)?)?)?)?$/;
  if (!want.test(version)) return invalid(400, "version");
  if (eol >= 0 && version[5] !== "1") return invalid(505, "version not supported");
  return undefined;
}

function targetFormOk(method: string, target: string): boolean {
  if (target.startsWith("/")) return true;
  if (target === "*") return method === "OPTIONS";
  return /^https?:\/\/[^/?]/i.test(target);
}

function refPath(target: string): string {
  const abs = /^https?:\/\/[^/?]+(.*)$/i.exec(target);
  if (abs === null) return target;
  const rest = abs[1]!;
  return rest === "" ? "/" : rest.startsWith("?") ? "/" + rest : rest;
}

const items = (v: string) => v.split(",").map((x) => x.trim().toLowerCase()).filter((x) => x !== "");

/** Framing, Host and Expect of a complete head: statuses as the engine answers them (501 for a
 *  transfer coding it does not implement, 417 for an expectation). */
function refFraming(headers: string[], minor: number): { contentLength: number; chunked: boolean; keepAlive: boolean } | Invalid {
  const values = (name: string) => headers.filter((_, i) => i % 2 === 1 && headers[i - 1] === name);
  const lengths = values("content-length").flatMap((v) => v.split(",").map((x) => x.trim()));
  if (lengths.some((x) => !/^[0-9]{1,15}$/.test(x))) return invalid(400, "content-length syntax");
  if (new Set(lengths.map(Number)).size > 1) return invalid(400, "content-length conflict");
  const hosts = values("host");
  if (hosts.length > 1) return invalid(400, "duplicate host");
  if (hosts.length === 0 && minor === 1) return invalid(400, "missing host");
  if (!HOST.test(hosts[0] ?? "")) return invalid(400, "host chars");
  const te = values("transfer-encoding");
  const codings = te.flatMap(items);
  if (te.length > 0) {
    if (minor === 0) return invalid(400, "te on 1.0");
    if (lengths.length > 0) return invalid(400, "te with cl");
    if (codings.indexOf("chunked") !== codings.length - 1 || codings.length === 0) return invalid(400, "te not ending in one chunked");
    if (codings.length > 1) return invalid(501, "te with other codings");
  }
  const expect = values("expect");
  if (expect.length > 0 && expect[expect.length - 1]!.toLowerCase() !== "100-continue") return invalid(417, "expect");
  const conn = values("connection").flatMap(items);
  const close = conn.includes("close");
  return {
    contentLength: te.length > 0 || lengths.length === 0 ? -1 : Number(lengths[0]),
    chunked: te.length > 0,
    keepAlive: minor === 1 ? !close : conn.includes("keep-alive") && !close,
  };
}

type RefBody = { kind: "incomplete" } | Invalid | { kind: "ok"; end: number; length: number };

const MAX_SAFE_SIZE = BigInt(Math.floor((Number.MAX_SAFE_INTEGER - 15) / 16));
const INCOMPLETE: RefBody = { kind: "incomplete" };
/** Body errors are 400, but for the size limits: 413 for the body, 431 for the trailers. */
const bad = (why: string, status = 400): RefBody => invalid(status, why);
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
    if (total + size > limits.maxBodyBytes) return bad("body too large", 413);
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
  const stop = (): RefBody => (at >= t.length ? INCOMPLETE : bad("trailer too large", 431));
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
  /** For "invalid": the status of the engine's answer. */
  status?: number;
}

/** Every complete, valid request in a connection's byte stream, in order, as the engine must read them. */
export function refStream(b: Uint8Array, limits: RefLimits): RefStream {
  const t = text(b);
  const requests: RefRequest[] = [];
  for (let at = 0; ; ) {
    at = skipEmptyLines(t, at);
    if (at >= t.length) return { requests, end: "incomplete" };
    const head = refHead(t, at, limits);
    if (head.kind !== "ok") return { requests, end: head.kind, ...(head.kind === "invalid" ? { why: head.why, status: head.status } : {}) };
    if (head.contentLength > limits.maxBodyBytes) return { requests, end: "invalid", why: "content-length over limit", status: 413 };
    let end = head.end, length = Math.max(0, head.contentLength);
    if (head.chunked) {
      const body = refChunked(t, head.end, limits);
      if (body.kind !== "ok") return { requests, end: body.kind, ...(body.kind === "invalid" ? { why: body.why, status: body.status } : {}) };
      end = body.end;
      length = body.length;
    } else if (t.length < end + length) return { requests, end: "incomplete" };
    else end += length;
    requests.push({ method: head.method, path: head.path, bodyLength: head.method === "GET" || head.method === "HEAD" ? 0 : length });
    if (!head.keepAlive) return { requests, end: "closed" };
    at = end;
  }
}
