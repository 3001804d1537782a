// Issue 7, fuzzing: seeded random and mutated HTTP byte streams into the parser (in process) and
// into live servers (real sockets). CI runs a fixed seed; WARREN_FUZZ_SEED=N explores another, and
// `bun bench/cli.ts fuzz` runs the large versions. The oracles are described in bench/fuzz/*.ts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { LIVE_LIMITS, runLiveFuzz, startEchoServer } from "../../bench/fuzz/live-fuzz.ts";
import { CORPUS } from "../../bench/fuzz/mutate.ts";
import { PROFILES, runParserFuzz } from "../../bench/fuzz/parser-fuzz.ts";
import { refStream } from "../../bench/fuzz/reference.ts";
import { type HttpServer } from "../../src/http/server.ts";
import { startWarren, type WarrenProcess } from "../helpers/warren-process.ts";
import { rssBytes, tinyModel, waitUntil } from "../helpers/hardening.ts";

const SEED = Number(process.env.WARREN_FUZZ_SEED ?? 20261127);
const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

describe("the fuzz corpus and the reference reading", () => {
  test("every corpus entry is a valid stream of complete requests to the reference", () => {
    for (const entry of CORPUS) {
      const r = refStream(bytes(entry), PROFILES[0]!);
      expect(`${JSON.stringify(entry)}: ${r.end} ${r.why ?? ""}`).toMatch(/: (incomplete|closed) $/);
      expect(r.requests.length).toBeGreaterThan(0);
    }
  });
});

describe(`parser fuzz, seed ${SEED}`, () => {
  test("100,000 mutated heads: never throws, keeps its return protocol, splitting or shifting never changes the answer, agrees with the reference", () => {
    const r = runParserFuzz({ cases: 100_000, seed: SEED });
    expect(r.findings).toEqual([]);
    expect(r.cases).toBe(100_000);
    // The mutations reach every kind of answer and most rejection codes, or the run proves little.
    expect(r.complete).toBeGreaterThan(10_000);
    expect(r.needMore).toBeGreaterThan(5_000);
    expect(r.errors).toBeGreaterThan(20_000);
    expect(Object.keys(r.byCode).length).toBeGreaterThanOrEqual(18);
  }, 60_000);
});

describe(`live fuzz on an in-process echo server (exact oracle), seed ${SEED}`, () => {
  let server: HttpServer;
  beforeAll(() => {
    server = startEchoServer();
  });
  afterAll(() => server.stop({ graceful: false }));

  test("3,000 connections: exactly the complete valid requests are answered, in order; every connection ends; nothing is left behind", async () => {
    Bun.gc(true);
    const heapBefore = process.memoryUsage().heapUsed;
    const r = await runLiveFuzz({ port: server.port, connections: 3000, concurrency: 100, seed: SEED, limits: LIVE_LIMITS, oracle: "exact", hangMs: 3000 });
    expect(r.findings).toEqual([]);
    expect(r.connections).toBe(3000);
    expect(r.answered).toBeGreaterThan(2500);
    await waitUntil(() => server.stats().openConnections === 0, "every fuzz connection to close");
    const s = server.stats();
    expect([s.activeRequests, s.queuedBytes]).toEqual([0, 0]);
    Bun.gc(true);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(32 * 2 ** 20);
    const ok = await fetch(`http://127.0.0.1:${server.port}/after`);
    expect(await ok.text()).toBe("GET /after 0");
  }, 60_000);
});

describe(`live fuzz on warren serve (the real CLI, weak oracle), seed ${SEED}`, () => {
  let w: WarrenProcess;
  const limits = { ...PROFILES[0]!, maxBodyBytes: 4096 };
  beforeAll(async () => {
    const model = await tinyModel();
    w = await startWarren(["--model", model, "--threads", "1", "--parallel", "2", "--header-timeout-ms", "200",
      "--body-timeout-ms", "200", "--keep-alive-timeout-ms", "100", "--max-body-bytes", String(limits.maxBodyBytes)]);
  }, 30_000);
  afterAll(() => w?.stop("SIGKILL"));

  test("1,000 connections: never more answers than complete requests plus one error, every connection ends, the process lives on", async () => {
    const port = Number(new URL(w.url).port);
    const rssBefore = rssBytes(w.proc.pid);
    const r = await runLiveFuzz({ port, connections: 1000, concurrency: 50, seed: SEED + 1, limits, oracle: "weak", hangMs: 5000 });
    expect(r.findings).toEqual([]);
    expect(w.proc.exitCode).toBeNull();
    expect((await fetch(`${w.url}/health`)).status).toBe(200);
    // Memory bounded: a thousand hostile connections must not leave the server much bigger.
    expect(rssBytes(w.proc.pid) - rssBefore).toBeLessThan(64 * 2 ** 20);
  }, 90_000);
});
