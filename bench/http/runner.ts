// Runs the contenders in alternation (A B C D, A B C D, ...) so slow drift of a shared, noisy
// machine spreads over all of them instead of favouring whichever ran first. Each contender-round
// gets a fresh server process: idle-connection memory, warm-up, keep-alive run, pipelined run.

import { join } from "node:path";
import type { ContenderId, RunningServer } from "./contenders.ts";
import { startServer } from "./contenders.ts";
import type { LoadConfig, LoadResult } from "./loadgen.ts";
import { LineReader, cpuSeconds, placed, rssBytes, stopChild } from "./proc.ts";
import { runWrk } from "./wrk.ts";

export type Mode = "plain" | "pipelined";

export interface HttpRunConfig {
  readonly contenders: readonly ContenderId[];
  readonly rounds: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly connections: number;
  readonly depth: number;
  readonly idleCount: number;
  /** Wait before each RSS reading of the idle measurement (see measureIdle). */
  readonly idleHoldMs: number;
  readonly loadgen: "wrk" | "builtin";
  readonly pin: boolean;
}

interface LoadSample {
  readonly round: number;
  readonly contender: ContenderId;
  readonly mode: Mode;
  readonly result: LoadResult;
  readonly serverCpuS: number;
  /** Requests served per second of server CPU (utime + stime): robust to a busy neighbour. */
  readonly rpsPerCpuS: number | null;
}

interface IdleSample {
  readonly round: number;
  readonly contender: ContenderId;
  readonly open: number;
  readonly stillOpen: number;
  readonly failed: number;
  readonly firstError: string | null;
  readonly rssBeforeBytes: number;
  readonly rssAfterBytes: number;
  readonly bytesPerConn: number | null;
}

export interface HttpRunResult {
  readonly load: LoadSample[];
  readonly idle: IdleSample[];
  readonly notes: string[];
}

const LOADGEN = join(import.meta.dir, "loadgen.ts");
const IDLE = join(import.meta.dir, "idle.ts");
/** Lets the server finish accepting and settle its allocations before RSS is read. */
const IDLE_SETTLE_MS = 500;
/** Room for the server's own files and the load connections beside the idle ones. */
const NOFILE_MARGIN = 1_024;

type Log = (line: string) => void;

export async function runHttpRounds(cfg: HttpRunConfig, log: Log): Promise<HttpRunResult> {
  const out: HttpRunResult = { load: [], idle: [], notes: [] };
  for (let round = 1; round <= cfg.rounds; round++) {
    for (const id of cfg.contenders) {
      let server: RunningServer;
      try {
        server = await startServer(id, { cpu: cfg.pin ? 0 : null, nofile: cfg.idleCount + NOFILE_MARGIN });
      } catch (e) {
        const note = `round ${round}: ${(e as Error).message}`;
        out.notes.push(note);
        log(note);
        continue;
      }
      try {
        await contenderRound(cfg, server, round, out, log);
      } catch (e) {
        const note = `round ${round}: ${id} failed: ${(e as Error).message}`;
        out.notes.push(note);
        log(note);
      } finally {
        await stopChild(server.proc);
      }
    }
  }
  return out;
}

async function contenderRound(cfg: HttpRunConfig, s: RunningServer, round: number, out: HttpRunResult, log: Log): Promise<void> {
  const base = { host: "127.0.0.1", port: s.port, path: "/health", connections: cfg.connections };
  // Idle memory first, on a fresh process: after a load run the heap holds garbage that a later GC
  // returns, which made the RSS difference negative in trials.
  if (cfg.idleCount > 0) {
    const idle = await measureIdle(cfg, s, round);
    out.idle.push(idle);
    log(`round ${round} ${s.id}: idle ${idle.open} conns, +${fmtKb(idle.rssAfterBytes - idle.rssBeforeBytes)} RSS` +
      ` (${idle.bytesPerConn === null ? "-" : Math.round(idle.bytesPerConn)} B/conn, ${idle.stillOpen} still open at the end)`);
    await Bun.sleep(IDLE_SETTLE_MS);
  }
  if (cfg.warmupS > 0) await generate(cfg, { ...base, depth: 1, durationS: cfg.warmupS });
  for (const mode of ["plain", "pipelined"] as const) {
    const cpu0 = cpuSeconds(s.pid);
    const result = await generate(cfg, { ...base, depth: mode === "plain" ? 1 : cfg.depth, durationS: cfg.durationS });
    const serverCpuS = cpuSeconds(s.pid) - cpu0;
    const rpsPerCpuS = serverCpuS > 0 ? result.requests / serverCpuS : null;
    out.load.push({ round, contender: s.id, mode, result, serverCpuS, rpsPerCpuS });
    log(`round ${round} ${s.id} ${mode}: ${Math.round(result.rps)} req/s, ${rpsPerCpuS === null ? "-" : Math.round(rpsPerCpuS)} req/CPU-s` +
      `${result.errors + result.non2xx > 0 ? `, ${result.errors} errors, ${result.non2xx} non-2xx` : ""}`);
  }
}

const fmtKb = (b: number) => `${Math.round(b / 1024)} KB`;

async function generate(cfg: HttpRunConfig, load: LoadConfig): Promise<LoadResult> {
  const cpu = cfg.pin ? 1 : null;
  if (cfg.loadgen === "wrk") return runWrk(load, cpu);
  const proc = Bun.spawn(placed([process.execPath, LOADGEN, JSON.stringify(load)], { cpu, nofile: null }), {
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
  });
  const [text, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  const line = text.trim().split("\n").pop() ?? "";
  if (proc.exitCode !== 0 || !line.startsWith("{")) throw new Error(`load generator failed: ${(err || text).trim().split("\n")[0]}`);
  return JSON.parse(line) as LoadResult;
}

/**
 * RSS growth per idle connection. Both readings are taken after cfg.idleHoldMs (6 s by default),
 * the first after one request so that the shipped server's memory upkeep (every 5 s while requests
 * come) has run: each reading then sees a collected heap rather than wherever each runtime happens
 * to be in its collection cycle. Read 0.5 s after opening, the shipped server's figure moved
 * between 1.3 and 4.0 KB per connection at 10,000 and read 0.6-0.7 KB at 19,000.
 */
async function measureIdle(cfg: HttpRunConfig, s: RunningServer, round: number): Promise<IdleSample> {
  const config = { host: "127.0.0.1", port: s.port, path: "/health", count: cfg.idleCount };
  await fetch(`http://127.0.0.1:${s.port}/health`).then((r) => r.arrayBuffer(), () => undefined);
  await Bun.sleep(cfg.idleHoldMs);
  const rssBeforeBytes = rssBytes(s.pid);
  const proc = Bun.spawn(placed([process.execPath, IDLE, JSON.stringify(config)], { cpu: cfg.pin ? 1 : null, nofile: cfg.idleCount + NOFILE_MARGIN }), {
    stdout: "pipe",
    stderr: "pipe",
    stdin: "pipe",
  });
  try {
    const lines = new LineReader(proc.stdout);
    const ready = await lines.next(120_000);
    if (!ready?.startsWith("READY ")) throw new Error("idle-connection helper did not report");
    const r = JSON.parse(ready.slice(6)) as { open: number; failed: number; firstError: string | null };
    await Bun.sleep(cfg.idleHoldMs);
    const rssAfterBytes = rssBytes(s.pid);
    proc.stdin.write("done\n");
    await proc.stdin.flush();
    const done = await lines.next(10_000);
    const stillOpen = done?.startsWith("DONE ") ? (JSON.parse(done.slice(5)) as { stillOpen: number }).stillOpen : 0;
    const bytesPerConn = r.open > 0 ? (rssAfterBytes - rssBeforeBytes) / r.open : null;
    return { round, contender: s.id, open: r.open, stillOpen, failed: r.failed, firstError: r.firstError, rssBeforeBytes, rssAfterBytes, bytesPerConn };
  } finally {
    await stopChild(proc);
  }
}
