// Whole `bench load` runs against stub servers on 127.0.0.1, checking the counts the tool reports.

import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { memoryIo } from "../../src/cli/io.ts";
import { runBenchCli } from "../../src/loadtest/cli.ts";
import type { LoadReport } from "../../src/loadtest/report.ts";
import { poissonArrivalsMs } from "../../src/loadtest/rng.ts";
import { startStub, type Stub, type StubOptions } from "../../src/loadtest/stub-server.ts";

const dir = mkdtempSync(join(tmpdir(), "bench-load-"));
let stub: Stub | null = null;
afterEach(async () => {
  await stub?.stop();
  stub = null;
});

/** Runs `bench load` against a fresh stub; returns exit code, output and the JSON report. */
async function load(opts: StubOptions, argv: string[], tty = false) {
  stub = startStub(opts);
  const json = join(dir, `r${Math.random().toString(36).slice(2)}.json`);
  const io = memoryIo(tty);
  const code = await runBenchCli(["load", "--url", stub.url, "--json", json, ...argv], io);
  const report = code === 2 ? null : (JSON.parse(readFileSync(json, "utf8")) as LoadReport);
  return { code, out: io.stdout(), err: io.stderr(), report, stub };
}

/** The value printed after a report label, e.g. line("Failed requests") -> "2". */
const field = (out: string, label: string) => new RegExp(`^${label}:\\s+(.+)$`, "m").exec(out)?.[1];

describe("bench load against a native stub", () => {
  test("streamed, closed loop: counts, tokens, chunks, concurrency", async () => {
    const r = await load({ tokenDelayMs: 1 }, ["--requests", "12", "--concurrency", "3", "--max-tokens", "5", "--prompt", "abcd"]);
    expect(r.code).toBe(0);
    expect(field(r.out, "Total requests")).toBe("12");
    expect(field(r.out, "Successful requests")).toBe("12");
    expect(field(r.out, "Failed requests")).toBe("0");
    expect(field(r.out, "Total generated tokens")).toBe("60");
    expect(field(r.out, "Total tokens processed")).toBe("108"); // 12 x (5 generated + 4 prompt)
    expect(field(r.out, "Avg generated tokens")).toBe("5.00");
    expect(field(r.out, "Streamed chunks")).toBe("60");
    expect(field(r.out, "Peak concurrency")).toBe("3");
    expect(r.out).toMatch(/^Avg throughput:\s+[\d.]+ tokens\/sec$/m);
    expect(r.out).toMatch(/^TTFT\s+[\d.]+/m);
    expect(r.out).toMatch(/^ITL \(chunk gaps\)\s+[\d.]+.*\s48$/m); // 4 gaps x 12 requests
    expect(r.stub.stats.received).toBe(12);
    expect(r.stub.stats.peakInFlight).toBeLessThanOrEqual(3);
    expect(r.stub.stats.bodies[0]).toEqual({ prompt: "abcd", max_tokens: 5, temperature: 0, stream: true });
    const s = r.report!.summary;
    expect(s).toMatchObject({ total_requests: 12, successful_requests: 12, total_generated_tokens: 60, total_chunks: 60 });
    expect(s.avg_throughput_tokens_per_s).toBeCloseTo(60 / s.wall_time_s, 6);
    expect(r.report!.latency_ms.tpot!.n).toBe(12);
    expect(r.report!.requests).toHaveLength(12);
  });

  test("connections are kept alive and reused, streamed or not", async () => {
    for (const extra of [[], ["--no-stream"]]) {
      const r = await load({}, ["--requests", "20", "--concurrency", "2", "--max-tokens", "3", ...extra]);
      expect(field(r.out, "Successful requests")).toBe("20");
      expect(r.stub.stats.clientPorts.size).toBeLessThanOrEqual(2);
      await stub!.stop();
    }
  });

  test("--preset seed sends the seed's request", async () => {
    const r = await load({ tokenDelayMs: 1 }, ["--preset", "seed", "--no-progress"]);
    expect(field(r.out, "Total requests")).toBe("40");
    expect(field(r.out, "Total generated tokens")).toBe("2,000");
    expect(r.stub.stats.bodies[0]).toEqual({ prompt: "人工智能是计算机科学的一个分支", max_tokens: 50, temperature: 0, stream: true });
    expect(r.report!.summary.peak_concurrency).toBe(8);
    expect(r.stub.stats.peakInFlight).toBeLessThanOrEqual(8);
    expect(r.err).toBe("report written to " + r.err.split("report written to ")[1]); // --no-progress: no progress lines
  });

  test("non-streamed: no TTFT, no chunks, tokens from usage", async () => {
    const r = await load({}, ["--requests", "5", "--concurrency", "2", "--max-tokens", "3", "--no-stream"]);
    expect(field(r.out, "Total generated tokens")).toBe("15");
    expect(field(r.out, "Streamed chunks")).toBe("0 (not streamed)");
    expect(r.out).toMatch(/^TTFT\s+-\s+-\s+-\s+-\s+not streamed$/m);
    expect(r.report!.latency_ms.ttft).toBeNull();
  });

  test("failures are counted and grouped by reason; exit 0 while some succeed", async () => {
    const behavior = (n: number) => (n % 4 === 1 ? "http503" : n % 4 === 2 ? "error_event" : "ok");
    const r = await load({ behavior }, ["--requests", "8", "--concurrency", "1", "--max-tokens", "3"]);
    expect(r.code).toBe(0);
    expect(field(r.out, "Successful requests")).toBe("4");
    expect(field(r.out, "Failed requests")).toBe("4");
    expect(r.out).toMatch(/^\s+2\s+HTTP 503\s+e\.g\. HTTP 503: .*queue full/m);
    expect(r.out).toMatch(/^\s+2\s+server error event \(engine_failed\)\s+e\.g\. boom$/m);
    expect(field(r.out, "Total generated tokens")).toBe("12");
  });

  test("every request failing exits 1", async () => {
    const r = await load({ behavior: () => "http503" }, ["--requests", "3"]);
    expect(r.code).toBe(1);
    expect(field(r.out, "Failed requests")).toBe("3");
    expect(field(r.out, "Token figures")).toContain("no successful requests");
  });

  test("no usage from the server: tokens unknown, chunks still counted", async () => {
    const r = await load({ usage: false }, ["--requests", "4", "--max-tokens", "3"]);
    expect(field(r.out, "Token figures")).toBe("unknown (the server reported no token usage; nothing is estimated)");
    expect(r.out).not.toMatch(/^Avg throughput:/m);
    expect(field(r.out, "Streamed chunks")).toBe("12");
    expect(r.report!.summary.total_generated_tokens).toBeNull();
    expect(r.report!.latency_ms.tpot).toBeNull();
  });

  test("--ignore-eos is sent and runs past the stub's EOS", async () => {
    const stopEarly = await load({ eosAfter: 2 }, ["--requests", "2", "--max-tokens", "6"]);
    expect(field(stopEarly.out, "Avg generated tokens")).toBe("2.00");
    expect(field(stopEarly.out, "Finish reasons")).toBe("stop 2");
    await stub!.stop();
    const r = await load({ eosAfter: 2 }, ["--requests", "2", "--max-tokens", "6", "--ignore-eos"]);
    expect(r.stub.stats.bodies[0]!.ignore_eos).toBe(true);
    expect(field(r.out, "Avg generated tokens")).toBe("6.00");
    expect(field(r.out, "Finish reasons")).toBe("length 2");
  });

  test("--warmup requests reach the server but are not counted; --api-key is sent", async () => {
    const r = await load({}, ["--requests", "4", "--warmup", "3", "--api-key", "sekrit", "--max-tokens", "2"]);
    expect(r.stub.stats.received).toBe(7);
    expect(field(r.out, "Total requests")).toBe("4");
    expect(r.stub.stats.authorization.every((a) => a === "Bearer sekrit")).toBe(true);
    expect(JSON.stringify(r.report)).not.toContain("sekrit");
    expect(r.report!.command).toContain("--api-key REDACTED");
  });

  test("--fresh-connections: every request on a connection of its own (Connection: close)", async () => {
    const kept = await load({}, ["--requests", "12", "--concurrency", "2", "--max-tokens", "2"]);
    expect(kept.stub.stats.clientPorts.size).toBeLessThan(12);
    await stub!.stop();
    const fresh = await load({}, ["--requests", "12", "--concurrency", "2", "--max-tokens", "2", "--fresh-connections"]);
    expect(fresh.stub.stats.clientPorts.size).toBe(12);
    expect(field(fresh.out, "Total requests")).toBe("12");
  });

  test("open loop: Poisson send times follow the seeded schedule", async () => {
    const r = await load({}, ["--requests", "15", "--rate", "100", "--seed", "9", "--max-tokens", "2"]);
    expect(field(r.out, "Total requests")).toBe("15");
    const want = poissonArrivalsMs(15, 100, 9);
    const got = [...r.report!.requests].sort((a, b) => a.index - b.index).map((x) => x.startMs);
    for (let i = 0; i < 15; i++) {
      expect(got[i]!).toBeGreaterThanOrEqual(want[i]! - 2);
      expect(got[i]!).toBeLessThan(want[i]! + 150); // late timers on a busy machine, never early
    }
  });
});

describe("bench load against an OpenAI-compatible stub", () => {
  const variants: [string, string[], number][] = [
    ["completions streamed", [], 24],
    ["completions not streamed", ["--no-stream"], 0],
    ["chat streamed", ["--chat"], 24],
    ["chat not streamed", ["--chat", "--no-stream"], 0],
  ];
  for (const [name, extra, chunks] of variants) {
    test(name, async () => {
      const r = await load({}, ["--api", "openai", "--model", "m1", "--requests", "6", "--concurrency", "2", "--max-tokens", "4", ...extra]);
      expect(r.code).toBe(0);
      expect(field(r.out, "Successful requests")).toBe("6");
      expect(field(r.out, "Total generated tokens")).toBe("24");
      expect(r.report!.summary.total_chunks).toBe(chunks);
      const body = r.stub.stats.bodies[0]!;
      expect(body.model).toBe("m1");
      expect(body.stream_options).toEqual(chunks > 0 ? { include_usage: true } : undefined);
      expect(extra.includes("--chat") ? body.messages : body.prompt).toBeDefined();
    });
  }
});

describe("progress", () => {
  test("a terminal gets a redrawn bar ending in a newline", async () => {
    const r = await load({}, ["--requests", "5", "--max-tokens", "2"], true);
    expect(r.err).toContain("\rload [");
    expect(r.err).toContain("5/5 done");
    expect(r.err).toMatch(/\x1b\[K\n/);
  });

  test("a pipe gets plain lines", async () => {
    const r = await load({}, ["--requests", "10", "--concurrency", "1", "--max-tokens", "2"]);
    expect(r.err).not.toContain("\r");
    expect(r.err).toMatch(/^load: 10\/10 done, 0 failed/m);
  });
});
