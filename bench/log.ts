// CPU per access-log line: the shipped logger (src/log.ts: a fixed-shape formatter, batches, Bun's
// FileSink) against pino's general path into its asynchronous SonicBoom destination (the usual pino
// setup, which the logger used before). Both write JSON lines to a file; CPU is this process's
// user+system time, so work on other threads (SonicBoom's writes) counts. Rounds alternate.
//   bun bench/log.ts [--lines 200000] [--rounds 3]   (the logger's lines go to stderr: redirect it)
import { mkdtempSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import pino from "pino";
import { createLogger, type AccessEntry } from "../src/log.ts";

const { values } = parseArgs({ options: { lines: { type: "string", default: "200000" }, rounds: { type: "string", default: "3" } } });
const LINES = Number(values.lines);
const ROUNDS = Number(values.rounds);
const dir = mkdtempSync(join(tmpdir(), "warren-logbench-"));

const entry = (i: number): AccessEntry => ({ method: "GET", path: "/health", status: 200, ms: i & 3, remote: "127.0.0.1", requestId: `req-${i}` });

async function measure(write: (i: number) => void, close: () => Promise<void>): Promise<number> {
  Bun.gc(true);
  const c0 = process.cpuUsage();
  for (let i = 0; i < LINES; i++) {
    write(i);
    // Let the event loop run as a server's would between requests.
    if (i % 500 === 0) await new Promise((r) => setImmediate(r));
  }
  await close();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / LINES;
}

function shipped(): Promise<number> {
  const log = createLogger("info", undefined, "json");
  return measure((i) => log.access(entry(i)), () => log.close());
}

function pinoSonic(): Promise<number> {
  const dest = pino.destination({ dest: openSync(join(dir, "pino.log"), "w"), sync: false });
  const log = pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } }, dest);
  return measure(
    (i) => {
      const e = entry(i);
      log.info({ method: e.method, path: e.path, status: e.status, ms: e.ms, remote: e.remote, request_id: e.requestId }, `${e.method} ${e.path} ${e.status}`);
    },
    () =>
      new Promise<void>((resolve) => {
        dest.once("close", () => resolve());
        dest.end();
      }),
  );
}

const rows: Record<string, number[]> = { "warren logger (FileSink)": [], "pino + SonicBoom (async)": [] };
for (let r = 0; r < ROUNDS; r++) {
  rows["warren logger (FileSink)"]!.push(await shipped());
  rows["pino + SonicBoom (async)"]!.push(await pinoSonic());
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = median(rows["pino + SonicBoom (async)"]!);
console.log(`${LINES} JSON access lines per run, ${ROUNDS} alternated rounds; CPU us per line, median [range]`);
for (const [name, xs] of Object.entries(rows)) {
  const m = median(xs);
  const ratio = m === base ? "(baseline)" : `${(base / m).toFixed(2)}x less CPU than the baseline`;
  console.log(`${name.padEnd(28)} ${m.toFixed(2)} [${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)}]  ${ratio}`);
}
