import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { displayWidth, table } from "../../src/cli/format.ts";
import { memoryIo } from "../../src/cli/io.ts";
import { runBenchCli } from "../../src/loadtest/cli.ts";
import { compareReports, flattenNumbers } from "../../src/loadtest/compare.ts";
import { parseLoadArgs } from "../../src/loadtest/options.ts";
import { buildLatency, buildSummary, formatReport, reportConfig, type LoadReport } from "../../src/loadtest/report.ts";
import type { Failure, RequestRecord } from "../../src/loadtest/types.ts";

function rec(i: number, o: Partial<RequestRecord> & { tokens?: number | null; prompt?: number | null }): RequestRecord {
  const failure: Failure | null = o.failure ?? null;
  return {
    index: i, startMs: 0, e2eMs: o.e2eMs ?? 1000, ttftMs: o.ttftMs ?? null, chunkTimesMs: o.chunkTimesMs ?? [],
    status: failure ? null : 200,
    usage: failure ? null : { tokens: o.tokens === undefined ? 10 : o.tokens, promptTokens: o.prompt === undefined ? 5 : o.prompt, finishReason: "length" },
    failure,
  };
}

function report(records: RequestRecord[], wallMs: number): LoadReport {
  const c = parseLoadArgs(["--requests", String(records.length), "--concurrency", "2", "--max-tokens", "10"]);
  if (c.kind !== "run") throw new Error("unreachable");
  return {
    kind: "load", version: 1, date: "2025-01-01T00:00:00.000Z", command: "warren bench load", target: "native http://h/generate",
    config: reportConfig(c.options), summary: buildSummary(records, wallMs, 2), latency_ms: buildLatency(records), requests: records,
  };
}

describe("load report", () => {
  const records = [
    rec(0, { e2eMs: 1000, ttftMs: 100, chunkTimesMs: [100, 200, 400], tokens: 10 }),
    rec(1, { e2eMs: 2000, ttftMs: 200, chunkTimesMs: [200, 300], tokens: 19 }),
    rec(2, { failure: { kind: "http", reason: "HTTP 503", message: "HTTP 503: full" } }),
    rec(3, { failure: { kind: "http", reason: "HTTP 503", message: "HTTP 503: full again" } }),
    rec(4, { failure: { kind: "timeout", reason: "> 1 s", message: "slow" } }),
  ];
  const r = report(records, 4000);

  test("seed figures", () => {
    const s = r.summary;
    expect(s).toMatchObject({
      total_requests: 5, successful_requests: 2, failed_requests: 3, usage_reported: 2,
      total_generated_tokens: 29, total_prompt_tokens: 10, total_tokens_processed: 39, total_chunks: 5,
    });
    expect(s.avg_throughput_tokens_per_s).toBeCloseTo(29 / 4, 10); // generated tokens / wall time
    expect(s.avg_tokens_per_s_per_request).toBeCloseTo((10 / 1 + 19 / 2) / 2, 10);
    expect(s.avg_generated_tokens).toBe(14.5);
    expect(s.request_throughput_rps).toBe(0.5);
    expect(s.failures).toEqual([
      { label: "HTTP 503", kind: "http", count: 2, example: "HTTP 503: full" },
      { label: "timeout (> 1 s)", kind: "timeout", count: 1, example: "slow" },
    ]);
  });

  test("latency: ITL from chunk gaps, TPOT = (e2e - ttft) / (tokens - 1)", () => {
    const l = r.latency_ms;
    expect(l.itl).toMatchObject({ n: 3, min: 100, max: 200, p50: 100 });
    expect(l.tpot).toMatchObject({ n: 2, min: 100, max: 100 }); // (1000-100)/9 and (2000-200)/18
    expect(l.ttft).toMatchObject({ n: 2, mean: 150, p50: 150 });
    expect(l.e2e).toMatchObject({ n: 2, p90: 1900 });
  });

  test("text layout", () => {
    const text = formatReport(r);
    const lines = text.split("\n");
    expect(lines[0]).toBe("warren bench load: native http://h/generate");
    expect(lines[1]).toBe("5 requests, concurrency 2, max_tokens 10, stream, prompts: default");
    expect(text).toContain(
      [
        "Total requests:                 5",
        "Successful requests:            2",
        "Failed requests:                3",
        "      2  HTTP 503  e.g. HTTP 503: full",
        "      1  timeout (> 1 s)  e.g. slow",
        "Avg throughput:                 7.25 tokens/sec",
        "Avg tokens per second:          9.75 tokens/sec (per request)",
        "Total tokens processed:         39",
        "Total generated tokens:         29",
        "Avg generated tokens:           14.50",
        "Request throughput:             0.50 req/s",
      ].join("\n"),
    );
    expect(text).toMatch(/^TTFT +150\.00 +150\.00 +190\.00 +199\.00 +2$/m);
    expect(text).toContain("percentiles: linear interpolation");
  });

  test("partial usage is said, and sums cover only the requests that reported it", () => {
    const text = formatReport(report([rec(0, { tokens: 4 }), rec(1, { tokens: null })], 1000));
    expect(text).toContain("Token usage reported by:        1 of 2 successful requests");
    expect(text).toContain("Total generated tokens:         4\n");
  });

  test("missing prompt_tokens makes total processed unknown, not a guess", () => {
    const text = formatReport(report([rec(0, { tokens: 4, prompt: null })], 1000));
    expect(text).toContain("Total tokens processed:         unknown (no prompt_tokens)");
  });
});

describe("table", () => {
  test("aligns CJK text by display width", () => {
    expect(displayWidth("人工a")).toBe(5);
    const t = table(["k", "v"], [["人工", "1"], ["abcd", "22"]]);
    expect(t).toBe("k      v\n----  --\n人工   1\nabcd  22\n");
  });
});

describe("--compare", () => {
  const a = { kind: "load", command: "A", date: "d1", config: { requests: 1 }, requests: [{ e2eMs: 1 }],
    summary: { total_requests: 40, avg_throughput_tokens_per_s: 100, failures: [] }, latency_ms: { ttft: { n: 3, mean: 20, p50: 10, max: 99 } } };
  const b = { kind: "load", command: "B", date: "d2", config: { requests: 2 }, requests: [],
    summary: { total_requests: 40, avg_throughput_tokens_per_s: 250, failures: [] }, latency_ms: { ttft: null } };

  test("numeric leaves of results only, ratio B/A", () => {
    expect([...flattenNumbers(a).keys()]).toEqual(["total_requests", "avg_throughput_tokens_per_s", "latency_ms.ttft.mean", "latency_ms.ttft.p50"]);
    expect(compareReports(a, b)).toEqual([
      { metric: "total_requests", a: 40, b: 40, ratio: 1 },
      { metric: "avg_throughput_tokens_per_s", a: 100, b: 250, ratio: 2.5 },
      { metric: "latency_ms.ttft.mean", a: 20, b: null, ratio: null },
      { metric: "latency_ms.ttft.p50", a: 10, b: null, ratio: null },
    ]);
  });

  test("through the CLI", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bench-cmp-"));
    writeFileSync(join(dir, "a.json"), JSON.stringify(a));
    writeFileSync(join(dir, "b.json"), JSON.stringify(b));
    const io = memoryIo();
    expect(await runBenchCli(["load", "--compare", join(dir, "a.json"), join(dir, "b.json")], io)).toBe(0);
    const out = io.stdout();
    expect(out).toContain(`A: ${join(dir, "a.json")}  (A, d1)`);
    expect(out).toMatch(/^avg_throughput_tokens_per_s\s+100\s+250\s+2\.500x$/m);
    expect(out).toMatch(/^latency_ms\.ttft\.p50\s+10\s+-\s+-$/m);
    expect(out).not.toContain("requests.");
  });

  test("a file that is not a report exits 2", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bench-cmp-"));
    writeFileSync(join(dir, "x.json"), "[1,2");
    const io = memoryIo();
    expect(await runBenchCli(["load", "--compare", join(dir, "x.json"), join(dir, "x.json")], io)).toBe(2);
    expect(io.stderr()).toContain("is not a JSON report");
  });
});
