// Where log lines are written: one reused byte buffer (a line is copied in from pieces and never
// exists as a string), handed to stderr in batches through Bun's FileSink, or line by line to a
// function (tests). log.ts formats the lines.
import { writeSync } from "node:fs";

/** Longest wait for queued lines at close (a stuck stderr must not hold the exit forever). */
const LOG_CLOSE_TIMEOUT_MS = 2_000;
/** Access lines are handed to the destination once this many bytes are queued... */
const LOG_BATCH_BYTES = 32 * 1024;
/** ...or after this long: how late a line may appear on a quiet server. */
const LOG_FLUSH_INTERVAL_MS = 100;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Bytes a line buffer starts with (and goes back to after holding a longer run of lines). */
const LINE_BUFFER_BYTES = 64 * 1024;

/** Where lines go. `write` gets whole lines and must copy what it keeps: the buffer is reused. */
interface LineDestination {
  /** Whether lines may wait and go together (otherwise each goes as it ends). */
  readonly batched: boolean;
  write(lines: Uint8Array): void;
  /** Resolves once everything written so far is out (or given up on). */
  close(): Promise<void>;
}

/**
 * Lines written straight into one byte buffer: an access line is copied together from pieces kept
 * as bytes and never exists as a string, so it costs neither a string's allocation nor its encoding.
 */
export class Lines {
  buf = new Uint8Array(LINE_BUFFER_BYTES);
  len = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closing: Promise<void> | undefined;
  constructor(private readonly dest: LineDestination) {}

  /** Room for `n` more bytes (the buffer grows for a long line, and shrinks once it is written). */
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    grown.set(this.buf.subarray(0, this.len));
    this.buf = grown;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /** A string known to hold only ASCII. */
  ascii(s: string): void {
    this.room(s.length);
    const buf = this.buf;
    let at = this.len;
    for (let i = 0; i < s.length; i++) buf[at++] = s.charCodeAt(i);
    this.len = at;
  }

  /** A string known to hold only ASCII, in double quotes. */
  quoted(s: string): void {
    this.room(s.length + 2);
    this.buf[this.len++] = 0x22;
    this.ascii(s);
    this.buf[this.len++] = 0x22;
  }

  /** Any string, as UTF-8. */
  text(s: string): void {
    this.room(s.length * 3);
    this.len += encoder.encodeInto(s, this.buf.subarray(this.len)).written;
  }

  /** A number as JSON writes it (integers up to 2^32 without a string in between). */
  number(n: number): void {
    if (!(n >= 0 && n <= 0xffffffff && Number.isInteger(n))) return this.ascii(String(n));
    let digits = 1;
    for (let m = n; m >= 10; m = Math.floor(m / 10)) digits++;
    this.room(digits);
    const buf = this.buf;
    let at = this.len + digits;
    this.len = at;
    do {
      buf[--at] = 0x30 + (n % 10);
      n = Math.floor(n / 10);
    } while (n > 0);
  }

  /**
   * Ends the line; `later`: it may wait (up to LOG_FLUSH_INTERVAL_MS, or until LOG_BATCH_BYTES
   * bytes are queued) to go with others. A line that may not wait takes those before it along.
   */
  end(later: boolean): void {
    this.room(1);
    this.buf[this.len++] = 0x0a;
    if (this.closing && this.dest.batched) {
      // After close (the process is exiting) a late line is written at once rather than lost.
      writeLate(this.buf.subarray(0, this.len));
      this.len = 0;
    } else if (!later || !this.dest.batched || this.len >= LOG_BATCH_BYTES) this.flush();
    else if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), LOG_FLUSH_INTERVAL_MS);
      this.timer.unref?.();
    }
  }

  private flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.len === 0) return;
    const lines = this.buf.subarray(0, this.len);
    // Emptied first: a destination that throws must not get the same lines again with the next.
    this.len = 0;
    if (this.buf.length > LINE_BUFFER_BYTES) this.buf = new Uint8Array(LINE_BUFFER_BYTES);
    this.dest.write(lines);
  }

  close(): Promise<void> {
    if (this.closing === undefined) {
      this.flush();
      this.closing = this.dest.close();
    }
    return this.closing;
  }
}

/** A line after close, written at once; a stderr that is gone (EPIPE) drops it. */
function writeLate(bytes: Uint8Array): void {
  try {
    writeSync(2, bytes);
  } catch {
    // Nothing to tell it to.
  }
}

/** The synchronous function given to createLogger: each line as a string, as it ends. */
export class LineByLine implements LineDestination {
  readonly batched = false;
  constructor(private readonly fn: (line: string) => void) {}
  write(lines: Uint8Array): void {
    this.fn(decoder.decode(lines.subarray(0, lines.length - 1)));
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

interface Sink {
  write(chunk: Uint8Array): unknown;
  flush(): number | Promise<number>;
}

/** Bun's FileSink on stderr (it copies what it is given, or writes it before returning). */
export class StderrSink implements LineDestination {
  readonly batched = true;
  private broken = false;
  constructor(readonly sink: Sink) {}

  /**
   * Hands the lines to the sink. A stderr whose reader has gone (EPIPE) must not take the server
   * down: from the first failure on, lines are dropped.
   */
  write(lines: Uint8Array): void {
    if (this.broken) return;
    try {
      const wrote = this.sink.write(lines);
      if (wrote instanceof Promise) wrote.catch(() => this.fail());
      const done = this.sink.flush();
      if (done instanceof Promise) done.catch(() => this.fail());
    } catch {
      this.fail();
    }
  }

  private fail(): void {
    this.broken = true;
  }

  /** Everything handed over is written (or LOG_CLOSE_TIMEOUT_MS passes: a stuck stderr must not hold the exit). */
  async close(): Promise<void> {
    if (this.broken) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, LOG_CLOSE_TIMEOUT_MS)));
    let done: number | Promise<number> = 0;
    try {
      done = this.sink.flush();
    } catch {
      this.fail();
    }
    await Promise.race([Promise.resolve(done).then(() => undefined, () => undefined), timeout]);
    clearTimeout(timer);
  }
}
