// Logging: one line per event, never a write per line on the hot path. Access lines are queued and
// go to stderr in batches (once 4 KB are queued or every 100 ms), other lines at once, through an
// asynchronous destination (pino's SonicBoom). JSON lines by default (pino: {"level","time","msg",
// ...fields}), or a readable `time LEVEL msg key=value` line for a terminal. close() waits until
// everything queued is written (shutdown calls it before exit).
import { writeSync } from "node:fs";
import pino from "pino";

type LogLevel = "debug" | "info" | "warn" | "error";
type LogFormat = "json" | "text";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
/** Longest wait for queued lines at close (a stuck stderr must not hold the exit forever). */
const LOG_CLOSE_TIMEOUT_MS = 2_000;
/**
 * Access lines are handed to the destination once this many characters are queued, or every
 * LOG_FLUSH_INTERVAL_MS. SonicBoom measures every string it is given (Buffer.byteLength, slow under
 * Bun): a JSON access line cost ~5 us handed over alone and ~2.4 us batched, in a loop of 200,000.
 */
const LOG_BATCH_CHARS = 4096;
/** How late a line may appear on a quiet server. */
const LOG_FLUSH_INTERVAL_MS = 100;

export interface Logger {
  level: LogLevel;
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /**
   * An info line on the hot path (the access log): queued and written with others, up to
   * LOG_FLUSH_INTERVAL_MS later. Every other line is handed to the destination at once.
   */
  access(msg: string, fields?: Record<string, unknown>): void;
  /** Resolves once every line logged so far is written. */
  close(): Promise<void>;
}

/** "auto": text on a terminal, JSON lines otherwise (files, pipes, log collectors). */
export function resolveFormat(format: LogFormat | "auto", isTty: boolean = process.stderr.isTTY === true): LogFormat {
  return format === "auto" ? (isTty ? "text" : "json") : format;
}

/**
 * `write` replaces the destination with a synchronous function (tests, and one-off messages before
 * the server runs); without it lines go to stderr asynchronously.
 */
export function createLogger(level: LogLevel, write?: (line: string) => void, format: LogFormat = "text"): Logger {
  const dest = write ? undefined : pino.destination({ dest: 2, sync: false });
  const batch = dest ? new Batch(dest) : undefined;
  let closing: Promise<void> | undefined;
  // After close (the process is exiting) a late line is written at once rather than lost.
  let batched = false;
  const out = write ?? ((line: string) => (closing ? writeSync(2, line + "\n") : batch!.write(line + "\n", batched)));
  const json =
    format === "json"
      ? pino(
          { level: "debug", base: undefined, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
          write ? { write: (s: string) => write(s.endsWith("\n") ? s.slice(0, -1) : s) } : { write: (s: string) => batch!.write(s, batched) },
        )
      : undefined;
  const logger: Logger = {
    level,
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    access: (m, f) => {
      batched = true;
      emit("info", m, f);
      batched = false;
    },
    close: () => (closing ??= dest ? (batch!.flush(), drain(dest)) : Promise.resolve()),
  };
  function emit(lvl: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    if (ORDER[lvl] < ORDER[logger.level]) return;
    if (json && !closing) {
      json[lvl](fields ?? {}, msg);
      return;
    }
    if (json) return out(JSON.stringify({ level: lvl, time: new Date().toISOString(), ...fields, msg }));
    let line = `${new Date().toISOString()} ${lvl.toUpperCase().padEnd(5)} ${msg}`;
    if (fields) for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${formatValue(v)}`;
    out(line);
  }
  return logger;
}

/** Lines queued in memory and handed to the destination together (see LOG_BATCH_CHARS). */
class Batch {
  private parts: string[] = [];
  private chars = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  constructor(private readonly dest: { write(s: string): unknown }) {}

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

  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.parts.length === 0) return;
    const text = this.parts.length === 1 ? this.parts[0]! : this.parts.join("");
    this.parts = [];
    this.chars = 0;
    this.dest.write(text);
  }
}

/**
 * Ends the destination: what is queued is written (after the write in flight, in order), then
 * "close". SonicBoom's flush(cb) cannot be used for this: without a minimum length it calls back
 * at once, before the write in flight is done. fd 2 itself stays open.
 */
function drain(dest: ReturnType<typeof pino.destination>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, LOG_CLOSE_TIMEOUT_MS);
    dest.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
    dest.end();
  });
}

function formatValue(v: unknown): string {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(2);
  const s = String(v);
  return /[\s"=]/.test(s) ? JSON.stringify(s) : s;
}
