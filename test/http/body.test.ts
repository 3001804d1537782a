// Body decoders as spec tables (RFC 9112 §6.3, §7.1), each case fed whole, split at every offset
// and byte by byte. Errors are asserted by code.
import { describe, expect, test } from "bun:test";
import { type BodyDecoder, ChunkedDecoder, type ChunkedLimits, LengthDecoder, concatBody } from "../../src/http/body.ts";
import { HttpError } from "../../src/http/errors.ts";

const LIMITS: ChunkedLimits = { maxBodyBytes: 1024, maxChunkLineBytes: 64, maxTrailerBytes: 128 };
const enc = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const dec = (b: Uint8Array) => String.fromCharCode(...b);

interface Outcome {
  /** Decoded body, or the error code. */
  body?: string;
  error?: HttpError;
  /** Bytes consumed in total when done (the rest belongs to the next request). */
  consumed?: number;
}

function run(make: () => BodyDecoder, pieces: Uint8Array[]): Outcome {
  const d = make();
  const out: Uint8Array[] = [];
  let consumed = 0;
  for (const piece of pieces) {
    if (d.done) break;
    const r = d.feed(piece, 0, piece.length, out);
    if (r < 0) return { error: -r };
    consumed += r;
    // Mimic the connection: unconsumed bytes of a piece are only left over once the body is done.
    if (r < piece.length && !d.done) throw new Error("decoder left bytes without finishing");
  }
  if (!d.done) return { error: 0 as HttpError };
  return { body: dec(concatBody(out, d.received)), consumed };
}

function allWays(make: () => BodyDecoder, input: string): Outcome {
  const bytes = enc(input);
  const results: [string, Outcome][] = [["whole", run(make, [bytes])]];
  for (let k = 1; k < bytes.length; k++) results.push([`split@${k}`, run(make, [bytes.subarray(0, k), bytes.subarray(k)])]);
  results.push(["bytewise", run(make, Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)))]);
  const first = JSON.stringify(results[0]![1]);
  for (const [label, outcome] of results) {
    if (JSON.stringify(outcome) !== first) throw new Error(`${label} gave ${JSON.stringify(outcome)}, whole gave ${first}`);
  }
  return results[0]![1];
}

const chunked = (limits = LIMITS) => () => new ChunkedDecoder(limits);

interface Row {
  rfc: string;
  name: string;
  input: string;
  body?: string;
  error?: HttpError;
}

const ROWS: Row[] = [
  { rfc: "9112 §7.1", name: "one chunk", input: "5\r\nhello\r\n0\r\n\r\n", body: "hello" },
  { rfc: "9112 §7.1", name: "several chunks", input: "3\r\nabc\r\n1\r\nd\r\n2\r\nef\r\n0\r\n\r\n", body: "abcdef" },
  { rfc: "9112 §7.1", name: "uppercase hex and leading zeros", input: "00A\r\n0123456789\r\n000\r\n\r\n", body: "0123456789" },
  { rfc: "9112 §7.1", name: "empty body", input: "0\r\n\r\n", body: "" },
  { rfc: "9112 §7.1.1", name: "extensions ignored", input: "5;name=value;q=\"a;b\"\r\nhello\r\n0;last\r\n\r\n", body: "hello" },
  { rfc: "9112 §7.1.1", name: "BWS before an extension", input: "5 ;x=1\r\nhello\r\n0\r\n\r\n", body: "hello" },
  { rfc: "9112 §7.1.2", name: "trailer fields consumed", input: "5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n", body: "hello" },
  { rfc: "9112 §7.1", name: "CRLF inside data is data", input: "4\r\n\r\n\r\n\r\n0\r\n\r\n", body: "\r\n\r\n" },
  { rfc: "9112 §7.1", name: "non-hex size", input: "g\r\nhello\r\n0\r\n\r\n", error: HttpError.InvalidChunkSize },
  { rfc: "9112 §7.1", name: "empty size line", input: "\r\nhello\r\n0\r\n\r\n", error: HttpError.InvalidChunkSize },
  { rfc: "9112 §7.1", name: "signed size", input: "-5\r\nhello\r\n0\r\n\r\n", error: HttpError.InvalidChunkSize },
  { rfc: "9112 §7.1", name: "0x prefix", input: "0x5\r\nhello\r\n0\r\n\r\n", error: HttpError.InvalidChunkSize },
  { rfc: "9112 §7.1", name: "bare LF after size", input: "5\nhello\r\n0\r\n\r\n", error: HttpError.InvalidChunkSize },
  { rfc: "9112 §7.1", name: "CR without LF after size", input: "5\rhello\r\n0\r\n\r\n", error: HttpError.InvalidChunkSize },
  { rfc: "9112 §7.1", name: "size overflowing 2^53", input: "fffffffffffffffff\r\n", error: HttpError.ChunkSizeOverflow },
  { rfc: "9112 §7.1", name: "data not followed by CRLF", input: "5\r\nhelloX\r\n0\r\n\r\n", error: HttpError.InvalidChunkTerminator },
  { rfc: "9112 §7.1", name: "data followed by bare LF", input: "5\r\nhello\n0\r\n\r\n", error: HttpError.InvalidChunkTerminator },
  { rfc: "9112 §7.1", name: "data longer than declared", input: "3\r\nhello\r\n0\r\n\r\n", error: HttpError.InvalidChunkTerminator },
  { rfc: "9112 §7.1.1", name: "control byte in an extension", input: "5;a\x00b\r\nhello\r\n0\r\n\r\n", error: HttpError.InvalidChunkSize },
  { rfc: "9112 §7.1.1", name: "size line over its limit", input: `5;${"x".repeat(80)}\r\nhello\r\n0\r\n\r\n`, error: HttpError.ChunkLineTooLong },
  { rfc: "9112 §7.1.2", name: "trailer without colon", input: "0\r\nNoColon\r\n\r\n", error: HttpError.InvalidTrailer },
  { rfc: "9112 §7.1.2", name: "trailer obs-fold", input: "0\r\nX: a\r\n b\r\n\r\n", error: HttpError.InvalidTrailer },
  { rfc: "9112 §7.1.2", name: "trailer bare LF", input: "0\r\nX: a\n\r\n", error: HttpError.InvalidTrailer },
  { rfc: "9112 §7.1.2", name: "final CRLF missing its LF", input: "0\r\n\rX", error: HttpError.InvalidTrailer },
  { rfc: "9112 §7.1.2", name: "trailer section over its limit", input: `0\r\nX: ${"v".repeat(200)}\r\n\r\n`, error: HttpError.TrailerTooLarge },
];

describe("ChunkedDecoder (RFC 9112 §7.1)", () => {
  for (const row of ROWS) {
    const label = row.error === undefined ? `-> ${JSON.stringify(row.body)}` : `-> ${HttpError[row.error]}`;
    test(`${row.rfc}: ${row.name} ${label}`, () => {
      const outcome = allWays(chunked(), row.input);
      if (row.error !== undefined) expect(outcome.error).toBe(row.error);
      else {
        expect(outcome.body).toBe(row.body!);
        expect(outcome.consumed).toBe(row.input.length);
      }
    });
  }

  test("stops at the end of the body, leaving the next request's bytes", () => {
    const input = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    const d = new ChunkedDecoder(LIMITS);
    const out: Uint8Array[] = [];
    expect(d.feed(enc(input), 0, input.length, out)).toBe(input.indexOf("GET"));
    expect(d.done).toBe(true);
  });

  test("body limit: a declared size over it is 413 before its data arrives", () => {
    const limits = { ...LIMITS, maxBodyBytes: 10 };
    expect(allWays(chunked(limits), "b\r\n").error).toBe(HttpError.BodyTooLarge);
    expect(allWays(chunked(limits), "a\r\n0123456789\r\n0\r\n\r\n").body).toBe("0123456789");
  });

  test("body limit: the running total of chunks is checked", () => {
    const limits = { ...LIMITS, maxBodyBytes: 10 };
    expect(allWays(chunked(limits), "6\r\nhello!\r\n5\r\n").error).toBe(HttpError.BodyTooLarge);
  });

  test("data pieces are views of the input, not copies", () => {
    const input = enc("5\r\nhello\r\n0\r\n\r\n");
    const out: Uint8Array[] = [];
    new ChunkedDecoder(LIMITS).feed(input, 0, input.length, out);
    expect(out).toHaveLength(1);
    expect(out[0]!.buffer).toBe(input.buffer);
  });
});

describe("LengthDecoder (RFC 9112 §6.3)", () => {
  test("reads exactly Content-Length bytes, any split", () => {
    const outcome = allWays(() => new LengthDecoder(5), "hello");
    expect(outcome).toEqual({ body: "hello", consumed: 5 });
  });

  test("leaves bytes after the body for the next request", () => {
    const d = new LengthDecoder(3);
    const out: Uint8Array[] = [];
    expect(d.feed(enc("abcGET"), 0, 6, out)).toBe(3);
    expect(d.done).toBe(true);
    expect(dec(concatBody(out, 3))).toBe("abc");
  });
});
