// The logger: JSON lines (pino) or readable text, levels, and lines after close still written.
import { describe, expect, test } from "bun:test";
import { createLogger, resolveFormat } from "../src/log.ts";

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

  test("auto is text on a terminal and JSON otherwise", () => {
    expect(resolveFormat("auto", true)).toBe("text");
    expect(resolveFormat("auto", false)).toBe("json");
    expect(resolveFormat("json", true)).toBe("json");
  });
});
