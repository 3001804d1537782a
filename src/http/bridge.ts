// Between our parsed requests and the application's Web Request/Response. Web APIs only (no Bun):
// Request, Headers, Response and ReadableStream are what the handler speaks.
import type { RequestHead } from "./parser.ts";
import type { BodySource, ResponseParts } from "./respond.ts";
import { toBytes } from "./serialize.ts";

/** Synchronously unwraps a promise that has already settled (the server passes Bun's peek), else returns it. */
export type Peek = <T>(p: Promise<T>) => T | Promise<T>;

const noPeek: Peek = (p) => p;

/**
 * A Web Request for the handler. The URL is always http://localhost + origin-form path: Elysia
 * finds the path by position after "http://localhost" (see FACTS.md). The Host header is kept.
 */
export function toRequest(head: RequestHead, body: Uint8Array | null, signal: AbortSignal): Request {
  // Null prototype: a header named "__proto__" must be an ordinary key.
  const headers: Record<string, string> = Object.create(null);
  const h = head.headers;
  for (let k = 0; k < h.length; k += 2) {
    const name = h[k]!, prior = headers[name];
    headers[name] = prior === undefined ? h[k + 1]! : prior + (name === "cookie" ? "; " : ", ") + h[k + 1]!;
  }
  // Every init member costs the native constructor measurably; GET is its default.
  const init: RequestInit = head.method === "GET" ? { headers, signal } : { method: head.method, headers, signal };
  // The Fetch API rejects bodies on GET/HEAD; such a body has no defined meaning anyway (RFC 9110 §9.3.1).
  if (body !== null && body.length > 0 && head.method !== "GET" && head.method !== "HEAD") init.body = body;
  return new Request("http://localhost" + head.path, init);
}

/**
 * Splits a Response into status, rendered headers and body. A body is streamed (chunked) when the
 * Response says so: a Transfer-Encoding header (Elysia generators and streams) or an event stream;
 * anything else is read whole and sent with Content-Length.
 */
export function toParts(res: Response, peek: Peek = noPeek): ResponseParts | Promise<ResponseParts> {
  const h: HeaderScan = { lines: "", declared: -1, streamed: false, close: false };
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

interface HeaderScan {
  lines: string;
  declared: number;
  streamed: boolean;
  close: boolean;
}

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
  this.lines += `${name}: ${value}\r\n`;
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
