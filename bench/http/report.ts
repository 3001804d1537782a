// `bench http` results: medians with min-max over rounds, as a terminal table, a markdown block for
// bench/RESULTS.md, and JSON.

import { fmt, fmtInt, markdownTable, table } from "../../src/cli/format.ts";
import { describeMachine, type MachineInfo } from "../lib/machine.ts";
import { spread, type Spread } from "../../src/loadtest/stats.ts";
import { CONTENDER_TITLES, type ContenderId } from "./contenders.ts";
import type { HttpRunConfig, HttpRunResult, Mode } from "./runner.ts";

interface ModeResult {
  readonly rps: Spread | null;
  readonly rps_per_cpu_s: Spread | null;
  readonly p50_ms: Spread | null;
  readonly p99_ms: Spread | null;
  readonly errors: number;
  readonly non2xx: number;
  /** Highest load-generator CPU share seen: near 1 means it, not the server, may have been the limit. */
  readonly loadgen_cpu_share_max: number | null;
}

interface ContenderResult {
  readonly title: string;
  readonly plain: ModeResult;
  readonly pipelined: ModeResult;
  readonly idle_bytes_per_conn: Spread | null;
  readonly idle_open_min: number | null;
}

export interface HttpReport {
  readonly kind: "http";
  readonly version: 1;
  readonly date: string;
  readonly command: string;
  readonly machine: MachineInfo;
  readonly loadgen: string;
  readonly pinned: boolean;
  readonly config: HttpRunConfig;
  readonly results: Partial<Record<ContenderId, ContenderResult>>;
  readonly rounds: HttpRunResult;
  readonly notes: readonly string[];
}

export function buildResults(cfg: HttpRunConfig, run: HttpRunResult): Partial<Record<ContenderId, ContenderResult>> {
  const results: Partial<Record<ContenderId, ContenderResult>> = {};
  for (const id of cfg.contenders) {
    const idle = run.idle.filter((s) => s.contender === id);
    if (!run.load.some((s) => s.contender === id) && idle.length === 0) continue;
    results[id] = {
      title: CONTENDER_TITLES[id],
      plain: modeResult(run, id, "plain"),
      pipelined: modeResult(run, id, "pipelined"),
      idle_bytes_per_conn: spread(idle.flatMap((s) => (s.bytesPerConn === null ? [] : [s.bytesPerConn]))),
      idle_open_min: idle.length ? Math.min(...idle.map((s) => Math.min(s.open, s.stillOpen))) : null,
    };
  }
  return results;
}

function modeResult(run: HttpRunResult, id: ContenderId, mode: Mode): ModeResult {
  const s = run.load.filter((x) => x.contender === id && x.mode === mode);
  const vals = (f: (x: (typeof s)[number]) => number | null) => s.flatMap((x) => {
    const v = f(x);
    return v === null ? [] : [v];
  });
  const shares = vals((x) => (Number.isFinite(x.result.cpuS) ? x.result.cpuS / x.result.elapsedS : null));
  return {
    rps: spread(vals((x) => x.result.rps)),
    rps_per_cpu_s: spread(vals((x) => x.rpsPerCpuS)),
    p50_ms: spread(vals((x) => x.result.p50Ms)),
    p99_ms: spread(vals((x) => x.result.p99Ms)),
    errors: s.reduce((a, x) => a + x.result.errors, 0),
    non2xx: s.reduce((a, x) => a + x.result.non2xx, 0),
    loadgen_cpu_share_max: shares.length ? Math.max(...shares) : null,
  };
}

const range = (s: Spread | null, f: (v: number) => string) =>
  s === null ? "-" : s.n === 1 ? f(s.median) : `${f(s.median)} [${f(s.min)}–${f(s.max)}]`;
const ms = (v: number) => fmt(v, v < 10 ? 2 : 1);
const lat = (m: ModeResult) => `${range(m.p50_ms, ms)} / ${range(m.p99_ms, ms)}`;

function rows(r: HttpReport): string[][] {
  return Object.values(r.results).map((c) => [
    c.title,
    range(c.plain.rps, fmtInt), range(c.plain.rps_per_cpu_s, fmtInt), lat(c.plain),
    range(c.pipelined.rps, fmtInt), range(c.pipelined.rps_per_cpu_s, fmtInt), lat(c.pipelined),
    ...(r.config.idleCount > 0
      ? [c.idle_bytes_per_conn === null ? "-" : `${range(c.idle_bytes_per_conn, fmtInt)} B (${fmtInt(c.idle_open_min)} open)`]
      : []),
  ]);
}

function header(r: HttpReport): string[] {
  const d = r.config.depth;
  const idle = r.config.idleCount > 0 ? [`RSS per idle conn (${fmtInt(r.config.idleCount)} asked)`] : [];
  return ["contender", "keep-alive req/s", "req/CPU-s", "p50 / p99 ms", `pipelined x${d} req/s`, "req/CPU-s", "p50 / p99 ms", ...idle];
}

function setup(r: HttpReport): string {
  const c = r.config;
  return `GET /health, ${c.rounds} round(s) x ${c.durationS} s per run, contenders in alternation, ${c.connections} connections, ` +
    `load generator ${r.loadgen}, ${r.pinned ? "server pinned to CPU 0, load to CPU 1" : "no CPU pinning"}`;
}

function warnings(r: HttpReport): string[] {
  const w = [...r.notes];
  for (const c of Object.values(r.results)) {
    for (const [mode, m] of [["keep-alive", c.plain], ["pipelined", c.pipelined]] as const) {
      if (m.errors + m.non2xx > 0) w.push(`${c.title} ${mode}: ${m.errors} connection errors, ${m.non2xx} non-2xx responses`);
      if ((m.loadgen_cpu_share_max ?? 0) > 0.9) w.push(`${c.title} ${mode}: load generator near 100% CPU; req/s may be the generator's limit (req/CPU-s is not affected)`);
    }
  }
  if (r.loadgen.startsWith("wrk")) w.push("wrk's latency percentiles are unreliable with pipelining; '-' marks values it reported as 0");
  return w;
}

export function formatHttpText(r: HttpReport): string {
  let out = `bench http: ${setup(r)}\nmedian [min–max] over rounds; machine: ${describeMachine(r.machine)}\n\n`;
  out += table(header(r), rows(r));
  for (const w of warnings(r)) out += `note: ${w}\n`;
  return out;
}

export function formatHttpMarkdown(r: HttpReport): string {
  let out = `### HTTP layer, GET /health (${r.date.slice(0, 10)})\n\n`;
  out += `- Machine: ${describeMachine(r.machine)}\n`;
  out += `- Command: \`${r.command}\`\n`;
  out += `- Setup: ${setup(r)}. Cells are median [min–max]; req/CPU-s divides requests by the server's utime+stime.\n\n`;
  out += markdownTable(header(r), rows(r));
  const w = warnings(r);
  if (w.length) out += "\n" + w.map((x) => `- ${x}`).join("\n") + "\n";
  return out;
}
