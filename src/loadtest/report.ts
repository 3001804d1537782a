// Aggregates request records into the report: the seed benchmark's figures (same labels, so old and
// new numbers line up) plus latency distributions. Token figures use only server-reported usage;
// requests without usage are left out of token sums and the report says how many there were.

import { fmt, fmtInt, table } from "../cli/format.ts";
import { summarize, type Distribution } from "./stats.ts";
import { failureLabel, type Failure, type LoadOptions, type RequestRecord } from "./types.ts";

interface FailureGroup {
  readonly label: string;
  readonly kind: Failure["kind"];
  readonly count: number;
  readonly example: string;
}

interface LoadSummary {
  readonly total_requests: number;
  readonly successful_requests: number;
  readonly failed_requests: number;
  readonly failures: readonly FailureGroup[];
  readonly wall_time_s: number;
  readonly request_throughput_rps: number;
  readonly peak_concurrency: number;
  /** Successful requests whose response carried token usage. */
  readonly usage_reported: number;
  readonly total_generated_tokens: number | null;
  readonly total_prompt_tokens: number | null;
  readonly total_tokens_processed: number | null;
  readonly avg_throughput_tokens_per_s: number | null;
  readonly avg_tokens_per_s_per_request: number | null;
  readonly avg_generated_tokens: number | null;
  /** Content-bearing stream chunks; one chunk may carry several tokens. */
  readonly total_chunks: number;
  readonly finish_reasons: Readonly<Record<string, number>>;
}

interface LatencyMs {
  readonly ttft: Distribution | null;
  readonly itl: Distribution | null;
  readonly tpot: Distribution | null;
  readonly e2e: Distribution | null;
}

export interface LoadReport {
  readonly kind: "load";
  readonly version: 1;
  readonly date: string;
  readonly command: string;
  readonly target: string;
  readonly config: Record<string, unknown>;
  readonly summary: LoadSummary;
  readonly latency_ms: LatencyMs;
  readonly requests: readonly RequestRecord[];
}

export function buildSummary(records: readonly RequestRecord[], wallMs: number, peak: number): LoadSummary {
  const ok = records.filter((r) => !r.failure);
  const withUsage = ok.filter((r) => r.usage?.tokens !== null && r.usage?.tokens !== undefined);
  const gen = sum(withUsage.map((r) => r.usage!.tokens!));
  const prompt = withUsage.every((r) => r.usage!.promptTokens !== null) ? sum(withUsage.map((r) => r.usage!.promptTokens!)) : null;
  const known = withUsage.length > 0;
  const wallS = wallMs / 1000;
  const perReq = withUsage.filter((r) => r.e2eMs > 0).map((r) => r.usage!.tokens! / (r.e2eMs / 1000));
  const finish: Record<string, number> = {};
  for (const r of ok) {
    const k = r.usage?.finishReason ?? "unknown";
    finish[k] = (finish[k] ?? 0) + 1;
  }
  return {
    total_requests: records.length,
    successful_requests: ok.length,
    failed_requests: records.length - ok.length,
    failures: groupFailures(records),
    wall_time_s: wallS,
    request_throughput_rps: wallS > 0 ? ok.length / wallS : 0,
    peak_concurrency: peak,
    usage_reported: withUsage.length,
    total_generated_tokens: known ? gen : null,
    total_prompt_tokens: known && prompt !== null ? prompt : null,
    total_tokens_processed: known && prompt !== null ? gen + prompt : null,
    avg_throughput_tokens_per_s: known && wallS > 0 ? gen / wallS : null,
    avg_tokens_per_s_per_request: perReq.length > 0 ? sum(perReq) / perReq.length : null,
    avg_generated_tokens: known ? gen / withUsage.length : null,
    total_chunks: sum(ok.map((r) => r.chunkTimesMs.length)),
    finish_reasons: finish,
  };
}

export function buildLatency(records: readonly RequestRecord[]): LatencyMs {
  const ok = records.filter((r) => !r.failure);
  const itl: number[] = [];
  const tpot: number[] = [];
  for (const r of ok) {
    const t = r.chunkTimesMs;
    for (let i = 1; i < t.length; i++) itl.push(t[i]! - t[i - 1]!);
    const tokens = r.usage?.tokens;
    if (r.ttftMs !== null && typeof tokens === "number" && tokens > 1) tpot.push((r.e2eMs - r.ttftMs) / (tokens - 1));
  }
  return {
    ttft: summarize(ok.flatMap((r) => (r.ttftMs === null ? [] : [r.ttftMs]))),
    itl: summarize(itl),
    tpot: summarize(tpot),
    e2e: summarize(ok.map((r) => r.e2eMs)),
  };
}

function groupFailures(records: readonly RequestRecord[]): FailureGroup[] {
  const groups = new Map<string, { kind: Failure["kind"]; count: number; example: string }>();
  for (const r of records) {
    if (!r.failure) continue;
    const label = failureLabel(r.failure);
    const g = groups.get(label);
    if (g) g.count++;
    else groups.set(label, { kind: r.failure.kind, count: 1, example: r.failure.message });
  }
  return [...groups].map(([label, g]) => ({ label, ...g })).sort((a, b) => b.count - a.count);
}

function sum(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}

const LABEL_WIDTH = 32;
const kv = (k: string, v: string) => `${(k + ":").padEnd(LABEL_WIDTH)}${v}\n`;

export function formatReport(r: LoadReport): string {
  const s = r.summary;
  let out = `warren bench load: ${r.target}\n${describeConfig(r.config)}\n\n`;
  out += kv("Total requests", String(s.total_requests));
  out += kv("Successful requests", String(s.successful_requests));
  out += kv("Failed requests", String(s.failed_requests));
  for (const f of s.failures) out += `  ${String(f.count).padStart(5)}  ${f.label}  e.g. ${oneLine(f.example)}\n`;
  out += formatTokens(s);
  out += kv("Request throughput", `${fmt(s.request_throughput_rps)} req/s`);
  out += kv("Wall time", `${fmt(s.wall_time_s, 3)} s`);
  out += kv("Peak concurrency", String(s.peak_concurrency));
  out += kv("Streamed chunks", s.total_chunks > 0 ? fmtInt(s.total_chunks) : "0 (not streamed)");
  out += kv("Finish reasons", Object.entries(s.finish_reasons).map(([k, v]) => `${k} ${v}`).join(", ") || "-");
  out += "\n" + formatLatency(r.latency_ms);
  return out;
}

function formatTokens(s: LoadSummary): string {
  const ok = s.successful_requests;
  if (s.usage_reported === 0) {
    const why = ok === 0 ? "no successful requests" : "the server reported no token usage";
    return kv("Token figures", `unknown (${why}; nothing is estimated)`);
  }
  let out = "";
  if (s.usage_reported < ok) {
    out += kv("Token usage reported by", `${s.usage_reported} of ${ok} successful requests (sums below cover those only)`);
  }
  out += kv("Avg throughput", `${fmt(s.avg_throughput_tokens_per_s)} tokens/sec`);
  out += kv("Avg tokens per second", `${fmt(s.avg_tokens_per_s_per_request)} tokens/sec (per request)`);
  out += kv("Total tokens processed", s.total_tokens_processed === null ? "unknown (no prompt_tokens)" : fmtInt(s.total_tokens_processed));
  out += kv("Total generated tokens", fmtInt(s.total_generated_tokens));
  out += kv("Avg generated tokens", fmt(s.avg_generated_tokens));
  return out;
}

function formatLatency(l: LatencyMs): string {
  const row = (name: string, d: Distribution | null, absent: string) =>
    d ? [name, fmt(d.mean), fmt(d.p50), fmt(d.p90), fmt(d.p99), String(d.n)] : [name, "-", "-", "-", "-", absent];
  const rows = [
    row("TTFT", l.ttft, "not streamed"),
    row("ITL (chunk gaps)", l.itl, "under 2 chunks"),
    row("TPOT", l.tpot, "needs stream + usage"),
    row("End-to-end", l.e2e, "0"),
  ];
  return table(["latency (ms)", "mean", "p50", "p90", "p99", "n"], rows) +
    "percentiles: linear interpolation between closest ranks (NumPy 'linear', type 7)\n";
}

function describeConfig(c: Record<string, unknown>): string {
  const mode = c.rate !== null ? `open loop ${c.rate} req/s (seed ${c.seed})${c.concurrency !== null ? `, cap ${c.concurrency}` : ""}` : `concurrency ${c.concurrency}`;
  const warm = c.warmup ? `, warmup ${c.warmup}` : "";
  return `${c.requests} requests, ${mode}, max_tokens ${c.max_tokens}, ${c.stream ? "stream" : "no stream"}` +
    `${c.ignore_eos ? ", ignore_eos" : ""}${warm}, prompts: ${c.prompt_source}`;
}

const oneLine = (s: string) => s.replace(/\s+/g, " ").slice(0, 160);

export function reportConfig(o: LoadOptions): Record<string, unknown> {
  return {
    url: o.url, api: o.api, chat: o.chat, model: o.api === "openai" ? o.model : null, requests: o.requests,
    concurrency: o.concurrency, rate: o.rate, seed: o.seed, max_tokens: o.maxTokens, temperature: o.temperature,
    stream: o.stream, ignore_eos: o.ignoreEos, timeout_s: o.timeoutS, warmup: o.warmup, prompt_source: o.promptSource,
    prompt_count: o.prompts.length, preset: o.preset, api_key: o.apiKey ? "(set, not recorded)" : null,
  };
}
