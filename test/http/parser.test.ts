// Request-head parser as a spec table: every row cites RFC 9112 (or 9110) and runs three ways:
// whole (also at a non-zero offset, as pipelined leftovers are), split at every offset, and
// byte by byte. Errors are asserted by code, never by message.
import { describe, expect, test } from "bun:test";
import { HttpError } from "../../src/http/errors.ts";
import { type HeadLimits, NEED_MORE, type RequestHead, emptyHead, parseHead } from "../../src/http/parser.ts";

const LIMITS: HeadLimits = { maxHeadBytes: 16 * 1024, maxTargetBytes: 8 * 1024, maxHeaderCount: 100 };
const enc = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** Feeds `pieces` the way a connection does: the buffer grows, prevLen is the previous length. */
function feed(pieces: Uint8Array[], limits: HeadLimits, out: RequestHead): number {
  let buf = new Uint8Array(0), prevLen = 0;
  for (const piece of pieces) {
    const grown = new Uint8Array(buf.length + piece.length);
    grown.set(buf);
    grown.set(piece, buf.length);
    buf = grown;
    const r = parseHead(buf, 0, buf.length, prevLen, limits, out);
    if (r !== NEED_MORE) return r;
    prevLen = buf.length;
  }
  return NEED_MORE;
}

/** [label, pieces] for whole, each two-way split, and byte by byte. */
function* ways(bytes: Uint8Array): Generator<[string, Uint8Array[]]> {
  yield ["whole", [bytes]];
  for (let k = 1; k < bytes.length; k++) yield [`split@${k}`, [bytes.subarray(0, k), bytes.subarray(k)]];
  yield ["bytewise", Array.from(bytes, (_, i) => bytes.subarray(i, i + 1))];
}

/** Runs all ways; returns the single result they agree on (and the head of the whole run). */
function parseAllWays(input: string, limits = LIMITS): { r: number; head: RequestHead } {
  const bytes = enc(input);
  const results = new Map<string, number>();
  let head = emptyHead();
  for (const [label, pieces] of ways(bytes)) {
    const out = emptyHead();
    results.set(label, feed(pieces, limits, out));
    if (label === "whole") head = out;
  }
  // At an offset inside a larger buffer, as when a previous pipelined request preceded it.
  const shifted = new Uint8Array(bytes.length + 7);
  shifted.set(enc("JUNK..."));
  shifted.set(bytes, 7);
  results.set("offset", parseHead(shifted, 7, shifted.length, 0, limits, emptyHead()));
  // A Buffer, as sockets deliver it, is read through its own latin1 decoding: same answer, same head.
  const fromBuffer = emptyHead();
  results.set("buffer", parseHead(Buffer.from(shifted), 7, shifted.length, 0, limits, fromBuffer));
  if (results.get("whole")! > 0) expect(fromBuffer).toEqual(head);
  const distinct = new Set(results.values());
  if (distinct.size !== 1) throw new Error(`ways disagree for ${JSON.stringify(input)}: ${JSON.stringify([...results])}`);
  return { r: [...distinct][0]!, head };
}

type Ok = Partial<RequestHead> & { consumed?: number };
interface Row {
  rfc: string;
  name: string;
  input: string;
  ok?: Ok;
  error?: HttpError;
}

const H = "Host: example.com\r\n";
const ACCEPTED: Row[] = [
  { rfc: "9112 §3", name: "simple GET, origin-form", input: `GET /health HTTP/1.1\r\n${H}\r\n`, ok: { method: "GET", target: "/health", path: "/health", minor: 1, keepAlive: true, contentLength: -1, chunked: false } },
  { rfc: "9112 §3.2.1", name: "origin-form with query", input: `GET /a/b?x=1&y=%20 HTTP/1.1\r\n${H}\r\n`, ok: { path: "/a/b?x=1&y=%20" } },
  { rfc: "9112 §3.2.2", name: "absolute-form reduced to path", input: `GET http://example.com:8080/v1/models?q=1 HTTP/1.1\r\n${H}\r\n`, ok: { target: "http://example.com:8080/v1/models?q=1", path: "/v1/models?q=1" } },
  { rfc: "9112 §3.2.2", name: "absolute-form without path is /", input: `GET HTTPS://example.com HTTP/1.1\r\n${H}\r\n`, ok: { path: "/" } },
  { rfc: "9112 §3.2.2", name: "absolute-form with query only", input: `GET http://example.com?x=1 HTTP/1.1\r\n${H}\r\n`, ok: { path: "/?x=1" } },
  { rfc: "9112 §3.2.4", name: "asterisk-form for OPTIONS", input: `OPTIONS * HTTP/1.1\r\n${H}\r\n`, ok: { method: "OPTIONS", path: "*" } },
  { rfc: "9112 §3", name: "extension method token", input: `PURGE /x HTTP/1.1\r\n${H}\r\n`, ok: { method: "PURGE" } },
  { rfc: "9112 §2.3", name: "HTTP/1.0 without Host, not persistent", input: "GET / HTTP/1.0\r\n\r\n", ok: { minor: 0, keepAlive: false } },
  { rfc: "9112 §9.3", name: "HTTP/1.0 with Connection: keep-alive", input: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", ok: { minor: 0, keepAlive: true } },
  { rfc: "9112 §9.6", name: "HTTP/1.1 Connection: close", input: `GET / HTTP/1.1\r\n${H}Connection: foo, close\r\n\r\n`, ok: { keepAlive: false } },
  { rfc: "9110 §6.2", name: "HTTP/1.2 treated as 1.1", input: `GET / HTTP/1.2\r\n${H}\r\n`, ok: { minor: 1 } },
  { rfc: "9112 §2.2", name: "empty lines before the request line", input: `\r\n\r\nGET / HTTP/1.1\r\n${H}\r\n`, ok: { method: "GET" } },
  { rfc: "9112 §5.1", name: "names case-insensitive, lowercased", input: `GET / HTTP/1.1\r\nHOST: example.com\r\nX-Custom-Thing: 1\r\nContent-LENGTH: 5\r\n\r\n`, ok: { headers: ["host", "example.com", "x-custom-thing", "1", "content-length", "5"], contentLength: 5 } },
  { rfc: "9112 §5.1", name: "OWS trimmed, empty value kept", input: `GET / HTTP/1.1\r\n${H}X-A: \t v a l \t \r\nX-B:\r\n\r\n`, ok: { headers: ["host", "example.com", "x-a", "v a l", "x-b", ""] } },
  { rfc: "9110 §5.3", name: "repeated field lines kept in order", input: `GET / HTTP/1.1\r\n${H}Accept: a\r\nAccept: b\r\n\r\n`, ok: { headers: ["host", "example.com", "accept", "a", "accept", "b"] } },
  { rfc: "9110 §5.5", name: "obs-text in a value read as latin1", input: `GET / HTTP/1.1\r\n${H}X-Name: caf\xe9\r\n\r\n`, ok: { headers: ["host", "example.com", "x-name", "caf\xe9"] } },
  { rfc: "9112 §6.1", name: "Transfer-Encoding: chunked", input: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: Chunked\r\n\r\n`, ok: { chunked: true, contentLength: -1 } },
  { rfc: "9112 §6.3", name: "identical Content-Length list", input: `POST / HTTP/1.1\r\n${H}Content-Length: 5, 5\r\nContent-Length: 5\r\n\r\n`, ok: { contentLength: 5 } },
  { rfc: "9112 §6.3", name: "Content-Length: 0", input: `POST / HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\n`, ok: { contentLength: 0 } },
  { rfc: "9110 §10.1.1", name: "Expect: 100-continue", input: `POST / HTTP/1.1\r\n${H}Expect: 100-Continue\r\nContent-Length: 3\r\n\r\n`, ok: { expectContinue: true } },
  { rfc: "9110 §10.1.1", name: "100-continue ignored from HTTP/1.0", input: "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", ok: { expectContinue: false } },
  { rfc: "9110 §7.2", name: "empty Host on absolute-form is allowed", input: "GET http://a/ HTTP/1.1\r\nHost:\r\n\r\n", ok: { path: "/" } },
];

const REJECTED: Row[] = [
  { rfc: "9112 §2.2", name: "bare LF ends the request line", input: `GET / HTTP/1.1\n${H}\r\n`, error: HttpError.InvalidLineEnding },
  { rfc: "9112 §2.2", name: "bare LF ends a field line", input: `GET / HTTP/1.1\r\n${H}X: 1\n\r\n`, error: HttpError.InvalidLineEnding },
  { rfc: "9112 §2.2", name: "bare CR in a value", input: `GET / HTTP/1.1\r\n${H}X: a\rb\r\n\r\n`, error: HttpError.InvalidHeaderValue },
  { rfc: "9112 §2.2", name: "whitespace before the first field line", input: `GET / HTTP/1.1\r\n ${H}\r\n`, error: HttpError.ObsFold },
  { rfc: "9112 §3", name: "double space in the request line", input: `GET  / HTTP/1.1\r\n${H}\r\n`, error: HttpError.InvalidTarget },
  { rfc: "9112 §3", name: "request line without version", input: `GET /\r\n${H}\r\n`, error: HttpError.InvalidRequestLine },
  { rfc: "9112 §3", name: "leading space before the method", input: ` GET / HTTP/1.1\r\n${H}\r\n`, error: HttpError.InvalidMethod },
  { rfc: "9112 §3.1", name: "method with a non-token byte", input: `GE(T / HTTP/1.1\r\n${H}\r\n`, error: HttpError.InvalidMethod },
  { rfc: "9112 §3.2", name: "control byte in the target", input: `GET /a\x7fb HTTP/1.1\r\n${H}\r\n`, error: HttpError.InvalidTarget },
  { rfc: "9112 §3.2", name: "target in no known form", input: `GET foo HTTP/1.1\r\n${H}\r\n`, error: HttpError.InvalidTarget },
  { rfc: "9112 §3.2.4", name: "asterisk-form with GET", input: `GET * HTTP/1.1\r\n${H}\r\n`, error: HttpError.InvalidTarget },
  { rfc: "9112 §3.2.2", name: "absolute-form without authority", input: `GET http:///x HTTP/1.1\r\n${H}\r\n`, error: HttpError.InvalidTarget },
  { rfc: "9112 §3.2.3", name: "CONNECT (authority-form) not served", input: `CONNECT example.com:443 HTTP/1.1\r\n${H}\r\n`, error: HttpError.MethodNotImplemented },
  { rfc: "9112 §2.3", name: "lowercase protocol name", input: `GET / http/1.1\r\n${H}\r\n`, error: HttpError.InvalidVersion },
  { rfc: "9112 §2.3", name: "version without minor", input: `GET / HTTP/1\r\n${H}\r\n`, error: HttpError.InvalidVersion },
  { rfc: "9112 §2.3", name: "trailing junk after version", input: `GET / HTTP/1.1x\r\n${H}\r\n`, error: HttpError.InvalidVersion },
  { rfc: "9112 §2.3", name: "HTTP/2.0 request line", input: `GET / HTTP/2.0\r\n${H}\r\n`, error: HttpError.VersionNotSupported },
  { rfc: "9112 §2.3", name: "HTTP/0.9 style version", input: `GET / HTTP/0.9\r\n${H}\r\n`, error: HttpError.VersionNotSupported },
  { rfc: "9112 §5.1", name: "whitespace between name and colon", input: `GET / HTTP/1.1\r\n${H}Content-Length : 5\r\n\r\n`, error: HttpError.WhitespaceBeforeColon },
  { rfc: "9112 §5.1", name: "empty field name", input: `GET / HTTP/1.1\r\n${H}: v\r\n\r\n`, error: HttpError.InvalidHeaderName },
  { rfc: "9110 §5.1", name: "non-token byte in a name", input: `GET / HTTP/1.1\r\n${H}X@Y: v\r\n\r\n`, error: HttpError.InvalidHeaderName },
  { rfc: "9112 §5.1", name: "field line without colon", input: `GET / HTTP/1.1\r\n${H}NoColon\r\n\r\n`, error: HttpError.InvalidHeaderName },
  { rfc: "9110 §5.5", name: "NUL in a value", input: `GET / HTTP/1.1\r\n${H}X: a\x00b\r\n\r\n`, error: HttpError.InvalidHeaderValue },
  { rfc: "9110 §5.5", name: "other control byte in a value", input: `GET / HTTP/1.1\r\n${H}X: a\x01b\r\n\r\n`, error: HttpError.InvalidHeaderValue },
  { rfc: "9112 §5.2", name: "obs-fold continuation line", input: `GET / HTTP/1.1\r\n${H}X: a\r\n  b\r\n\r\n`, error: HttpError.ObsFold },
  { rfc: "9112 §3.2", name: "HTTP/1.1 without Host", input: "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", error: HttpError.MissingHost },
  { rfc: "9112 §3.2", name: "two Host fields", input: `GET / HTTP/1.1\r\n${H}${H}\r\n`, error: HttpError.DuplicateHost },
  { rfc: "9112 §3.2", name: "Host with a space", input: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", error: HttpError.InvalidHost },
  { rfc: "9112 §3.2", name: "Host with a slash", input: "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", error: HttpError.InvalidHost },
  { rfc: "9112 §6.1", name: "Content-Length with Transfer-Encoding", input: `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n`, error: HttpError.ContentLengthWithTransferEncoding },
  { rfc: "9112 §6.1", name: "Transfer-Encoding before Content-Length", input: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n`, error: HttpError.ContentLengthWithTransferEncoding },
  { rfc: "9112 §6.3", name: "differing Content-Length fields", input: `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\n`, error: HttpError.ConflictingContentLength },
  { rfc: "9112 §6.3", name: "differing Content-Length list", input: `POST / HTTP/1.1\r\n${H}Content-Length: 5, 6\r\n\r\n`, error: HttpError.ConflictingContentLength },
  { rfc: "9112 §6.3", name: "non-numeric Content-Length", input: `POST / HTTP/1.1\r\n${H}Content-Length: abc\r\n\r\n`, error: HttpError.InvalidContentLength },
  { rfc: "9112 §6.3", name: "signed Content-Length", input: `POST / HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\n`, error: HttpError.InvalidContentLength },
  { rfc: "9112 §6.3", name: "negative Content-Length", input: `POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`, error: HttpError.InvalidContentLength },
  { rfc: "9112 §6.3", name: "Content-Length with inner space", input: `POST / HTTP/1.1\r\n${H}Content-Length: 1 2\r\n\r\n`, error: HttpError.InvalidContentLength },
  { rfc: "9112 §6.3", name: "empty Content-Length", input: `POST / HTTP/1.1\r\n${H}Content-Length:\r\n\r\n`, error: HttpError.InvalidContentLength },
  { rfc: "9112 §6.3", name: "hex Content-Length", input: `POST / HTTP/1.1\r\n${H}Content-Length: 0x10\r\n\r\n`, error: HttpError.InvalidContentLength },
  { rfc: "9112 §6.3", name: "Content-Length beyond 2^53", input: `POST / HTTP/1.1\r\n${H}Content-Length: 99999999999999999999\r\n\r\n`, error: HttpError.InvalidContentLength },
  { rfc: "9112 §6.3", name: "final coding not chunked", input: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n`, error: HttpError.TransferEncodingNotChunked },
  { rfc: "9112 §6.3", name: "chunked not last", input: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n`, error: HttpError.TransferEncodingNotChunked },
  { rfc: "9112 §6.1", name: "chunked applied twice", input: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n`, error: HttpError.TransferEncodingNotChunked },
  { rfc: "9112 §6.1", name: "empty Transfer-Encoding", input: `POST / HTTP/1.1\r\n${H}Transfer-Encoding:\r\n\r\n`, error: HttpError.TransferEncodingNotChunked },
  { rfc: "9112 §6.1", name: "unknown coding before chunked (501)", input: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n`, error: HttpError.UnsupportedTransferCoding },
  { rfc: "9112 §6.1", name: "Transfer-Encoding in HTTP/1.0", input: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", error: HttpError.TransferEncodingOnHttp10 },
  { rfc: "9110 §10.1.1", name: "unknown expectation (417)", input: `POST / HTTP/1.1\r\n${H}Expect: teapot\r\n\r\n`, error: HttpError.ExpectationFailed },
];

describe("parseHead accepts (RFC 9112)", () => {
  for (const row of ACCEPTED) {
    test(`${row.rfc}: ${row.name}`, () => {
      const { r, head } = parseAllWays(row.input);
      expect(r).toBe(enc(row.input).length);
      for (const [key, value] of Object.entries(row.ok!)) expect(head[key as keyof RequestHead]).toEqual(value as never);
    });
  }
});

describe("parseHead rejects (RFC 9112)", () => {
  for (const row of REJECTED) {
    test(`${row.rfc}: ${row.name} -> ${HttpError[row.error!]}`, () => {
      expect(parseAllWays(row.input).r).toBe(-row.error!);
    });
  }
});

describe("parseHead framing of pipelined input", () => {
  test("RFC 9112 §9.3.2: consumes exactly one head of several in a buffer", () => {
    const one = `GET /1 HTTP/1.1\r\n${H}\r\n`;
    const buf = enc(one + one.replace("/1", "/2"));
    const out = emptyHead();
    const r = parseHead(buf, 0, buf.length, 0, LIMITS, out);
    expect(r).toBe(one.length);
    const second = emptyHead();
    expect(parseHead(buf, r, buf.length, 0, LIMITS, second)).toBe(one.length);
    expect(second.path).toBe("/2");
  });

  test("incomplete heads are NEED_MORE at every prefix", () => {
    const bytes = enc(`POST /x HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\n`);
    for (let k = 0; k < bytes.length; k++) expect(parseHead(bytes, 0, k, 0, LIMITS, emptyHead())).toBe(NEED_MORE);
  });
});

describe("parseHead limits", () => {
  const small: HeadLimits = { maxHeadBytes: 256, maxTargetBytes: 64, maxHeaderCount: 4 };

  test("head over maxHeadBytes -> 431, complete or not", () => {
    const big = `GET / HTTP/1.1\r\n${H}X-Pad: ${"a".repeat(300)}\r\n\r\n`;
    expect(parseAllWays(big, small).r).toBe(-HttpError.HeadTooLarge);
    expect(parseAllWays(big.slice(0, 280), small).r).toBe(-HttpError.HeadTooLarge);
  });

  test("head of exactly maxHeadBytes is accepted", () => {
    const base = `GET / HTTP/1.1\r\n${H}X-Pad: \r\n\r\n`;
    const exact = base.replace("X-Pad: ", `X-Pad: ${"a".repeat(256 - base.length)}`);
    expect(exact.length).toBe(256);
    expect(parseAllWays(exact, small).r).toBe(256);
  });

  test("request-target over maxTargetBytes -> 414, before the head is complete", () => {
    const line = `GET /${"t".repeat(100)}`;
    expect(parseAllWays(line, small).r).toBe(-HttpError.TargetTooLong);
    expect(parseAllWays(`${line} HTTP/1.1\r\n${H}\r\n`, small).r).toBe(-HttpError.TargetTooLong);
  });

  test("target longer than the whole head limit is still 414, not 431", () => {
    expect(parseAllWays(`GET /${"t".repeat(400)}`, small).r).toBe(-HttpError.TargetTooLong);
  });

  test("target of exactly maxTargetBytes is accepted", () => {
    const target = `/${"t".repeat(63)}`;
    expect(parseAllWays(`GET ${target} HTTP/1.1\r\n${H}\r\n`, small).head.path).toBe(target);
  });

  test("more than maxHeaderCount fields -> 431", () => {
    const four = `GET / HTTP/1.1\r\n${H}A: 1\r\nB: 2\r\nC: 3\r\n\r\n`;
    expect(parseAllWays(four, small).r).toBe(four.length);
    expect(parseAllWays(four.replace("C: 3", "C: 3\r\nD: 4"), small).r).toBe(-HttpError.TooManyHeaders);
  });

  test("default limits: 100 headers accepted, 101 rejected", () => {
    const fields = (n: number) => Array.from({ length: n - 1 }, (_, i) => `X-${i}: v\r\n`).join("");
    const ok = enc(`GET / HTTP/1.1\r\n${H}${fields(100)}\r\n`);
    expect(parseHead(ok, 0, ok.length, 0, LIMITS, emptyHead())).toBe(ok.length);
    const over = enc(`GET / HTTP/1.1\r\n${H}${fields(101)}\r\n`);
    expect(parseHead(over, 0, over.length, 0, LIMITS, emptyHead())).toBe(-HttpError.TooManyHeaders);
  });

  test("a head with more fields than the parser first holds offsets for decodes every field, as does the next", () => {
    const many: HeadLimits = { ...LIMITS, maxHeaderCount: 400 };
    const names = Array.from({ length: 300 }, (_, i) => `x-${i}`);
    const big = enc(`GET / HTTP/1.1\r\n${H}${names.map((n, i) => `${n}: v${i}\r\n`).join("")}\r\n`);
    const out = emptyHead();
    expect(parseHead(big, 0, big.length, 0, many, out)).toBe(big.length);
    expect(out.headers).toEqual(["host", "example.com", ...names.flatMap((n, i) => [n, `v${i}`])]);
    const small = enc(`GET /next HTTP/1.1\r\n${H}A: 1\r\n\r\n`);
    const next = emptyHead();
    expect(parseHead(small, 0, small.length, 0, many, next)).toBe(small.length);
    expect(next.headers).toEqual(["host", "example.com", "a", "1"]);
  });
});

// Found by `bun bench/cli.ts fuzz` (bench/fuzz/parser-fuzz.ts): a head rejected before its end was
// judged by a looser reading of the request line than the complete head, so splitting the same
// bytes differently changed the answer (414 in pieces, 400 whole; 414 whole, 431 in pieces).
describe("parseHead fuzz findings: the answer does not depend on how the bytes arrive", () => {
  const small: HeadLimits = { maxHeadBytes: 256, maxTargetBytes: 64, maxHeaderCount: 6 };
  const ROWS: Array<[name: string, input: string, error: HttpError]> = [
    ["DEL early in a long target", `GET /a\x7f${"b".repeat(100)} HTTP/1.1\r\n${H}\r\n`, HttpError.InvalidTarget],
    ["non-token method before a long target", `GE(T /${"t".repeat(100)} HTTP/1.1\r\n${H}\r\n`, HttpError.InvalidMethod],
    ["backtick-method glued to the target", `GET\`/health HTT${"E".repeat(200)}P/1.1\r\n${H}\r\n`, HttpError.InvalidMethod],
    ["bare LF after an over-long target", `GET /${"t".repeat(100)} HT\nTP/1.1\r\n${H}\r\n`, HttpError.TargetTooLong],
    ["method longer than the head limit, then a long target", `GE${"E".repeat(300)} /${"o".repeat(100)}`, HttpError.HeadTooLarge],
  ];
  for (const [name, input, error] of ROWS) {
    test(`9112 §3: ${name} -> ${HttpError[error]}`, () => {
      expect(parseAllWays(input, small).r).toBe(-error);
    });
  }
});

// Precedence (docs/architecture.md, "The HTTP engine"): a head that breaks several rules is answered
// for the rule its bytes break first, in the order they arrive: request-line syntax, the method
// (501 when its token ends), the target (syntax 400, length 414, form 400), the version (400, 505),
// each field line as it comes (syntax 400; 431 for one field too many or the byte past the head
// limit), then the complete head's framing. Every row runs whole, split at every offset and byte by
// byte, so the answer cannot depend on where a read ends.
describe("parseHead precedence: the first rule broken, in byte order, is the answer", () => {
  const SERVED = new Set(["GET", "HEAD", "POST", "OPTIONS"]);
  const small: HeadLimits = { maxHeadBytes: 256, maxTargetBytes: 64, maxHeaderCount: 6, knownMethod: (m) => SERVED.has(m) };
  const pad = (n: number) => `X-Pad: ${"p".repeat(n)}\r\n`;
  const long = "/" + "t".repeat(100);
  const ROWS: Array<[name: string, input: string, error: HttpError]> = [
    // Found by the live fuzzer (seed 20261202, case 5845): the method was judged after the head size.
    ["unknown method, then a head over the limit", `\r\nGeT /lead HTTP/1.1\r\nHost: ${"s".repeat(300)}\r\n\r\n`, HttpError.MethodNotImplemented],
    ["unknown method, answered when its token ends", "PUT ", HttpError.MethodNotImplemented],
    ["CONNECT, whatever the method list", "CONNECT ", HttpError.MethodNotImplemented],
    ["HTTP/2 preface: PRI is no method served", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", HttpError.MethodNotImplemented],
    ["non-token method byte, then an unknown method's end", "GE(T / HTTP/1.1\r\n", HttpError.InvalidMethod],
    ["unknown method, then a target over its limit", `PURGE ${long} HTTP/1.1\r\n${H}\r\n`, HttpError.MethodNotImplemented],
    ["unknown method, then a bare LF", "FOO / HTTP/1.1\n\r\n", HttpError.MethodNotImplemented],
    ["target over its limit, then a bad field", `GET ${long} HTTP/1.1\r\nBad Field: x\r\n\r\n`, HttpError.TargetTooLong],
    ["target in no known form, answered when it ends", "GET foo ", HttpError.InvalidTarget],
    ["target in no known form, then a head over the limit", `GET foo HTTP/1.1\r\n${H}${pad(300)}\r\n`, HttpError.InvalidTarget],
    ["unsupported version, then a head over the limit", `GET / HTTP/2.0\r\n${H}${pad(300)}\r\n`, HttpError.VersionNotSupported],
    ["malformed version, then a bad field", "GET / HTTP/1.1x\r\nBad Field: x\r\n\r\n", HttpError.InvalidVersion],
    ["bad field, then a head over the limit", `GET / HTTP/1.1\r\n${H}Bad Field: x\r\n${pad(300)}\r\n`, HttpError.WhitespaceBeforeColon],
    ["head over the limit, then a bad field", `GET / HTTP/1.1\r\n${H}${pad(300)}Bad Field: x\r\n\r\n`, HttpError.HeadTooLarge],
    ["bare LF inside the limit, then more than the limit", `GET / HTTP/1.1\r\n${H}X: 1\n${pad(300)}\r\n`, HttpError.InvalidLineEnding],
    ["bad field, then one field too many", `GET / HTTP/1.1\r\n${H}A\x01: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\n\r\n`, HttpError.InvalidHeaderName],
    ["one field too many, then a bad field", `GET / HTTP/1.1\r\n${H}B: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nA\x01: 1\r\n\r\n`, HttpError.TooManyHeaders],
    ["unknown transfer coding (501), then a bad field", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\nX: a\x01\r\n\r\n`, HttpError.InvalidHeaderValue],
    ["unknown transfer coding (501), then a head over the limit", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n${pad(300)}\r\n`, HttpError.HeadTooLarge],
    ["Content-Length with Transfer-Encoding, then an expectation (417)", `POST / HTTP/1.1\r\n${H}Content-Length: 1\r\nTransfer-Encoding: chunked\r\nExpect: x\r\n\r\n`, HttpError.ContentLengthWithTransferEncoding],
  ];
  for (const [name, input, error] of ROWS) {
    test(`${name} -> ${HttpError[error]}`, () => {
      expect(parseAllWays(input, small).r).toBe(-error);
    });
  }

  test("an unknown method's token still arriving is need-more; a known one's full request line too", () => {
    expect(parseAllWays("PUT", small).r).toBe(NEED_MORE);
    expect(parseAllWays("GET /x HTTP/1.1\r\nHos", small).r).toBe(NEED_MORE);
  });

  test("RFC 9112 §2.2: empty lines before the request line do not count toward the head limit", () => {
    const base = `GET / HTTP/1.1\r\n${H}X-Pad: \r\n\r\n`;
    const exact = base.replace("X-Pad: ", `X-Pad: ${"a".repeat(256 - base.length)}`);
    expect(parseAllWays(`\r\n\r\n${exact}`, small).r).toBe(4 + 256);
    expect(parseAllWays(`\r\n${exact.replace("X-Pad: ", "X-Pad: a")}`, small).r).toBe(-HttpError.HeadTooLarge);
  });
});

describe("parseHead token reuse", () => {
  // Targets and short values seen lately are reused rather than decoded again; sets are shared by
  // hash, so equal lengths and equal first/last/middle bytes must still be told apart.
  test("same bytes give equal strings; colliding ones never leak into each other", () => {
    // Only the second byte differs: the same set, three tokens for its two ways.
    const paths = ["/Xab", "/Yab", "/Xab", "/Zab", "/Yab", "/Xab", "/Zab", "/abcdefgh", "/abcdefgh"];
    for (const buffer of [false, true]) {
      for (const path of paths) {
        const text = `GET ${path} HTTP/1.1\r\nHost: h${path.length}\r\nX-V: ${path}\xe9\r\n\r\n`;
        const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0));
        const out = emptyHead();
        expect(parseHead(buffer ? Buffer.from(bytes) : bytes, 0, bytes.length, 0, LIMITS, out)).toBe(bytes.length);
        expect([out.target, out.headers]).toEqual([path, ["host", `h${path.length}`, "x-v", `${path}\xe9`]]);
      }
    }
  });
});
