import { describe, expect, test } from "bun:test";
import { SseParser, type SseEvent } from "../../src/loadtest/sse.ts";

const enc = new TextEncoder();

/** Feeds `chunks` and collects every event, including those released at end of stream. */
function parse(chunks: Uint8Array[]): { events: SseEvent[]; comments: number; pendingData: boolean } {
  const p = new SseParser();
  const events: SseEvent[] = [];
  for (const c of chunks) events.push(...p.push(c));
  const end = p.end();
  events.push(...end.events);
  return { events, comments: p.comments, pendingData: end.pendingData };
}

// A stream exercising the awkward parts: CRLF, bare CR and LF line ends, multi-byte UTF-8 (3- and
// 4-byte sequences), comments, a multi-line data field, an event name, field without a space.
const STREAM =
  ": keep-alive\r\n\r\n" +
  'data: {"text":"人工","tokens":1}\r\n\r\n' +
  'data: {"text":"智能 🚀","tokens":2}\n\n' +
  "data:first\rdata: second\r\r" +
  "event: usage\r\ndata: {\"done\":true}\r\n\r\n" +
  ": bye\n";

const EXPECTED: SseEvent[] = [
  { event: "message", data: '{"text":"人工","tokens":1}', id: null },
  { event: "message", data: '{"text":"智能 🚀","tokens":2}', id: null },
  { event: "message", data: "first\nsecond", id: null },
  { event: "usage", data: '{"done":true}', id: null },
];

describe("SseParser", () => {
  const bytes = enc.encode(STREAM);

  test("whole stream in one chunk", () => {
    const r = parse([bytes]);
    expect(r.events).toEqual(EXPECTED);
    expect(r.comments).toBe(2);
    expect(r.pendingData).toBe(false);
  });

  test("split into two chunks at every byte offset", () => {
    for (let i = 0; i <= bytes.length; i++) {
      const r = parse([bytes.subarray(0, i), bytes.subarray(i)]);
      expect({ offset: i, events: r.events }).toEqual({ offset: i, events: EXPECTED });
      expect(r.comments).toBe(2);
    }
  });

  test("split into three chunks at every pair of offsets", () => {
    for (let i = 0; i <= bytes.length; i += 3) {
      for (let j = i; j <= bytes.length; j++) {
        const r = parse([bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)]);
        expect({ i, j, events: r.events }).toEqual({ i, j, events: EXPECTED });
      }
    }
  });

  test("byte by byte", () => {
    const chunks = Array.from(bytes, (b) => Uint8Array.of(b));
    expect(parse(chunks).events).toEqual(EXPECTED);
  });

  test("CR at the end of a chunk followed by LF does not end an extra line", () => {
    // If the LF after a split CRLF were read as its own line end, the empty line would dispatch
    // "a" early and "b" would become a separate event.
    const r = parse([enc.encode("data: a\r"), enc.encode("\ndata: b\r\n\r\n")]);
    expect(r.events.map((e) => e.data)).toEqual(["a\nb"]);
  });

  test("an event cut off at end of stream is not emitted, and is reported", () => {
    const r = parse([enc.encode('data: {"done":true}\n')]);
    expect(r.events).toEqual([]);
    expect(r.pendingData).toBe(true);
    const r2 = parse([enc.encode('data: {"done":tr')]);
    expect(r2.events).toEqual([]);
    expect(r2.pendingData).toBe(true);
  });

  test("empty data line still dispatches an event with empty data; id is kept", () => {
    const r = parse([enc.encode("id: 7\ndata\n\n")]);
    expect(r.events).toEqual([{ event: "message", data: "", id: "7" }]);
  });

  test("a UTF-8 byte order mark at the start is ignored", () => {
    const r = parse([Uint8Array.of(0xef, 0xbb), Uint8Array.of(0xbf), enc.encode("data: x\n\n")]);
    expect(r.events.map((e) => e.data)).toEqual(["x"]);
  });

  test("a stream ending in CR, or with only an event name pending, is judged like any other end", () => {
    expect(parse([enc.encode("data: a\n\ndata: b\r")])).toMatchObject({ events: [{ data: "a" }], pendingData: true });
    expect(parse([enc.encode("data: a\r\n\r\nevent: x\r\n")])).toMatchObject({ events: [{ data: "a" }], pendingData: false });
    expect(parse([enc.encode("data: a\n\n: bye")])).toMatchObject({ events: [{ data: "a" }], pendingData: false });
  });

  test("the last event ID lasts until the stream sets another", () => {
    const r = parse([enc.encode("id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n")]);
    expect(r.events.map((e) => e.id)).toEqual(["1", "1", "2"]);
  });
});
