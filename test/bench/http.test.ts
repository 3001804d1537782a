// `bun bench/cli.ts http`: the built-in load generator, wrk output parsing, process helpers, and a short
// end-to-end run with two contenders on 127.0.0.1.

import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBenchCli } from "../../bench/cli.ts";
import type { HttpReport } from "../../bench/http/report.ts";
import { runLoad } from "../../bench/http/loadgen.ts";
import { cpuSeconds, placed, rssBytes } from "../../bench/http/proc.ts";
import { parseWrk, wrkVersion } from "../../bench/http/wrk.ts";
import { memoryIo } from "../../src/cli/io.ts";
import { ensurePackage, skipUnlessCi } from "../helpers/apt.ts";

const wrk = await ensurePackage("wrk", () => (wrkVersion() === null ? undefined : Bun.which("wrk")!));

describe("built-in load generator", () => {
  test("keep-alive and pipelined load against Bun.serve", async () => {
    let served = 0;
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () => {
        served++;
        return Response.json({ ok: true });
      },
    });
    try {
      for (const depth of [1, 8]) {
        const before = served;
        const r = await runLoad({ host: "127.0.0.1", port: server.port!, path: "/health", connections: 4, depth, durationS: 0.3 });
        expect(r.errors).toBe(0);
        expect(r.non2xx).toBe(0);
        expect(r.requests).toBeGreaterThan(100);
        // Counted responses never exceed what the server answered (in-flight ones at the end are not counted).
        expect(r.requests).toBeLessThanOrEqual(served - before);
        expect(r.p50Ms!).toBeGreaterThan(0);
        expect(r.p99Ms!).toBeGreaterThanOrEqual(r.p50Ms!);
      }
    } finally {
      server.stop(true);
    }
  });

  test("responses split at odd places, lowercase headers, empty bodies and non-2xx are framed right", async () => {
    // Answers each read's requests with alternating 200 (body "hello") and 503 (empty body),
    // written a few bytes at a time so heads and bodies straddle reads.
    const ok = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
    const no = "HTTP/1.1 503 Service Unavailable\r\nCONTENT-LENGTH: 0\r\n\r\n";
    let n = 0;
    const server = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(s, d) {
          const count = d.toString("latin1").split("\r\n\r\n").length - 1;
          let out = "";
          for (let i = 0; i < count; i++) out += n++ % 2 === 0 ? ok : no;
          const bytes = Buffer.from(out);
          for (let i = 0; i < bytes.length; i += 7) s.write(bytes.subarray(i, i + 7));
        },
      },
    });
    try {
      const r = await runLoad({ host: "127.0.0.1", port: server.port, path: "/", connections: 1, depth: 4, durationS: 0.3 });
      expect(r.errors).toBe(0);
      expect(r.requests).toBeGreaterThan(8);
      expect(Math.abs(r.non2xx - r.requests / 2)).toBeLessThanOrEqual(2);
    } finally {
      server.stop(true);
    }
  });
});

describe("wrk output", () => {
  const out = `Running 5s test @ http://127.0.0.1:40000/health
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   612.55us  200.10us   9.80ms   90.00%
    Req/Sec   104.00k     5.00k  110.00k    80.00%
  Latency Distribution
     50%  557.00us
     75%  700.00us
     90%  800.00us
     99%    1.20ms
  520000 requests in 5.00s, 70.00MB read
  Socket errors: connect 0, read 2, write 1, timeout 0
  Non-2xx or 3xx responses: 5
Requests/sec: 104000.00
Transfer/sec:     14.00MB
`;
  test("totals, errors and percentiles with units", () => {
    const r = parseWrk(out, 4.5);
    expect(r).toMatchObject({ requests: 520000, elapsedS: 5, rps: 104000, errors: 3, non2xx: 5, p50Ms: 0.557, p99Ms: 1.2, cpuS: 4.5 });
  });
  test("a 0.00us percentile (wrk under pipelining) reads as not measured", () => {
    expect(parseWrk(out.replace("1.20ms", "0.00us")).p99Ms).toBeNull();
  });
  test("unreadable output is an error", () => {
    expect(() => parseWrk("unable to connect to 127.0.0.1:1 Connection refused")).toThrow(/cannot read wrk output/);
  });
});

describe("process helpers", () => {
  test("placement wraps with ulimit and taskset, keeping argv intact", () => {
    expect(placed(["bun", "x y.ts"], { cpu: null, nofile: null })).toEqual(["bun", "x y.ts"]);
    expect(placed(["bun", "x y.ts"], { cpu: 0, nofile: 11000 })).toEqual([
      "sh", "-c", 'ulimit -n "$0" 2>/dev/null || ulimit -n "$(ulimit -H -n)" 2>/dev/null; exec "$@"', "11000", "taskset", "-c", "0", "bun", "x y.ts",
    ]);
  });

  test("/proc accounting reads this process", () => {
    expect(cpuSeconds(process.pid)).toBeGreaterThan(0);
    expect(rssBytes(process.pid)).toBeGreaterThan(1024 * 1024);
  });
});

describe("bench http end to end", () => {
  test("1 round, 1 s: bare Bun.serve and node:http with the built-in generator", async () => {
    const json = join(mkdtempSync(join(tmpdir(), "bench-http-")), "h.json");
    const io = memoryIo();
    const code = await runBenchCli(
      ["http", "--contenders", "bun,node", "--rounds", "1", "--duration", "1", "--warmup", "0", "--idle-connections", "300", "--idle-hold", "0.5",
        "--loadgen", "builtin", "--markdown", "--json", json],
      io,
    );
    expect(io.stderr()).not.toContain("failed");
    expect(code).toBe(0);
    const out = io.stdout();
    expect(out).toContain("### HTTP layer, GET /health");
    expect(out).toContain("- Command: `bun bench/cli.ts http --contenders bun,node");
    expect(out).toMatch(/^\| bare Bun\.serve \| [\d,]+ \| [\d,]+ \|/m);
    expect(out).toMatch(/^\| node:http \(Node\) \| [\d,]+ \|/m);
    const r = JSON.parse(readFileSync(json, "utf8")) as HttpReport;
    expect(Object.keys(r.results)).toEqual(["bun", "node"]);
    for (const c of Object.values(r.results)) {
      expect(c.plain.rps!.median).toBeGreaterThan(1000);
      expect(c.pipelined.rps_per_cpu_s!.median).toBeGreaterThan(1000);
      expect(c.idle_open_min).toBe(300);
    }
    expect(r.rounds.load).toHaveLength(4);
    expect(r.machine.cores).toBeGreaterThan(0);
  }, 40_000);

  test.skipIf(skipUnlessCi(wrk.bin !== undefined))("with wrk", async () => {
    if (wrk.bin === undefined) throw new Error(wrk.why);
    const io = memoryIo();
    const code = await runBenchCli(
      ["http", "--contenders", "bun", "--rounds", "1", "--duration", "1", "--warmup", "0", "--idle-connections", "0", "--loadgen", "wrk"],
      io,
    );
    expect(code).toBe(0);
    expect(io.stdout()).toMatch(/load generator wrk \d/);
    expect(io.stdout()).toMatch(/^bare Bun\.serve\s+[\d,]+\s+[\d,]+/m);
  }, 20_000);
});
