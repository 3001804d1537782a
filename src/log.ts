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
/** Access lines are handed to the destination once this many characters are queued... */
const LOG_BATCH_CHARS = 32 * 1024;
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
  const sink = write ? undefined : Bun.stderr.writer();
  const batch = sink ? new Batch(sink) : undefined;
  let closing: Promise<void> | undefined;
  // After close (the process is exiting) a late line is written at once rather than lost.
  const out = (line: string, later: boolean): void => {
    if (write) write(line);
    else if (closing) writeLate(line);
    else batch!.write(line + "\n", later);
  };
  const json =
    format === "json"
      ? pino(
          { level: "debug", base: undefined, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
          { write: (s: string) => out(s.endsWith("\n") ? s.slice(0, -1) : s, false) },
        )
      : undefined;
  const clock = new IsoClock();
  const accessFormat = new AccessFormat(format);
  const logger: Logger = {
    level,
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    access: (e) => {
      if (ORDER.info < ORDER[logger.level]) return;
      out(accessFormat.line(e, clock.iso(e.atMs ?? Date.now())), true);
    },
    close: () => (closing ??= batch ? drain(batch) : Promise.resolve()),
  };
  function emit(lvl: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    if (ORDER[lvl] < ORDER[logger.level]) return;
    if (json) return json[lvl](fields ?? {}, msg);
    let line = `${new Date().toISOString()} ${lvl.toUpperCase().padEnd(5)} ${msg}`;
    if (fields) for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${formatValue(v)}`;
    out(line, false);
  }
  return logger;
}

/** A line after close, written at once; a stderr that is gone (EPIPE) drops it. */
function writeLate(line: string): void {
  try {
    writeSync(2, line + "\n");
  } catch {
    // Nothing to tell it to.
  }
}

/** Epoch ms as ISO 8601, rebuilt only when the millisecond changes (many lines share one). */
class IsoClock {
  private ms = -1;
  private text = "";
  iso(ms: number): string {
    if (ms !== this.ms) {
      this.ms = ms;
      this.text = new Date(ms).toISOString();
    }
    return this.text;
  }
}

/**
 * Access lines from pieces kept between lines: most requests repeat a method, path and status seen
 * just before, and come from the same peer (a proxy above all), so those pieces are escaped and
 * joined once, and a line is a handful of cached strings around its time, duration and id. Its JSON
 * line is the one pino would write for info(fields, "METHOD path status"); its text line is the
 * readable format's. Building each line from scratch cost several times as much.
 */
class AccessFormat {
  private readonly json: boolean;
  // Direct-mapped by (method, path, status): the piece from the time to the duration, and the message.
  private readonly keys: ({ method: string; path: string; status: number } | undefined)[] = new Array(SLOTS).fill(undefined);
  private readonly heads: string[] = new Array<string>(SLOTS).fill("");
  private readonly tails: string[] = new Array<string>(SLOTS).fill("");
  private remote: string | undefined;
  private remotePiece = "";

  constructor(format: LogFormat) {
    this.json = format === "json";
  }

  line(e: AccessEntry, time: string): string {
    const slot = (e.path.length * 31 + e.method.length * 7 + e.status) & (SLOTS - 1);
    const key = this.keys[slot];
    if (key === undefined || key.status !== e.status || key.path !== e.path || key.method !== e.method) this.fill(slot, e);
    let line = (this.json ? '{"level":"info","time":"' : "") + time + this.heads[slot]! + (e.ms >= 0 && e.ms < SMALL.length && Number.isInteger(e.ms) ? SMALL[e.ms]! : this.json ? String(e.ms) : formatValue(e.ms));
    if (e.promptTokens !== undefined) line += (this.json ? ',"prompt_tokens":' : " prompt_tokens=") + e.promptTokens;
    if (e.tokens !== undefined) line += (this.json ? ',"tokens":' : " tokens=") + e.tokens;
    if (e.remote !== undefined) {
      if (e.remote !== this.remote) {
        this.remote = e.remote;
        this.remotePiece = this.json ? `,"remote":${jsonString(e.remote)}` : ` remote=${formatValue(e.remote)}`;
      }
      line += this.remotePiece;
    }
    if (e.requestId !== undefined) line += this.json ? ',"request_id":' + jsonString(e.requestId) : " request_id=" + formatValue(e.requestId);
    return line + this.tails[slot]!;
  }

  private fill(slot: number, e: AccessEntry): void {
    this.keys[slot] = { method: e.method, path: e.path, status: e.status };
    if (this.json) {
      const method = jsonString(e.method), path = jsonString(e.path);
      this.heads[slot] = `","method":${method},"path":${path},"status":${e.status},"ms":`;
      // The message is "METHOD path status": quoted pieces joined without their own quotes.
      this.tails[slot] = `,"msg":${method.slice(0, -1)} ${path.slice(1, -1)} ${e.status}"}`;
    } else {
      this.heads[slot] = ` INFO  ${e.method} ${formatPath(e.path)} ${e.status} ms=`;
      this.tails[slot] = "";
    }
  }
}

const SLOTS = 16;
/** Durations under a second, as text (most answers take a few ms). */
const SMALL = Array.from({ length: 1000 }, (_, n) => String(n));

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

interface Sink {
  write(s: string): unknown;
  flush(): number | Promise<number>;
}

/** Lines queued in memory and handed to the sink together (see LOG_BATCH_CHARS). */
class Batch {
  private parts: string[] = [];
  private chars = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private broken = false;
  constructor(readonly sink: Sink) {}

  /** `later`: may wait for more lines; otherwise it goes now, with whatever is queued before it. */
  write(s: string, later: boolean): void {
    this.parts.push(s);
    this.chars += s.length;
    if (!later || this.chars >= LOG_BATCH_CHARS) this.flush();
    else if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), LOG_FLUSH_INTERVAL_MS);
      this.timer.unref?.();
    }
  }

  /**
   * Hands what is queued to the sink; the promise (if any) settles once the sink has written it.
   * A stderr whose reader has gone (EPIPE) must not take the server down: from the first failure
   * on, lines are dropped.
   */
  flush(): number | Promise<number> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.broken) {
      this.parts = [];
      this.chars = 0;
      return 0;
    }
    try {
      if (this.parts.length > 0) {
        const wrote = this.sink.write(this.parts.length === 1 ? this.parts[0]! : this.parts.join(""));
        if (wrote instanceof Promise) wrote.catch(() => this.fail());
        this.parts = [];
        this.chars = 0;
      }
      const done = this.sink.flush();
      return done instanceof Promise ? done.catch(() => this.fail()) : done;
    } catch {
      return this.fail();
    }
  }

  private fail(): number {
    this.broken = true;
    this.parts = [];
    this.chars = 0;
    return 0;
  }
}

/** Everything queued is written (or LOG_CLOSE_TIMEOUT_MS passes: a stuck stderr must not hold the exit). */
async function drain(batch: Batch): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, LOG_CLOSE_TIMEOUT_MS)));
  await Promise.race([Promise.resolve(batch.flush()).then(() => undefined, () => undefined), timeout]);
  clearTimeout(timer);
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
