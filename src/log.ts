// Logging: one line per event, never a synchronous write per line on the hot path. Lines go to
// stderr through an asynchronous destination (pino's SonicBoom): while one write is in flight the
// next lines queue behind it, so under load many lines leave in one write. JSON lines by default
// (pino: {"level","time","msg",...fields}), or a readable `time LEVEL msg key=value` line for a
// terminal. close() waits until everything queued is written (shutdown calls it before exit).
import { writeSync } from "node:fs";
import pino from "pino";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "json" | "text";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
/** Longest wait for queued lines at close (a stuck stderr must not hold the exit forever). */
const LOG_CLOSE_TIMEOUT_MS = 2_000;

export interface Logger {
  level: LogLevel;
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
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
  let closing: Promise<void> | undefined;
  // After close (the process is exiting) a late line is written at once rather than lost.
  const out = write ?? ((line: string) => (closing ? writeSync(2, line + "\n") : dest!.write(line + "\n")));
  const json =
    format === "json"
      ? pino(
          { level: "debug", base: undefined, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
          write ? { write: (s: string) => write(s.endsWith("\n") ? s.slice(0, -1) : s) } : dest!,
        )
      : undefined;
  const logger: Logger = {
    level,
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    close: () => (closing ??= dest ? drain(dest) : Promise.resolve()),
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
