// `warren bench load`: wires options, the reachability check, warmup, the measured run and output.
// Exit codes: 0 when at least one measured request succeeded, 1 when the server cannot be reached or
// nothing succeeded (a run that measured nothing must not pass for a result). ArgError -> 2 in cli.ts.

import { writeFileSync } from "node:fs";
import type { Io } from "../cli/io.ts";
import { sendRequest, type ClientConfig } from "./client.ts";
import { formatComparison, readReport } from "./compare.ts";
import { parseLoadArgs } from "./options.ts";
import { Progress } from "./progress.ts";
import { createAdapter } from "./protocol.ts";
import { buildLatency, buildSummary, formatReport, reportConfig, type LoadReport } from "./report.ts";
import { runSchedule, type Send } from "./runner.ts";
import type { LoadOptions } from "./types.ts";

/** Bun's fetch runs this many requests at once unless BUN_CONFIG_MAX_HTTP_REQUESTS says otherwise. */
const BUN_FETCH_DEFAULT_LIMIT = 256;
/** The reachability check waits no longer than this, whatever --timeout says. */
const PROBE_TIMEOUT_MS = 5_000;

export async function runLoadCommand(argv: readonly string[], io: Io, commandLine: string): Promise<number> {
  const cmd = parseLoadArgs(argv);
  if (cmd.kind === "compare") {
    io.out(formatComparison(cmd.a, readReport(cmd.a), cmd.b, readReport(cmd.b)));
    return 0;
  }
  const o = cmd.options;
  const unreachable = await probe(o.url, Math.min(PROBE_TIMEOUT_MS, o.timeoutS * 1000));
  if (unreachable) {
    io.err(`warren bench load: cannot reach ${o.url}: ${unreachable}\n`);
    return 1;
  }
  const fetchLimit = Number(process.env.BUN_CONFIG_MAX_HTTP_REQUESTS) || BUN_FETCH_DEFAULT_LIMIT;
  if ((o.concurrency ?? Infinity) > fetchLimit) {
    io.err(`note: Bun's fetch sends at most ${fetchLimit} requests at once and queues the rest; ` +
      `set BUN_CONFIG_MAX_HTTP_REQUESTS before starting to raise it\n`);
  }
  const report = await measure(o, io, commandLine);
  io.out(formatReport(report));
  if (o.jsonPath) {
    writeFileSync(o.jsonPath, JSON.stringify(report, null, 2) + "\n");
    io.err(`report written to ${o.jsonPath}\n`);
  }
  return report.summary.successful_requests > 0 ? 0 : 1;
}

async function measure(o: LoadOptions, io: Io, commandLine: string): Promise<LoadReport> {
  const cfg: ClientConfig = { baseUrl: o.url, adapter: createAdapter(o), timeoutMs: o.timeoutS * 1000, apiKey: o.apiKey, freshConnections: o.freshConnections };
  const send: Send = (i, runStart) => sendRequest(cfg, i, o.prompts[i % o.prompts.length]!, runStart);
  if (o.warmup > 0) {
    const w = await runSchedule({ total: o.warmup, concurrency: o.concurrency ?? 8, rate: null, seed: o.seed }, send);
    const failed = w.records.filter((r) => r.failure).length;
    io.err(`warmup: ${o.warmup} requests, ${failed} failed, not counted\n`);
  }
  const progress = o.progress ? new Progress(io, o.requests, "load") : null;
  const date = new Date().toISOString();
  const res = await runSchedule(
    { total: o.requests, concurrency: o.concurrency, rate: o.rate, seed: o.seed },
    send,
    (st) => progress?.update(st),
  );
  const failed = res.records.filter((r) => r.failure).length;
  progress?.finish({ done: res.records.length, failed, inFlight: 0 });
  return {
    kind: "load",
    version: 1,
    date,
    command: commandLine,
    target: `${o.api}${o.chat ? " chat" : ""} ${cfg.baseUrl.replace(/\/+$/, "")}${cfg.adapter.path}`,
    config: reportConfig(o),
    summary: buildSummary(res.records, res.wallMs, res.peakConcurrency),
    latency_ms: buildLatency(res.records),
    requests: res.records,
  };
}

/** Opens (and closes) one TCP connection; returns why it failed, or null when it worked. */
async function probe(url: string, timeoutMs: number): Promise<string | null> {
  const u = new URL(url);
  const port = Number(u.port || (u.protocol === "https:" ? 443 : 80));
  const hostname = u.hostname.replace(/^\[|\]$/g, "");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<string>((r) => (timer = setTimeout(() => r(`no TCP connection within ${timeoutMs} ms`), timeoutMs)));
  const attempt = Bun.connect({ hostname, port, socket: { data() {} } }).then(
    (s) => {
      s.end();
      return null;
    },
    (e: unknown) => describeConnectError(e),
  );
  try {
    return await Promise.race([attempt, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function describeConnectError(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown };
  const code = typeof err?.code === "string" ? err.code : "";
  if (code === "ECONNREFUSED") return "connection refused (is the server running?)";
  if (code === "ENOTFOUND") return "host not found";
  return [code, typeof err?.message === "string" ? err.message : String(e)].filter(Boolean).join(": ");
}
