// `bun bench/cli.ts http`: options, environment checks (wrk, taskset, fd limits), the rounds, output.

import { writeFileSync } from "node:fs";
import { ArgError, getBool, getNumber, getString, parseArgs, requireRange, type FlagSpec } from "../../src/cli/args.ts";
import type { Io } from "../../src/cli/io.ts";
import { machineInfo } from "../lib/machine.ts";
import { CONTENDER_IDS, contenderCommand, type ContenderId } from "./contenders.ts";
import { hardNofileLimit, pinningAvailable } from "./proc.ts";
import { buildResults, formatHttpMarkdown, formatHttpText, type HttpReport } from "./report.ts";
import { runHttpRounds, type HttpRunConfig } from "./runner.ts";
import { wrkVersion } from "./wrk.ts";

export const HTTP_FLAGS: readonly FlagSpec[] = [
  { name: "contenders", type: "string", arg: "LIST", help: `comma-separated, in run order (default ${CONTENDER_IDS.join(",")})` },
  { name: "rounds", type: "int", help: "rounds; each runs every contender once, in alternation (default 3)" },
  { name: "duration", type: "number", arg: "S", help: "seconds per measured run (default 5)" },
  { name: "warmup", type: "number", arg: "S", help: "seconds of unmeasured load after each server start, so every contender is measured at steady state (default 5)" },
  { name: "connections", type: "int", help: "keep-alive connections for the load runs (default 64)" },
  { name: "pipeline", type: "int", help: "requests per write in the pipelined run (default 16)" },
  { name: "idle-connections", type: "int", help: "idle keep-alive connections for the memory measurement; 0 skips it (default 10000)" },
  { name: "idle-hold", type: "number", arg: "S", help: "seconds before each RSS reading of the memory measurement, past one memory-upkeep interval of the shipped server (default 6)" },
  { name: "loadgen", type: "string", arg: "auto|wrk|builtin", help: "load generator; auto = wrk when installed (default auto)" },
  { name: "pin", type: "bool", help: "pin server to CPU 0 and load to CPU 1 with taskset when possible (default on)" },
  { name: "json", type: "string", arg: "FILE", help: "write the report with every round's raw numbers as JSON" },
  { name: "markdown", type: "bool", help: "print a markdown section for bench/RESULTS.md instead of the terminal table" },
];

/** Keep a few descriptors for stdio, the listener and the load generator's own sockets. */
const NOFILE_RESERVE = 256;

export async function runHttpCommand(argv: readonly string[], io: Io, commandLine: string): Promise<number> {
  const p = parseArgs(argv, HTTP_FLAGS);
  const notes: string[] = [];
  const cfg = resolveConfig(p, notes);
  for (const n of notes) io.err(`note: ${n}\n`);
  if (cfg.contenders.length === 0) {
    io.err("bench http: no contender can run here\n");
    return 1;
  }
  const date = new Date().toISOString();
  const run = await runHttpRounds(cfg, (line) => io.err(line + "\n"));
  const report: HttpReport = {
    kind: "http", version: 1, date, command: commandLine, machine: machineInfo(),
    loadgen: cfg.loadgen === "wrk" ? `wrk ${wrkVersion()} (1 thread)` : "built-in (Bun.connect, 1 process)",
    pinned: cfg.pin, config: cfg, results: buildResults(cfg, run), rounds: run, notes: [...notes, ...run.notes],
  };
  io.out(getBool(p, "markdown") ? formatHttpMarkdown(report) : formatHttpText(report));
  const json = getString(p, "json");
  if (json) {
    writeFileSync(json, JSON.stringify(report, null, 2) + "\n");
    io.err(`report written to ${json}\n`);
  }
  return Object.keys(report.results).length > 0 ? 0 : 1;
}

function resolveConfig(p: ReturnType<typeof parseArgs>, notes: string[]): HttpRunConfig {
  const loadgenArg = getString(p, "loadgen") ?? "auto";
  if (!["auto", "wrk", "builtin"].includes(loadgenArg)) throw new ArgError(`--loadgen must be auto, wrk or builtin, got "${loadgenArg}"`);
  const hasWrk = wrkVersion() !== null;
  if (loadgenArg === "wrk" && !hasWrk) throw new ArgError("--loadgen wrk: wrk is not installed (apt-get install wrk)");
  const loadgen = loadgenArg === "builtin" || !hasWrk ? "builtin" : "wrk";
  const wantPin = getBool(p, "pin") ?? true;
  const pin = wantPin && pinningAvailable();
  if (wantPin && !pin) notes.push("CPU pinning unavailable (needs taskset and 2 CPUs): server and load share the CPUs");
  return {
    contenders: pickContenders(getString(p, "contenders"), notes),
    rounds: requireRange("rounds", getNumber(p, "rounds") ?? 3, 1, 1000),
    durationS: requireRange("duration", getNumber(p, "duration") ?? 5, 0.1, 3600),
    // The shipped server is a larger program than the anchors: JSC keeps compiling it in background
    // threads (counted in its CPU) for the first ~2 s under load; 1 s of warm-up measured it mid-way.
    warmupS: requireRange("warmup", getNumber(p, "warmup") ?? 5, 0, 600),
    connections: requireRange("connections", getNumber(p, "connections") ?? 64, 1, 10_000),
    depth: requireRange("pipeline", getNumber(p, "pipeline") ?? 16, 1, 1024),
    idleCount: idleCount(requireRange("idle-connections", getNumber(p, "idle-connections") ?? 10_000, 0, 1_000_000), notes),
    idleHoldMs: 1000 * requireRange("idle-hold", getNumber(p, "idle-hold") ?? 6, 0, 600),
    loadgen,
    pin,
  };
}

function pickContenders(list: string | undefined, notes: string[]): ContenderId[] {
  const ids = list === undefined ? [...CONTENDER_IDS] : list.split(",").map((s) => s.trim()).filter(Boolean);
  for (const id of ids) {
    if (!(CONTENDER_IDS as readonly string[]).includes(id)) {
      throw new ArgError(`--contenders: unknown "${id}" (known: ${CONTENDER_IDS.join(", ")})`);
    }
  }
  return (ids as ContenderId[]).filter((id) => {
    const cmd = contenderCommand(id);
    if ("unavailable" in cmd) notes.push(`skipping ${id}: ${cmd.unavailable}`);
    return !("unavailable" in cmd);
  });
}

/** Both the server and the idle helper need one descriptor per connection; the hard limit caps both. */
function idleCount(asked: number, notes: string[]): number {
  if (asked === 0) return 0;
  const hard = hardNofileLimit();
  if (hard !== null && asked + NOFILE_RESERVE > hard) {
    const capped = Math.max(0, hard - NOFILE_RESERVE);
    notes.push(`idle connections capped at ${capped} by the open-files hard limit (ulimit -Hn = ${hard})`);
    return capped;
  }
  return asked;
}
