// The logger: JSON lines (pino) or readable text, levels, and lines after close still written.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, openSync, readFileSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AccessEntry, createLogger, resolveFormat } from "../src/log.ts";

// A process that logs through the real stderr sink, then closes the logger and exits at once.
const WRITER = `
import { createLogger } from ${JSON.stringify(join(import.meta.dir, "../src/log.ts"))};
const log = createLogger("info", undefined, "json");
log.info("start");
for (let i = 0; i < 5000; i++) log.access({ method: "GET", path: "/health", status: 200, ms: 0, requestId: "r-" + i });
// The last access lines are still queued (under a batch, before the flush timer): close writes them.
await log.close();
process.exit(0);
`;

async function runWriter(stderr: "pipe" | number): Promise<string> {
  const proc = Bun.spawn({ cmd: [process.execPath, "-e", WRITER], stdout: "ignore", stderr });
  const text = stderr === "pipe" ? await new Response(proc.stderr as ReadableStream).text() : "";
  expect(await proc.exited).toBe(0);
  return text;
}

function checkLines(text: string): void {
  const lines = text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
  expect(lines).toHaveLength(5001);
  expect(lines[0].msg).toBe("start");
  expect(lines.slice(1).map((l) => l.request_id)).toEqual(Array.from({ length: 5000 }, (_, i) => `r-${i}`));
}

// Logs for a while after its stderr's reader has gone, then says whether it is still alive.
const SURVIVOR = `
import { createLogger } from ${JSON.stringify(join(import.meta.dir, "../src/log.ts"))};
const log = createLogger("info", undefined, "json");
let i = 0;
const t = setInterval(() => {
  for (let k = 0; k < 200; k++) log.access({ method: "GET", path: "/x", status: 200, ms: 0, requestId: "r" + i++ });
  log.info("tick");
}, 5);
setTimeout(async () => { clearInterval(t); await log.close(); console.log("survived"); process.exit(0); }, 1000);
`;

describe("the stderr sink: every line written, in order, before exit", () => {
  test("a stderr whose reader goes away (EPIPE) does not take the process down", async () => {
    const proc = Bun.spawn({ cmd: [process.execPath, "-e", SURVIVOR], stdout: "pipe", stderr: "pipe" });
    const reader = (proc.stderr as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await reader.cancel();
    expect(await new Response(proc.stdout as ReadableStream).text()).toBe("survived\n");
    expect(await proc.exited).toBe(0);
  });

  test("to a pipe", async () => checkLines(await runWriter("pipe")));
  test("to a file", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "warren-log-")), "err.log");
    const fd = openSync(path, "w");
    await runWriter(fd);
    closeSync(fd);
    checkLines(readFileSync(path, "utf8"));
  });
});

describe("logger", () => {
  test("JSON lines: level, ISO time, fields, msg; below the level nothing", () => {
    const lines: string[] = [];
    const log = createLogger("info", (l) => lines.push(l), "json");
    log.debug("hidden");
    log.info("GET /health 200", { method: "GET", status: 200, ms: 0.5, skipped: undefined });
    expect(lines).toHaveLength(1);
    const e = JSON.parse(lines[0]!);
    expect(e).toMatchObject({ level: "info", method: "GET", status: 200, ms: 0.5, msg: "GET /health 200" });
    expect(Number.isNaN(Date.parse(e.time))).toBe(false);
    expect("skipped" in e).toBe(false);
  });

  test("text lines: time, padded level, message, key=value (quoted when needed)", () => {
    const lines: string[] = [];
    const log = createLogger("debug", (l) => lines.push(l), "text");
    log.warn("careful", { path: "/a b", n: 3, t: 1.234 });
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z WARN  careful path="\/a b" n=3 t=1\.23$/);
  });

  test("after close, a late line is still written (the process is exiting), in its format", async () => {
    const lines: string[] = [];
    const log = createLogger("info", (l) => lines.push(l), "json");
    await log.close();
    log.error("late", { code: 1 });
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: "error", code: 1, msg: "late" });
  });

  test("access lines (JSON): the shape pino gives other lines, optional fields only when known, any target escaped", () => {
    const lines: string[] = [];
    const log = createLogger("info", (l) => lines.push(l), "json");
    log.access({ method: "GET", path: '/a"b\\c\u0001?q=1 2', status: 404, ms: 3, remote: "::1", requestId: "r-1" });
    log.access({ method: "POST", path: "/v1/completions", status: 200, ms: 12, promptTokens: 5, tokens: 7 });
    log.info("GET /x 200", { method: "GET", path: "/x", status: 200, ms: 1 });
    log.access({ method: "GET", path: "/t", status: 200, ms: 1, atMs: Date.UTC(2026, 0, 2, 3, 4, 5, 678) });
    const [a, b, c, d] = lines.map((l) => JSON.parse(l));
    // The time is when the request ended, where the caller says so.
    expect(d.time).toBe("2026-01-02T03:04:05.678Z");
    expect(a).toEqual({ level: "info", time: a.time, method: "GET", path: '/a"b\\c\u0001?q=1 2', status: 404, ms: 3, remote: "::1", request_id: "r-1", msg: 'GET /a"b\\c\u0001?q=1 2 404' });
    expect(Date.parse(a.time)).toBeGreaterThan(Date.parse("2020-01-01"));
    expect(b).toEqual({ level: "info", time: b.time, method: "POST", path: "/v1/completions", status: 200, ms: 12, prompt_tokens: 5, tokens: 7, msg: "POST /v1/completions 200" });
    // Same key order as an ordinary pino line with the same fields.
    expect(Object.keys(a).slice(0, 2)).toEqual(Object.keys(c).slice(0, 2));
    expect(Object.keys(a).at(-1)).toBe("msg");
  });

  test("access lines (text): one line, a target with spaces or control bytes quoted", () => {
    const lines: string[] = [];
    const log = createLogger("info", (l) => lines.push(l), "text");
    log.access({ method: "GET", path: "/health", status: 200, ms: 0, requestId: "abc" });
    log.access({ method: "GET", path: "/a b\n", status: 400, ms: 1 });
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z INFO  GET \/health 200 ms=0 request_id=abc$/);
    expect(lines[1]).toMatch(/ INFO  GET "\/a b\\n" 400 ms=1$/);
    expect(lines[1]).not.toContain("\n");
  });

  test("access lines stay right as requests alternate (pieces kept between lines never leak into another's)", () => {
    const json: string[] = [], text: string[] = [];
    const jlog = createLogger("info", (l) => json.push(l), "json");
    const tlog = createLogger("info", (l) => text.push(l), "text");
    const entries: AccessEntry[] = [];
    const paths = ["/health", "/v1/chat/completions", "/a b", "/x", "/y", "/health?z=1", '/q"'];
    for (let i = 0; i < 300; i++) {
      const e: AccessEntry = { method: i % 3 === 0 ? "POST" : "GET", path: paths[i % paths.length]!, status: [200, 404, 503, 0][i % 4]!, ms: [0, 3, 999, 1000, 12345, 1.5][i % 6]! };
      if (i % 5 !== 0) e.remote = i % 2 ? "127.0.0.1" : "::1";
      if (i % 7 !== 0) e.requestId = `id-${i}`;
      if (i % 4 === 1) (e.promptTokens = i), (e.tokens = i + 1);
      entries.push(e);
      jlog.access(e);
      tlog.access(e);
    }
    entries.forEach((e, i) => {
      const got = JSON.parse(json[i]!);
      const want: Record<string, unknown> = { level: "info", time: got.time, method: e.method, path: e.path, status: e.status, ms: e.ms };
      if (e.promptTokens !== undefined) Object.assign(want, { prompt_tokens: e.promptTokens, tokens: e.tokens });
      if (e.remote !== undefined) want.remote = e.remote;
      if (e.requestId !== undefined) want.request_id = e.requestId;
      want.msg = `${e.method} ${e.path} ${e.status}`;
      expect(got).toEqual(want);
      expect(Object.keys(got)).toEqual(Object.keys(want));
      const path = /[\s"]/.test(e.path) ? JSON.stringify(e.path) : e.path;
      let line = ` INFO  ${e.method} ${path} ${e.status} ms=${Number.isInteger(e.ms) ? e.ms : e.ms.toFixed(2)}`;
      if (e.promptTokens !== undefined) line += ` prompt_tokens=${e.promptTokens} tokens=${e.tokens}`;
      if (e.remote !== undefined) line += ` remote=${e.remote}`;
      if (e.requestId !== undefined) line += ` request_id=${e.requestId}`;
      expect(text[i]!.slice(text[i]!.indexOf(" "))).toBe(line);
    });
  });

  test("access lines follow the level: nothing below warn", () => {
    const lines: string[] = [];
    const log = createLogger("warn", (l) => lines.push(l), "json");
    log.access({ method: "GET", path: "/", status: 200, ms: 0 });
    expect(lines).toEqual([]);
  });

  test("auto is text on a terminal and JSON otherwise", () => {
    expect(resolveFormat("auto", true)).toBe("text");
    expect(resolveFormat("auto", false)).toBe("json");
    expect(resolveFormat("json", true)).toBe("json");
  });
});
