// Built-in HTTP/1.1 load generator for `bench http` when wrk is not installed: raw TCP sockets
// (Bun.connect), each connection writes `depth` GET requests in one write and writes the next batch
// once all of their responses are in (wrk's pipelining does the same). Responses are framed by
// Content-Length only: the contenders answer a small JSON body, never chunked.
//
// Run as a child so it can be pinned to its own CPU and report its own CPU time:
//   bun bench/http/loadgen.ts '{"host":"127.0.0.1","port":8080,"path":"/health","connections":64,"depth":1,"durationS":5}'
// prints one JSON line (LoadResult).

import { percentileSorted } from "../../src/loadtest/stats.ts";

export interface LoadConfig {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly connections: number;
  readonly depth: number;
  readonly durationS: number;
}

export interface LoadResult {
  /** Responses completed within the measured window. */
  readonly requests: number;
  readonly non2xx: number;
  /** Connect failures, unexpected closes and unparseable responses. */
  readonly errors: number;
  readonly elapsedS: number;
  readonly rps: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  /** The generator's own CPU seconds over the window: near elapsedS means it was the bottleneck. */
  readonly cpuS: number;
}

const CRLF2 = Buffer.from("\r\n\r\n");
const CL_TITLE = Buffer.from("\r\nContent-Length:");
const CL_LOWER = Buffer.from("\r\ncontent-length:");
/** After the window ends, in-flight responses get this long before sockets are closed. */
const DRAIN_MS = 200;

interface Conn {
  sock: import("bun").Socket<Conn> | null;
  pending: number;
  batchStart: number;
  left: Buffer | null;
  bodyLeft: number;
  inBody: boolean;
  status2xx: boolean;
  unsent: Uint8Array | null;
}

class Latencies {
  private buf = new Float64Array(1 << 16);
  length = 0;
  push(v: number): void {
    if (this.length === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = v;
  }
  sorted(): Float64Array {
    return this.buf.slice(0, this.length).sort();
  }
}

/** Content-Length value of the head in buf[start, end), or -1 when absent or unreadable. */
function contentLength(buf: Buffer, start: number, end: number): number {
  let i = buf.indexOf(CL_TITLE, start);
  if (i < 0 || i > end) i = buf.indexOf(CL_LOWER, start);
  if (i < 0 || i > end) {
    // Rare spellings (CONTENT-LENGTH): slow path, still correct.
    const m = /\r\ncontent-length:[ \t]*(\d+)/i.exec(buf.toString("latin1", start, end + 2));
    return m ? Number(m[1]) : -1;
  }
  let p = i + CL_TITLE.length;
  while (buf[p] === 32 || buf[p] === 9) p++;
  let n = 0;
  let digits = 0;
  for (let c = buf[p]!; c >= 48 && c <= 57; c = buf[++p]!) {
    n = n * 10 + (c - 48);
    digits++;
  }
  return digits > 0 ? n : -1;
}

export function runLoad(cfg: LoadConfig): Promise<LoadResult> {
  return new LoadGenerator(cfg).run();
}

class LoadGenerator {
  private readonly batch: Buffer;
  private readonly lat = new Latencies();
  private readonly conns: Conn[] = [];
  private measuring = false;
  private requests = 0;
  private non2xx = 0;
  private errors = 0;

  constructor(private readonly cfg: LoadConfig) {
    const request = Buffer.from(`GET ${cfg.path} HTTP/1.1\r\nHost: ${cfg.host}:${cfg.port}\r\n\r\n`);
    this.batch = Buffer.concat(Array.from({ length: cfg.depth }, () => request));
  }

  async run(): Promise<LoadResult> {
    // Connect first, then start the clock, as wrk does: connection setup is not request latency.
    await Promise.all(Array.from({ length: this.cfg.connections }, () => this.open()));
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    this.measuring = true;
    for (const c of this.conns) if (c.sock) this.send(c);
    await Bun.sleep(this.cfg.durationS * 1000);
    this.measuring = false;
    const elapsedS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const drainUntil = performance.now() + DRAIN_MS;
    while (this.conns.some((c) => c.pending > 0) && performance.now() < drainUntil) await Bun.sleep(5);
    for (const c of this.conns) c.sock?.end();
    const sorted = this.lat.sorted();
    return {
      requests: this.requests, non2xx: this.non2xx, errors: this.errors, elapsedS, rps: this.requests / elapsedS,
      p50Ms: percentileSorted(sorted, 50), p99Ms: percentileSorted(sorted, 99), cpuS: (cpu.user + cpu.system) / 1e6,
    };
  }

  private send(c: Conn): void {
    c.pending = this.cfg.depth;
    c.batchStart = performance.now();
    const n = c.sock!.write(this.batch);
    c.unsent = n < this.batch.length ? this.batch.subarray(Math.max(0, n)) : null;
  }

  private complete(c: Conn, now: number): void {
    if (this.measuring) {
      this.requests++;
      this.lat.push(now - c.batchStart);
      if (!c.status2xx) this.non2xx++;
    }
    if (--c.pending === 0 && this.measuring) this.send(c);
  }

  /** Frames responses by Content-Length; a response may straddle any number of reads. */
  private onData(c: Conn, chunk: Buffer): void {
    const now = performance.now();
    const buf = c.left ? Buffer.concat([c.left, chunk]) : chunk;
    c.left = null;
    let pos = 0;
    while (pos < buf.length || (c.inBody && c.bodyLeft === 0)) {
      if (c.inBody) {
        const take = Math.min(c.bodyLeft, buf.length - pos);
        c.bodyLeft -= take;
        pos += take;
        if (c.bodyLeft > 0) break;
        c.inBody = false;
        this.complete(c, now);
        continue;
      }
      const end = buf.indexOf(CRLF2, pos);
      if (end < 0) {
        c.left = buf.subarray(pos);
        break;
      }
      const len = contentLength(buf, pos, end);
      if (len < 0) {
        this.errors++;
        c.sock?.end();
        return;
      }
      c.status2xx = buf[pos + 9] === 50; // "HTTP/1.1 2xx": byte 9 is the status's first digit
      c.inBody = true;
      c.bodyLeft = len;
      pos = end + 4;
    }
  }

  private async open(): Promise<Conn | null> {
    const c: Conn = { sock: null, pending: 0, batchStart: 0, left: null, bodyLeft: 0, inBody: false, status2xx: true, unsent: null };
    try {
      c.sock = await Bun.connect<Conn>({
        hostname: this.cfg.host,
        port: this.cfg.port,
        data: c,
        socket: {
          data: (s, chunk) => this.onData(s.data, chunk),
          drain: (s) => {
            const u = s.data.unsent;
            if (!u) return;
            const n = s.write(u);
            s.data.unsent = n < u.length ? u.subarray(Math.max(0, n)) : null;
          },
          close: (s) => this.onClose(s.data),
          error: () => {},
        },
      });
      this.conns.push(c);
      return c;
    } catch {
      this.errors++;
      return null;
    }
  }

  private onClose(c: Conn): void {
    if (this.measuring) {
      this.errors++;
      // Servers may close a keep-alive connection (request limits); keep the load level.
      void this.open().then((fresh) => {
        if (this.measuring && fresh) this.send(fresh);
      });
    }
    c.pending = 0;
    c.sock = null;
  }
}

if (import.meta.main) {
  const cfg = JSON.parse(process.argv[2] ?? "{}") as LoadConfig;
  const result = await runLoad(cfg);
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(0);
}
