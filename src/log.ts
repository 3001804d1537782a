// Logging: one line per event, never a write per line on the hot path. Lines are queued and go to
// stderr in batches (access lines once 32 KB are queued or every 100 ms, other lines at once) through
// Bun's FileSink: a write to a pipe that is full waits on the event loop instead of blocking it, a
// file is written in place. JSON lines by default (pino's shape: {"level","time",...fields,"msg"}),
// or a readable `time LEVEL msg key=value` line for a terminal. close() waits until everything
// queued is written (shutdown calls it before exit).
//
// Access lines have a fixed shape and their own small formatter: pino's general path and its
// SonicBoom destination cost several times more CPU per line (bench/log.ts measures both).
import { writeSync } from "node:fs";
import pino from "pino";

type LogLevel = "debug" | "info" | "warn" | "error";
type LogFormat = "json" | "text";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
/** Longest wait for queued lines at close (a stuck stderr must not hold the exit forever). */
const LOG_CLOSE_TIMEOUT_MS = 2_000;
/** Access lines are handed to the destination once this many bytes are queued... */
const LOG_BATCH_BYTES = 32 * 1024;
/** ...or after this long: how late a line may appear on a quiet server. */
const LOG_FLUSH_INTERVAL_MS = 100;

/** One answered (or dropped: status 0) request. */
export interface AccessEntry {
  method: string;
  /** The request-target as sent (may hold any printable byte: escaped in both formats). */
  path: string;
  status: number;
  ms: number;
  /** When the request ended (epoch ms), the line's time; the clock now when absent. */
  atMs?: number;
  promptTokens?: number;
  tokens?: number;
  remote?: string;
  requestId?: string;
}

export interface Logger {
  level: LogLevel;
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /**
   * The access log's line (info level, message "METHOD path status"): queued and written with
   * others, up to LOG_FLUSH_INTERVAL_MS later. Every other line is handed to the destination at once.
   */
  access(entry: AccessEntry): void;
  /** Resolves once every line logged so far is written. */
  close(): Promise<void>;
}

/** "auto": text on a terminal, JSON lines otherwise (files, pipes, log collectors). */
export function resolveFormat(format: LogFormat | "auto", isTty: boolean = process.stderr.isTTY === true): LogFormat {
  return format === "auto" ? (isTty ? "text" : "json") : format;
}

/**
 * `write` replaces the destination with a synchronous function (tests, and one-off messages before
 * the server runs); without it lines go to stderr through a FileSink.
 */
export function createLogger(level: LogLevel, write?: (line: string) => void, format: LogFormat = "text"): Logger {
  const lines = new Lines(write ? new LineByLine(write) : new StderrSink(Bun.stderr.writer()));
  const out = (line: string): void => {
    lines.text(line);
    lines.end(false);
  };
  const json =
    format === "json"
      ? pino(
          { level: "debug", base: undefined, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
          { write: (s: string) => out(s.endsWith("\n") ? s.slice(0, -1) : s) },
        )
      : undefined;
  const accessFormat = new AccessFormat(format);
  const logger: Logger = {
    level,
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    access: (e) => {
      if (ORDER.info < ORDER[logger.level]) return;
      accessFormat.line(e, lines);
      lines.end(true);
    },
    close: () => lines.close(),
  };
  function emit(lvl: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    if (ORDER[lvl] < ORDER[logger.level]) return;
    if (json) return json[lvl](fields ?? {}, msg);
    let line = `${new Date().toISOString()} ${lvl.toUpperCase().padEnd(5)} ${msg}`;
    if (fields) for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${formatValue(v)}`;
    out(line);
  }
  return logger;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ascii = (s: string): Uint8Array => encoder.encode(s);
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
class Lines {
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
class LineByLine implements LineDestination {
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
class StderrSink implements LineDestination {
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

/** A line's start up to and with its time (epoch ms as ISO 8601), rebuilt only when the millisecond changes (many lines share one). */
class IsoClock {
  private ms = -1;
  private bytes: Uint8Array = new Uint8Array(0);
  constructor(private readonly before: string) {}
  iso(ms: number): Uint8Array {
    if (ms !== this.ms) {
      this.ms = ms;
      this.bytes = ascii(this.before + new Date(ms).toISOString());
    }
    return this.bytes;
  }
}

/**
 * Access lines from pieces kept between lines, as bytes: most requests repeat a method, path and
 * status seen just before, and come from the same peer (a proxy above all), so those pieces are
 * escaped and encoded once, and a line is a handful of copies around its time, duration and id.
 * Its JSON line is the one pino would write for info(fields, "METHOD path status"); its text line
 * is the readable format's. Building each line as a string cost several times as much.
 */
class AccessFormat {
  private readonly json: boolean;
  private readonly clock: IsoClock;
  // Direct-mapped by (method, path, status): the piece from the time to the duration, and the message.
  private readonly keys: ({ method: string; path: string; status: number } | undefined)[] = new Array(SLOTS).fill(undefined);
  private readonly heads: Uint8Array[] = new Array<Uint8Array>(SLOTS).fill(ascii(""));
  private readonly tails: Uint8Array[] = new Array<Uint8Array>(SLOTS).fill(ascii(""));
  private remote: string | undefined;
  private remotePiece = ascii("");
  private readonly promptKey: Uint8Array;
  private readonly tokensKey: Uint8Array;
  private readonly idKey: Uint8Array;

  constructor(format: LogFormat) {
    this.json = format === "json";
    this.clock = new IsoClock(this.json ? '{"level":"info","time":"' : "");
    this.promptKey = ascii(this.json ? ',"prompt_tokens":' : " prompt_tokens=");
    this.tokensKey = ascii(this.json ? ',"tokens":' : " tokens=");
    this.idKey = ascii(this.json ? ',"request_id":' : " request_id=");
  }

  line(e: AccessEntry, out: Lines): void {
    const slot = (e.path.length * 31 + e.method.length * 7 + e.status) & (SLOTS - 1);
    const key = this.keys[slot];
    if (key === undefined || key.status !== e.status || key.path !== e.path || key.method !== e.method) this.fill(slot, e);
    out.bytes(this.clock.iso(e.atMs ?? Date.now()));
    out.bytes(this.heads[slot]!);
    if (this.json || Number.isInteger(e.ms)) out.number(e.ms);
    else out.ascii(formatValue(e.ms));
    if (e.promptTokens !== undefined) {
      out.bytes(this.promptKey);
      out.number(e.promptTokens);
    }
    if (e.tokens !== undefined) {
      out.bytes(this.tokensKey);
      out.number(e.tokens);
    }
    if (e.remote !== undefined) {
      if (e.remote !== this.remote) {
        this.remote = e.remote;
        this.remotePiece = encoder.encode(this.json ? `,"remote":${jsonString(e.remote)}` : ` remote=${formatValue(e.remote)}`);
      }
      out.bytes(this.remotePiece);
    }
    const id = e.requestId;
    if (id !== undefined) {
      out.bytes(this.idKey);
      // Ids are nearly always a plain token (ours are hex): copied as they are.
      if (plain(id)) {
        if (this.json) out.quoted(id);
        else out.ascii(id);
      } else out.text(this.json ? jsonString(id) : formatValue(id));
    }
    out.bytes(this.tails[slot]!);
  }

  private fill(slot: number, e: AccessEntry): void {
    this.keys[slot] = { method: e.method, path: e.path, status: e.status };
    if (this.json) {
      const method = jsonString(e.method), path = jsonString(e.path);
      this.heads[slot] = encoder.encode(`","method":${method},"path":${path},"status":${e.status},"ms":`);
      // The message is "METHOD path status": quoted pieces joined without their own quotes.
      this.tails[slot] = encoder.encode(`,"msg":${method.slice(0, -1)} ${path.slice(1, -1)} ${e.status}"}`);
    } else {
      this.heads[slot] = encoder.encode(` INFO  ${e.method} ${formatPath(e.path)} ${e.status} ms=`);
      this.tails[slot] = ascii("");
    }
  }
}

const SLOTS = 16;

/** Printable ASCII other than space, quote, backslash and "=": needs no escaping in either format. */
function plain(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x22 || c === 0x5c || c === 0x3d || c > 0x7e) return false;
  }
  return true;
}

/**
 * `s` as a JSON string. Access fields are nearly always printable ASCII without quotes or
 * backslashes, which need no escaping: a scan is several times cheaper than JSON.stringify.
 */
function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return JSON.stringify(s);
  }
  return `"${s}"`;
}

/** A target with spaces, quotes or control bytes would break the line apart: quote it then. */
function formatPath(path: string): string {
  return /[\s"\x00-\x1f\x7f]/.test(path) ? JSON.stringify(path) : path;
}

function formatValue(v: unknown): string {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(2);
  const s = String(v);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Whitespace, quote or "=" would break the key=value reading: quoted then.
    if (c <= 0x20 || c === 0x22 || c === 0x3d || c === 0xa0 || c > 0xff) return /[\s"=]/.test(s) ? JSON.stringify(s) : s;
  }
  return s;
}
