// Logging: one line per event, never a write per line on the hot path. Lines are queued and go to
// stderr in batches (access lines once 32 KB are queued or every 100 ms, other lines at once) through
// Bun's FileSink: a write to a pipe that is full waits on the event loop instead of blocking it, a
// file is written in place. JSON lines by default (pino's shape: {"level","time",...fields,"msg"}),
// or a readable `time LEVEL msg key=value` line for a terminal. close() waits until everything
// queued is written (shutdown calls it before exit).
//
// Access lines have a fixed shape and their own small formatter: pino's general path and its
// SonicBoom destination cost several times more CPU per line (bench/log.ts measures both).
import pino from "pino";
import { LineByLine, Lines, StderrSink } from "./log-lines.ts";

type LogLevel = "debug" | "info" | "warn" | "error";
type LogFormat = "json" | "text";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

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
   * others, up to LOG_FLUSH_INTERVAL_MS (log-lines.ts) later. Every other line is handed to the destination at once.
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
const ascii = (s: string): Uint8Array => encoder.encode(s);

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
