// Response bytes, the error table and the write queue: pure pieces of the outbound path.
import { describe, expect, test } from "bun:test";
import { ERROR_SPECS, HttpError, errorBody, errorResponseBytes } from "../../src/http/errors.ts";
import { Outbound } from "../../src/http/outbound.ts";
import { CONTINUE_100, DateCache, type Encodable, FRAME_CHUNKED, FRAME_NONE, HeadEncoder, LAST_CHUNK, chunk, toBytes, writeLatin1 } from "../../src/http/serialize.ts";
import { responseHead } from "../helpers/http-oracle.ts";

const dec = (b: Uint8Array) => String.fromCharCode(...b);
const DATE = "date: Thu, 01 Jan 2026 00:00:00 GMT\r\n";

describe("serialize", () => {
  test("head with Content-Length, Date and app headers", () => {
    expect(responseHead(200, "x-a: 1\r\n", 5, "", DATE)).toBe(`HTTP/1.1 200 OK\r\n${DATE}x-a: 1\r\ncontent-length: 5\r\n\r\n`);
  });

  test("chunked framing and connection header", () => {
    expect(responseHead(201, "", FRAME_CHUNKED, "close", DATE)).toBe(`HTTP/1.1 201 Created\r\n${DATE}transfer-encoding: chunked\r\nconnection: close\r\n\r\n`);
  });

  test("no framing header for FRAME_NONE; unknown status has empty reason", () => {
    expect(responseHead(299, "", FRAME_NONE, "keep-alive", "")).toBe("HTTP/1.1 299 \r\nconnection: keep-alive\r\n\r\n");
  });

  test("latin1 header values are written byte for byte, not as UTF-8", () => {
    const dst = new Uint8Array(8);
    expect(writeLatin1("caf\xe9", dst, 2)).toBe(6);
    expect([...dst.subarray(2, 6)]).toEqual([0x63, 0x61, 0x66, 0xe9]);
    // Long strings take the native encoder first; a value beyond ASCII falls back to the byte loop.
    const long = "x".repeat(70) + "\xe9";
    const big = new Uint8Array(long.length);
    expect(writeLatin1(long, big, 0)).toBe(71);
    expect(big[70]).toBe(0xe9);
  });

  test("chunk framing (RFC 9112 §7.1)", () => {
    expect(dec(chunk(new Uint8Array(26).fill(97)))).toBe(`1a\r\n${"a".repeat(26)}\r\n`);
    expect(dec(LAST_CHUNK)).toBe("0\r\n\r\n");
    expect(dec(CONTINUE_100)).toBe("HTTP/1.1 100 Continue\r\n\r\n");
  });

  test("Date is formatted once per second (RFC 9110 §6.6.1 IMF-fixdate)", () => {
    const cache = new DateCache();
    const a = cache.line(Date.UTC(2026, 0, 1, 0, 0, 0, 100));
    expect(a).toBe(DATE);
    expect(cache.line(Date.UTC(2026, 0, 1, 0, 0, 0, 900))).toBe(a);
    expect(cache.line(Date.UTC(2026, 0, 1, 0, 0, 1, 0))).toBe("date: Thu, 01 Jan 2026 00:00:01 GMT\r\n");
  });

  test("stream chunks of every shape become bytes", () => {
    expect(dec(toBytes("hé")!)).toBe("h\xc3\xa9");
    expect(toBytes(new Uint16Array([1]))!.length).toBe(2);
    expect(toBytes(new ArrayBuffer(3))!.length).toBe(3);
    expect(toBytes({})).toBeNull();
  });
});

describe("errors table", () => {
  const codes = Object.values(HttpError).filter((v): v is HttpError => typeof v === "number");

  test("every code has a distinct stable string and an HTTP status", () => {
    const strings = codes.map((c) => ERROR_SPECS[c].code);
    expect(new Set(strings).size).toBe(codes.length);
    for (const c of codes) expect(ERROR_SPECS[c].status).toBeGreaterThanOrEqual(400);
  });

  test("prebuilt closing responses: JSON body, exact length, Connection: close", () => {
    for (const c of codes.filter((c) => ERROR_SPECS[c].close)) {
      const text = dec(errorResponseBytes(c, DATE));
      const [head, body] = text.split("\r\n\r\n") as [string, string];
      expect(head.startsWith(`HTTP/1.1 ${ERROR_SPECS[c].status} `)).toBe(true);
      expect(head).toContain(`\r\n${DATE}content-type: application/json`);
      expect(head).toContain("\r\nconnection: close");
      expect(head).toContain(`content-length: ${body.length}`);
      expect(JSON.parse(body)).toEqual({ success: false, error: { code: ERROR_SPECS[c].code, message: ERROR_SPECS[c].message } });
    }
  });

  test("the handler-failure error keeps the connection and has a body alone", () => {
    expect(ERROR_SPECS[HttpError.InternalError].close).toBe(false);
    expect(JSON.parse(dec(errorBody(HttpError.InternalError))).error.code).toBe("internal_error");
  });

  test("statuses required by the issue", () => {
    expect(ERROR_SPECS[HttpError.HeadTooLarge].status).toBe(431);
    expect(ERROR_SPECS[HttpError.TooManyHeaders].status).toBe(431);
    expect(ERROR_SPECS[HttpError.TargetTooLong].status).toBe(414);
    expect(ERROR_SPECS[HttpError.BodyTooLarge].status).toBe(413);
    expect(ERROR_SPECS[HttpError.HeaderTimeout].status).toBe(408);
    expect(ERROR_SPECS[HttpError.VersionNotSupported].status).toBe(505);
    expect(ERROR_SPECS[HttpError.ContentLengthWithTransferEncoding].status).toBe(400);
  });
});

/** A socket that takes at most `room` bytes per write call and records what it got. */
function fakeSocket(room: number[]) {
  const writes: Uint8Array[] = [];
  return {
    writes,
    write(data: Uint8Array, length: number): number {
      const n = Math.min(room.shift() ?? length, length);
      if (n > 0) writes.push(data.slice(0, n));
      return n;
    },
  };
}

describe("Outbound", () => {
  const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

  test("small chunks queued together leave in one write", () => {
    const out = new Outbound(1024);
    for (let i = 0; i < 16; i++) out.push(bytes(`r${i};`));
    const sock = fakeSocket([]);
    expect(out.flush(sock)).toBe(true);
    expect(sock.writes).toHaveLength(1);
    expect(dec(sock.writes[0]!)).toBe(Array.from({ length: 16 }, (_, i) => `r${i};`).join(""));
    expect(out.bytes).toBe(0);
  });

  test("a partial write keeps the rest, in order, for the next flush", () => {
    const out = new Outbound(4);
    out.push(bytes("abcdef"));
    out.push(bytes("gh"));
    out.push(bytes("ij"));
    const sock = fakeSocket([2, 0]);
    expect(out.flush(sock)).toBe(false);
    expect(out.bytes).toBe(8);
    expect(out.flush(sock)).toBe(false); // kernel buffer full: 0 taken
    expect(out.bytes).toBe(8);
    expect(out.flush(sock)).toBe(true);
    expect(sock.writes.map(dec).join("")).toBe("abcdefghij");
  });

  test("a closed socket (-1) leaves the queue as is", () => {
    const out = new Outbound(64);
    out.push(bytes("abc"));
    expect(out.flush({ write: () => -1 })).toBe(false);
    expect(out.bytes).toBe(3);
    out.clear();
    expect(out.empty).toBe(true);
  });

  test("coalescing never copies beyond its cap", () => {
    const out = new Outbound(8);
    out.push(bytes("12345"));
    out.push(bytes("678"));
    out.push(bytes("9abcdefgh"));
    const sock = fakeSocket([]);
    out.flush(sock);
    expect(sock.writes.map(dec)).toEqual(["12345678", "9abcdefgh"]);
  });

  test("many tiny chunks drain in linear passes", () => {
    const out = new Outbound(64);
    for (let i = 0; i < 10_000; i++) out.push(bytes("x"));
    const sock = fakeSocket(Array(200).fill(50));
    while (!out.flush(sock));
    expect(sock.writes.reduce((n, w) => n + w.length, 0)).toBe(10_000);
  });
});

describe("HeadEncoder", () => {
  const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
  const cases: [number, string, number, string][] = [
    [200, "content-type: application/json\r\n", 45, ""],
    [200, "content-type: application/json\r\n", 45, ""], // the same lines again: copied, not encoded
    [201, "", FRAME_CHUNKED, "close"],
    [204, "x-a: 1\r\nx-b: caf\xe9\r\n", FRAME_NONE, ""],
    [299, "", 0, "keep-alive"],
    [404, `x-long: ${"v".repeat(100)}\xe9\r\n`, 1234567890123, ""],
    [200, "x-a: 1\r\n", 9, ""],
    [500, "x-a: 1\r\n", 10, "close"],
  ];

  test("writes exactly the bytes of responseHead, at any offset", () => {
    const dates = new DateCache();
    const now = Date.UTC(2026, 0, 1);
    const head = new HeadEncoder();
    for (const [status, lines, frame, connection] of cases) {
      const want = latin1(responseHead(status, lines, frame, connection, dates.line(now)));
      head.set(dates.prefix(status, now), lines, frame, connection);
      expect(head.size).toBe(want.length);
      const dst = new Uint8Array(want.length + 10).fill(0xff);
      expect(head.encode(dst, 5)).toBe(5 + want.length);
      expect([...dst.subarray(5, 5 + want.length)]).toEqual([...want]);
      expect(dst[4]).toBe(0xff);
      expect(dst[5 + want.length]).toBe(0xff);
    }
  });

  test("status and Date prefixes follow the second", () => {
    const dates = new DateCache();
    const a = dates.prefix(200, Date.UTC(2026, 0, 1, 0, 0, 0, 100));
    expect(dates.prefix(200, Date.UTC(2026, 0, 1, 0, 0, 0, 900))).toBe(a);
    expect(dec(dates.prefix(200, Date.UTC(2026, 0, 1, 0, 0, 1)))).toBe("HTTP/1.1 200 OK\r\ndate: Thu, 01 Jan 2026 00:00:01 GMT\r\n");
    expect(dec(dates.prefix(404, Date.UTC(2026, 0, 1, 0, 0, 1)))).toStartWith("HTTP/1.1 404 Not Found\r\n");
  });
});

describe("Outbound staging", () => {
  const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
  const head = (s: string): Encodable => ({ size: s.length, encode: (dst, off) => writeLatin1(s, dst, off) });
  const sink = () => {
    const writes: string[] = [];
    return { writes, write: (d: Uint8Array, n: number) => (writes.push(dec(d.subarray(0, n))), n) };
  };

  test("responses ready together leave in one write, head then body", () => {
    const out = new Outbound(1024);
    for (let i = 0; i < 3; i++) out.pushEncoded(head(`H${i}\r\n`), bytes(`b${i}`));
    expect(out.bytes).toBe(18);
    const s = sink();
    expect(out.flush(s)).toBe(true);
    expect(s.writes).toEqual(["H0\r\nb0H1\r\nb1H2\r\nb2"]);
    expect(out.bytes).toBe(0);
  });

  test("two connections taking turns keep their own bytes, in order", () => {
    const a = new Outbound(1024), b = new Outbound(1024);
    a.pushEncoded(head("a1;"), null);
    b.pushEncoded(head("b1;"), null);
    a.pushEncoded(head("a2;"), null);
    b.push(bytes("b2;"));
    b.pushEncoded(head("b3;"), null);
    const sa = sink(), sb = sink();
    expect(a.flush(sa) && b.flush(sb)).toBe(true);
    expect(sa.writes.join("")).toBe("a1;a2;");
    expect(sb.writes.join("")).toBe("b1;b2;b3;");
  });

  test("a partial write keeps the rest out of the shared buffer", () => {
    const a = new Outbound(1024), b = new Outbound(1024);
    a.pushEncoded(head("0123456789"), null);
    const writes: string[] = [];
    const slow = { write: (d: Uint8Array, n: number) => (writes.push(dec(d.subarray(0, Math.min(n, 4)))), Math.min(n, 4)) };
    expect(a.flush(slow)).toBe(false);
    expect(a.bytes).toBe(6);
    b.pushEncoded(head("xxxxxxxxxxxx"), null); // reuses the shared buffer
    while (!a.flush(slow));
    expect(writes.join("")).toBe("0123456789");
  });

  test("a closed socket keeps the staged bytes until clear", () => {
    const a = new Outbound(1024);
    a.pushEncoded(head("abc"), null);
    expect(a.flush({ write: () => -1 })).toBe(false);
    expect(a.bytes).toBe(3);
    a.clear();
    expect(a.empty).toBe(true);
    const s = sink();
    expect(a.flush(s)).toBe(true);
    expect(s.writes).toEqual([]);
  });

  test("a message over the coalescing cap is queued on its own", () => {
    const out = new Outbound(8);
    out.pushEncoded(head("H:"), bytes("1234567890"));
    out.pushEncoded(head("h;"), null);
    const s = sink();
    out.flush(s);
    expect(s.writes).toEqual(["H:1234567890", "h;"]);
  });

  test("staged bytes stay below the cap: the next message starts a new write", () => {
    const out = new Outbound(6);
    out.pushEncoded(head("abcd"), null);
    out.pushEncoded(head("efgh"), null);
    const s = sink();
    while (!out.flush(s));
    expect(s.writes.join("")).toBe("abcdefgh");
  });
});
