// Between our parsed requests and the application's Web Request/Response. Web APIs only (no Bun):
// Request, Headers, Response and ReadableStream are what the handler speaks.
import { PreparedResponse, type ResponseFacts } from "../prepared-response.ts";
import type { RequestHead } from "./parser.ts";
import { LazyRequest, nativeMethod } from "./request.ts";
import type { BodySource, ResponseParts } from "./exchange.ts";
import { toBytes } from "./serialize.ts";

/** Synchronously unwraps a promise that has already settled (the server passes Bun's peek), else returns it. */
export type Peek = <T>(p: Promise<T>) => T | Promise<T>;

const noPeek: Peek = (p) => p;

/**
 * The methods the engine serves: those a Web Request carries unchanged, so the application sees the
 * method the client sent (Bun's Request turns one it does not know, or a known one in odd case, into
 * GET). The server hands this to the parser, which answers any other method 501 as soon as its token
 * ends (CONNECT too: no tunnels).
 */
export function carriesMethod(method: string): boolean {
  try {
    return nativeMethod(method) === method;
  } catch {
    return false;
  }
}

/**
 * A Web Request for the handler (lazy: see request.ts). The URL is always http://localhost +
 * origin-form path: Elysia finds the path by position after "http://localhost".
 * The Host header is kept. Throws where a native Request would (its method probe).
 */
export function toRequest(head: RequestHead, body: Uint8Array | null, signal: AbortSignal): Request {
  return new LazyRequest(head, nativeMethod(head.method), body, signal);
}

/**
 * Splits a Response into status, rendered headers and body. A body is streamed (chunked) when the
 * Response says so: a Transfer-Encoding header (Elysia generators and streams) or an event stream;
 * anything else is read whole and sent with Content-Length. An untouched PreparedResponse is sent
 * from its facts, with no Headers object or body read.
 */
export function toParts(res: Response, peek: Peek = noPeek): ResponseParts | Promise<ResponseParts> {
  const facts = PreparedResponse.factsOf(res);
  if (facts !== null) {
    const parts = fromFacts(facts);
    if (parts !== null) return parts;
  }
  const h = scan;
  h.lines = "";
  h.declared = -1;
  h.streamed = h.close = false;
  // forEach with a this-arg: no iterator or entry arrays per header.
  res.headers.forEach(scanHeader, h);
  const parts: ResponseParts = { status: res.status, headerLines: h.lines, body: null, stream: null, declaredLength: h.declared, close: h.close };
  if (h.streamed) {
    parts.stream = res.body === null ? null : readerSource(res.body);
    return parts;
  }
  const bytes = peek(res.bytes());
  if (!(bytes instanceof Promise)) {
    parts.body = bytes;
    return parts;
  }
  return bytes.then((b) => {
    parts.body = b;
    return parts;
  });
}

/** Parts from a PreparedResponse's facts (fields a Headers object accepted); null when they ask for streaming. */
function fromFacts(facts: ResponseFacts): ResponseParts | null {
  const h = scan;
  h.lines = "";
  h.declared = -1;
  h.streamed = h.close = false;
  const headers = facts.headers;
  for (const name in headers) scanHeader.call(h, headers[name]!, name);
  // A complete body never streams; a head that says otherwise is left to the Web API path.
  if (h.streamed) return null;
  return { status: facts.status, headerLines: h.lines, body: facts.body, stream: null, declaredLength: h.declared, close: h.close };
}

interface HeaderScan {
  lines: string;
  declared: number;
  streamed: boolean;
  close: boolean;
}

/** Reused by every toParts call: the scan is synchronous. */
const scan: HeaderScan = { lines: "", declared: -1, streamed: false, close: false };

/** Renders one response header, diverting the ones whose meaning we own: framing, Connection, Date. */
function scanHeader(this: HeaderScan, value: string, name: string): void {
  switch (name) {
    case "content-length":
      this.declared = /^\d{1,15}$/.test(value) ? Number(value) : -1;
      return;
    case "transfer-encoding":
      this.streamed = true;
      return;
    case "connection":
      if (/(^|[\s,])close($|[\s,])/i.test(value)) this.close = true;
      return;
    case "keep-alive":
    case "date":
      return;
    case "content-type":
      if (value.startsWith("text/event-stream")) this.streamed = true;
      break;
  }
  this.lines += headerLine(name, value);
}

// Header lines rendered lately: most responses repeat the same few (content-type above all), and a
// line found here is the same string as last time, which the head encoder recognises. Direct-mapped.
const LINE_SLOTS = 16;
const lineNames: string[] = new Array<string>(LINE_SLOTS).fill("");
const lineValues: string[] = new Array<string>(LINE_SLOTS).fill("");
const lines: string[] = new Array<string>(LINE_SLOTS).fill("");

const slotOf = (name: string, value: string) => (name.length * 7 + value.length) & (LINE_SLOTS - 1);

/** "name: value\r\n". */
function headerLine(name: string, value: string): string {
  if (value.length > 256) return `${name}: ${value}\r\n`;
  const slot = slotOf(name, value);
  if (lineNames[slot] === name && lineValues[slot] === value) return lines[slot]!;
  lineNames[slot] = name;
  lineValues[slot] = value;
  return (lines[slot] = `${name}: ${value}\r\n`);
}

function readerSource(body: ReadableStream): BodySource {
  const reader = body.getReader();
  let finished = false;
  return {
    async read() {
      for (;;) {
        const r = await reader.read();
        if (r.done) {
          finished = true;
          return null;
        }
        const bytes = toBytes(r.value);
        if (bytes === null) throw new TypeError("unsupported response body chunk");
        if (bytes.length > 0) return bytes;
      }
    },
    cancel() {
      if (finished) return;
      finished = true;
      // Cancelling runs the generator's finally / the stream's cancel(): upstream work stops.
      reader.cancel().catch(() => {});
    },
  };
}
