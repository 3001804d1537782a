// A raw TCP HTTP/1.1 client for tests: send exact bytes (malformed, pipelined, trickled), read
// responses one by one, observe closes, and stop reading to play a slow client. node:net is used
// because its pause() stops reading from the kernel, which is what backpressure tests need.
import { type Socket, connect } from "node:net";

export interface RawResponse {
  status: number;
  /** Header names lowercased; repeated names joined with ", ". */
  headers: Record<string, string>;
  /** Header lines as received, for order and duplicate checks. */
  rawHead: string;
  body: Uint8Array;
  text: string;
  /** Parsed JSON body, or undefined if it is not JSON. */
  json: unknown;
}

const decoder = new TextDecoder();

export class RawClient {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  private waiter: (() => void) | null = null;
  /** Total bytes received on this connection. */
  received = 0;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.received += d.length;
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.notify();
    });
    this.closed = new Promise((resolve) => {
      socket.on("close", () => {
        this.ended = true;
        this.notify();
        resolve();
      });
    });
    socket.on("error", () => {});
  }

  static connect(port: number, host = "127.0.0.1"): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host }, () => resolve(new RawClient(s)));
      s.once("error", reject);
    });
  }

  send(data: string | Uint8Array): void {
    this.socket.write(data);
  }

  /** Sends `data` in pieces of `size` bytes with `delayMs` between them. */
  async trickle(data: string | Uint8Array, size: number, delayMs: number): Promise<void> {
    const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : data;
    for (let i = 0; i < bytes.length; i += size) {
      if (this.ended) return;
      this.socket.write(bytes.subarray(i, i + size));
      await Bun.sleep(delayMs);
    }
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Reads the next response. `head: true` for responses to HEAD (no body whatever the headers say). */
  async readResponse(opts: { head?: boolean; timeoutMs?: number } = {}): Promise<RawResponse> {
    const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
    for (;;) {
      const parsed = parseResponse(this.buf, opts.head ?? false, this.ended);
      if (parsed !== null) {
        this.buf = this.buf.subarray(parsed.consumed);
        return parsed.response;
      }
      if (this.ended) throw new Error(`connection closed before a full response (${this.buf.length} bytes buffered: ${JSON.stringify(this.buf.toString("latin1").slice(0, 200))})`);
      await this.wait(deadline);
    }
  }

  /** Every byte until the server closes the connection. */
  async readToEnd(timeoutMs = 10_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) await this.wait(deadline);
    const all = this.buf;
    this.buf = Buffer.alloc(0);
    return all;
  }

  /** Resolves true if the server closed within `timeoutMs`. */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    const timer = Bun.sleep(timeoutMs).then(() => false);
    return Promise.race([this.closed.then(() => true), timer]);
  }

  get isClosed(): boolean {
    return this.ended;
  }

  /** Bytes received and not yet consumed by readResponse. */
  get buffered(): number {
    return this.buf.length;
  }

  close(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private notify(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  private wait(deadline: number): Promise<void> {
    const left = deadline - Date.now();
    if (left <= 0) return Promise.reject(new Error(`timed out waiting for data (${this.buf.length} bytes buffered)`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`timed out waiting for data (${this.buf.length} bytes buffered)`));
      }, left);
      this.waiter = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** Parses one response from `buf`; null when incomplete. `ended`: the peer closed (ends close-delimited bodies). */
function parseResponse(buf: Buffer, isHead: boolean, ended: boolean): { response: RawResponse; consumed: number } | null {
  const headEnd = buf.indexOf("\r\n\r\n");
  if (headEnd < 0) return null;
  const rawHead = buf.subarray(0, headEnd).toString("latin1");
  const [statusLine, ...lines] = rawHead.split("\r\n");
  const status = Number(statusLine!.split(" ")[1]);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  let pos = headEnd + 4;
  let body: Uint8Array;
  if (isHead || status === 204 || status === 304 || (status >= 100 && status < 200)) {
    body = new Uint8Array(0);
  } else if (headers["transfer-encoding"]?.toLowerCase() === "chunked") {
    const pieces: Buffer[] = [];
    for (;;) {
      const lineEnd = buf.indexOf("\r\n", pos);
      if (lineEnd < 0) return null;
      const size = parseInt(buf.subarray(pos, lineEnd).toString("latin1"), 16);
      if (buf.length < lineEnd + 2 + size + 2) return null;
      if (size === 0) {
        const end = buf.indexOf("\r\n\r\n", lineEnd);
        if (end < 0) return null;
        pos = end + 4;
        break;
      }
      pieces.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
      pos = lineEnd + 2 + size + 2;
    }
    body = Buffer.concat(pieces);
  } else if (headers["content-length"] !== undefined) {
    const n = Number(headers["content-length"]);
    if (buf.length < pos + n) return null;
    body = buf.subarray(pos, pos + n);
    pos += n;
  } else {
    if (!ended) return null;
    body = buf.subarray(pos);
    pos = buf.length;
  }
  const text = decoder.decode(body);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { response: { status, headers, rawHead, body: new Uint8Array(body), text, json }, consumed: pos };
}
