// wrk as the load generator when it is installed: one thread (it gets one CPU), a Lua script for
// pipelining. Its text output is parsed into the same LoadResult the built-in generator returns.

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LoadConfig, LoadResult } from "./loadgen.ts";
import { placed } from "./proc.ts";

/** Sends `depth` requests in one write; wrk waits for all their responses before the next write. */
const PIPELINE_LUA = `
init = function(args)
  local depth = tonumber(args[1]) or 1
  local r = {}
  for i = 1, depth do r[i] = wrk.format(nil, wrk.path) end
  req = table.concat(r)
end
request = function() return req end
`;

let scriptPath: string | null = null;

export function wrkVersion(): string | null {
  if (!Bun.which("wrk")) return null;
  const r = Bun.spawnSync(["wrk", "--version"]);
  const text = (r.stdout.toString() + r.stderr.toString()).trim();
  // Debian prints "wrk debian/4.1.0-3+b2 [epoll] ...", upstream "wrk 4.1.0 [epoll] ...".
  return /(\d+\.\d+\.\d+)/.exec(text)?.[1] ?? "unknown version";
}

function wrkArgv(cfg: LoadConfig): string[] {
  // wrk takes whole seconds only; a fractional duration is rounded up.
  const argv = ["wrk", "-t1", `-c${cfg.connections}`, `-d${Math.max(1, Math.ceil(cfg.durationS))}s`, "--latency", "--timeout", "5s"];
  const url = `http://${cfg.host}:${cfg.port}${cfg.path}`;
  if (cfg.depth <= 1) return [...argv, url];
  if (!scriptPath) {
    scriptPath = join(mkdtempSync(join(tmpdir(), "warren-bench-")), "pipeline.lua");
    writeFileSync(scriptPath, PIPELINE_LUA);
  }
  return [...argv, "-s", scriptPath, url, "--", String(cfg.depth)];
}

export async function runWrk(cfg: LoadConfig, cpu: number | null): Promise<LoadResult> {
  const proc = Bun.spawn(placed(wrkArgv(cfg), { cpu, nofile: null }), { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  if (proc.exitCode !== 0) throw new Error(`wrk failed: ${(err || out).trim().split("\n")[0]}`);
  const usage = proc.resourceUsage();
  const cpuS = usage ? Number(usage.cpuTime.user + usage.cpuTime.system) / 1e6 : NaN;
  return parseWrk(out, cpuS);
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function durationMs(s: string | undefined): number | null {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(s ?? "");
  return m ? Number(m[1]) * UNIT_MS[m[2]!]! : null;
}

/**
 * wrk's latency percentiles under pipelining are known to be wrong (it may print 0.00us for p99);
 * zero is read as "not measured" rather than as zero.
 */
export function parseWrk(out: string, cpuS = NaN): LoadResult {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(out);
  if (!total) throw new Error(`cannot read wrk output: ${out.trim().split("\n")[0] ?? ""}`);
  const elapsedS = durationMs(total[2]! + total[3]!)! / 1000;
  const requests = Number(total[1]);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const pct = (p: string) => {
    const v = durationMs(new RegExp(`^\\s+${p}%\\s+(\\S+)`, "m").exec(out)?.[1]);
    return v === null || v === 0 ? null : v;
  };
  return {
    requests, non2xx, errors, elapsedS, rps: requests / elapsedS,
    p50Ms: pct("50"), p99Ms: pct("99"), cpuS,
  };
}
