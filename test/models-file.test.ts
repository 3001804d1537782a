// The models file (--models-file): TOML or JSON, each entry checked by the flags' own rules, every
// problem named by file, model and field; and the serve flags that go with several models.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, keepAliveIdleMs, loadConfig, modelsFrom } from "../src/config.ts";
import { formatKeepAlive, parseKeepAlive } from "../src/duration.ts";
import { readModelsFile } from "../src/models-file.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "warren-models-file-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function problems(path: string): string[] {
  try {
    readModelsFile(path);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message.split("\n");
  }
  throw new Error("expected a ConfigError");
}

describe("--models-file", () => {
  test("TOML: settings by flag name, paths from the file's folder, keep-alive in ms", () => {
    const path = file(
      "ok.toml",
      ['[models."qwen3-8b"]', 'path = "weights/q.gguf"', "parallel = 2", "ctx-size = 8192", 'threads = "auto"', 'chat-template = "chatML"', 'keep-alive-idle = "10m"', "", "[models.other]", "max-queue = 0"].join("\n"),
    );
    const m = readModelsFile(path);
    expect([...m.keys()]).toEqual(["qwen3-8b", "other"]);
    expect(m.get("qwen3-8b")).toEqual({ path: join(dir, "weights/q.gguf"), settings: { parallel: 2, ctxTotal: 8192, threads: "auto", chatTemplate: "chatML", keepAliveMs: 600_000 } });
    expect(m.get("other")).toEqual({ path: undefined, settings: { maxQueue: 0 } });
  });

  test("ctx-size is the model's whole context (ctxTotal), ctx-per-slot one slot's (ctxSize); not both", () => {
    const m = readModelsFile(file("ctx.toml", ["[models.a]", "ctx-size = 8192", "[models.b]", "ctx-per-slot = 1024"].join("\n")));
    expect(m.get("a")!.settings).toEqual({ ctxTotal: 8192 });
    expect(m.get("b")!.settings).toEqual({ ctxSize: 1024 });
    const path = file("both.toml", ["[models.a]", "ctx-size = 8192", "ctx-per-slot = 1024"].join("\n"));
    expect(problems(path)).toEqual([`${path}: model "a": give ctx-size (all slots together) or ctx-per-slot (one slot), not both`]);
  });

  test("JSON works the same", () => {
    const m = readModelsFile(file("ok.json", JSON.stringify({ models: { a: { "batch-size": 256, "flash-attention": "off", "keep-alive-idle": 30 } } })));
    expect(m.get("a")!.settings).toEqual({ batchSize: 256, flashAttention: "off", keepAliveMs: 30_000 });
  });

  test("every bad entry is named: the file, the model, the field and the rule", () => {
    const path = file(
      "bad.toml",
      [
        "[models.a]",
        "parallel = 0",
        "ctx-size = 12.5",
        "[models.b]",
        "slots = 4",
        '[models.c]',
        'flash-attention = "maybe"',
        '[models.d]',
        'keep-alive-idle = "soon"',
        '[models.e]',
        'chat-template = "missing.jinja"',
      ].join("\n"),
    );
    const p = problems(path);
    expect(p).toContain(`${path}: model "a": parallel=0: must be an integer from 1 to 256`);
    expect(p).toContain(`${path}: model "a": ctx-size=12.5: must be an integer from 0 to 268435456`);
    expect(p.find((l) => l.startsWith(`${path}: model "b": unknown field "slots"`))).toBeDefined();
    expect(p.find((l) => l.startsWith(`${path}: model "c": flash-attention="maybe": must be one of auto | on | off`))).toBeDefined();
    expect(p.find((l) => l.startsWith(`${path}: model "d": keep-alive-idle="soon": must be a duration`))).toBeDefined();
    expect(p.find((l) => l.startsWith(`${path}: model "e": chat-template: "missing.jinja": cannot read it (ENOENT)`))).toBeDefined();
    expect(p).toHaveLength(6);
  });

  test("a file that cannot be read, has the wrong extension, does not parse, or has no models table", () => {
    expect(problems(join(dir, "absent.toml"))[0]).toMatch(/^--models-file=".*absent\.toml": cannot read it \(ENOENT\)$/);
    expect(problems(file("m.yaml", "models: {}"))[0]).toMatch(/must end in \.toml or \.json/);
    expect(problems(file("broken.toml", "[models.a\nx = 1"))[0]).toMatch(/broken\.toml: not valid TOML/);
    expect(problems(file("broken.json", "{"))[0]).toMatch(/broken\.json: not valid JSON/);
    expect(problems(file("flat.toml", "parallel = 2"))[0]).toMatch(/must hold one table, "models".*found "parallel"/);
  });
});

describe("serve flags for several models", () => {
  test("--model may be given several times; once stays a plain string", () => {
    expect(loadConfig(["--model", "a.gguf"], {}).model).toBe("a.gguf");
    const c = loadConfig(["--model", "a.gguf", "--model=b=/m/b.gguf"], {});
    expect(modelsFrom(c)).toEqual(["a.gguf", "b=/m/b.gguf"]);
    expect(modelsFrom(loadConfig([], { WARREN_MODEL: "env.gguf" }))).toEqual(["env.gguf"]);
    expect(() => loadConfig(["--model="], {})).toThrow(/--model="": must not be empty/);
  });

  test("--models-dir, --models-file and --models-max; --keep-alive-idle takes Ollama's durations", () => {
    const d = loadConfig([], {});
    expect([d.modelsDir, d.modelsFile, d.modelsMax, keepAliveIdleMs(d)]).toEqual(["", "", 4, Infinity]);
    const c = loadConfig(["--models-dir", "/m", "--models-max", "0", "--keep-alive-idle", "5m"], {});
    expect([c.modelsDir, c.modelsMax, keepAliveIdleMs(c)]).toEqual(["/m", 0, 300_000]);
    expect(() => loadConfig(["--keep-alive-idle", "later"], {})).toThrow(/--keep-alive-idle="later": must be a duration/);
    expect(() => loadConfig([], { WARREN_KEEP_ALIVE_IDLE: "x" })).toThrow(/WARREN_KEEP_ALIVE_IDLE="x"/);
    expect(() => loadConfig(["--models-max", "-1"], {})).toThrow(/--models-max="-1": must be an integer from 0 to 1024/);
  });

  test("keep-alive durations: units, bare seconds, 0, and negative or 'forever' for never", () => {
    const cases: Array<[string | number, number | undefined]> = [
      ["5m", 300_000], ["30s", 30_000], ["1h", 3_600_000], ["250ms", 250], ["90", 90_000], [90, 90_000], [0, 0], ["0", 0],
      ["-1", Infinity], [-1, Infinity], ["forever", Infinity], ["1.5s", 1500], ["", undefined], ["5 minutes", undefined], [Number.NaN, undefined],
    ];
    for (const [v, ms] of cases) expect(`${JSON.stringify(v)} -> ${parseKeepAlive(v)}`).toBe(`${JSON.stringify(v)} -> ${ms}`);
    expect([Infinity, 0, 300_000, 90_000, 7_200_000, 250].map(formatKeepAlive)).toEqual(["forever", "0s", "5m", "90s", "2h", "250ms"]);
  });
});
