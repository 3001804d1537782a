// The catalogue: model names from --model values and folder files, the order of sources, what a
// folder scan lists and skips, rescans, and each model's settings from the models file.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Catalogue, CatalogueError, modelArgument, nameOfFile, withSlotContext } from "../../src/inference/catalogue.ts";
import { SETTINGS } from "../helpers/registry.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "warren-catalogue-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const touch = (...parts: string[]) => {
  mkdirSync(join(dir, ...parts.slice(0, -1)), { recursive: true });
  writeFileSync(join(dir, ...parts), "GGUF");
};
const names = (c: Catalogue) => c.list().map((m) => m.name);

describe("names", () => {
  test("FILE is named by its file; NAME=FILE by NAME; an existing file with '=' in its name is a file", () => {
    expect(modelArgument("/m/Qwen3-8B-Q4_K_M.gguf")).toEqual({ name: "Qwen3-8B-Q4_K_M", path: "/m/Qwen3-8B-Q4_K_M.gguf" });
    expect(modelArgument("qwen=/m/q.gguf")).toEqual({ name: "qwen", path: "/m/q.gguf" });
    touch("a=b.gguf");
    expect(modelArgument(join(dir, "a=b.gguf"))).toEqual({ name: "a=b", path: join(dir, "a=b.gguf") });
    expect(nameOfFile("/m/big-00001-of-00003.gguf")).toBe("big");
    expect(nameOfFile("/m/Model.GGUF")).toBe("Model");
  });

  test("two models of one name, or a name with control characters, are refused at start", () => {
    expect(() => new Catalogue({ models: ["/a/x.gguf", "/b/x.gguf"], defaults: SETTINGS })).toThrow(CatalogueError);
    expect(() => new Catalogue({ models: ["/a/x.gguf", "/b/x.gguf"], defaults: SETTINGS })).toThrow(/two models are named "x"/);
    expect(() => new Catalogue({ models: ["bad\tname=/a.gguf"], defaults: SETTINGS })).toThrow(/control characters/);
  });
});

describe("--models-dir", () => {
  test("every GGUF below the folder, named by its path from it; later parts, projectors, dotfiles and other files skipped", () => {
    touch("b.gguf");
    touch("a.gguf");
    touch("org", "chat-model.gguf");
    touch("split-00001-of-00002.gguf");
    touch("split-00002-of-00002.gguf");
    touch("mmproj-vision.gguf");
    touch(".hidden.gguf");
    touch("notes.txt");
    touch("1", "2", "3", "deep.gguf");
    touch("1", "2", "3", "4", "too-deep.gguf");
    const c = new Catalogue({ models: [], dir, defaults: SETTINGS });
    expect(names(c)).toEqual(["1/2/3/deep", "a", "b", "org/chat-model", "split"]);
    expect(c.find("split")!.path).toBe(join(dir, "split-00001-of-00002.gguf"));
    expect(c.single).toBe(false);
  });

  test("--model entries come first and keep their name; the folder is read again on rescan", () => {
    touch("a.gguf");
    const c = new Catalogue({ models: [`a=${join(dir, "elsewhere.gguf")}`, "/x/first.gguf"], dir, defaults: SETTINGS });
    expect(names(c)).toEqual(["a", "first"]);
    expect(c.find("a")!.path).toBe(join(dir, "elsewhere.gguf"));
    touch("new.gguf");
    expect(names(c)).toEqual(["a", "first"]);
    c.rescan();
    expect(names(c)).toEqual(["a", "first", "new"]);
    rmSync(join(dir, "new.gguf"));
    c.rescan();
    expect(c.find("new")).toBeUndefined();
  });

  test("a folder that is not there is refused at start; one that goes away later lists nothing", () => {
    expect(() => new Catalogue({ models: [], dir: join(dir, "nope"), defaults: SETTINGS })).toThrow(/--models-dir="[^"]+": not a folder/);
    touch("m", "a.gguf");
    const c = new Catalogue({ models: [], dir: join(dir, "m"), defaults: SETTINGS });
    rmSync(join(dir, "m"), { recursive: true });
    expect(c.rescan()).toEqual([]);
    expect(c.lastScanProblem).toContain("is not a folder any more");
  });

  test("a symlink loop is walked only to the depth limit", () => {
    touch("a.gguf");
    symlinkSync(dir, join(dir, "loop"));
    const c = new Catalogue({ models: [], dir, defaults: SETTINGS });
    expect(names(c)).toEqual(["a", "loop/a", "loop/loop/a", "loop/loop/loop/a"]);
  });
});

describe("settings", () => {
  test("ctx-size is all of a model's slots together: divided among its own parallel; its own ctx-per-slot wins over the flag's ctx-size", () => {
    touch("a.gguf");
    touch("b.gguf");
    touch("c.gguf");
    const file = new Map([
      ["a", { settings: { parallel: 4 } }],
      ["b", { settings: { ctxSize: 300 } }],
      ["c", { settings: { ctxTotal: 1000, parallel: 3 } }],
    ]);
    const c = new Catalogue({ models: [], dir, file, defaults: { ...SETTINGS, parallel: 2, ctxTotal: 4096 } });
    expect(c.find("a")!.settings).toMatchObject({ parallel: 4, ctxSize: 1024, ctxTotal: 4096 });
    expect(c.find("b")!.settings).toMatchObject({ parallel: 2, ctxSize: 300 });
    expect(c.find("b")!.settings.ctxTotal).toBeUndefined();
    expect(c.find("c")!.settings).toMatchObject({ parallel: 3, ctxSize: 333 });
  });

  test("ctx-size 0 waits for the model's training context; a slot of fewer than 8 tokens is refused", () => {
    const zero = { ...SETTINGS, parallel: 4, ctxTotal: 0 };
    expect(withSlotContext(zero, undefined, "m")).toBe(zero);
    expect(withSlotContext(zero, 8192, "m").ctxSize).toBe(2048);
    expect(() => withSlotContext({ ...SETTINGS, parallel: 4, ctxTotal: 16 }, undefined, "m")).toThrow(/model "m": ctx-size 16: 16 tokens among 4 slots is 4 per slot/);
  });

  test("each model gets the flags' settings, overridden by its models-file entry; an entry with a path adds a model", () => {
    touch("a.gguf");
    const file = new Map([
      ["a", { settings: { ctxSize: 4096, keepAliveMs: 60_000 } }],
      ["extra", { path: join(dir, "x.gguf"), settings: { parallel: 1 } }],
    ]);
    const c = new Catalogue({ models: [], dir, file, defaults: SETTINGS });
    expect(names(c)).toEqual(["extra", "a"]);
    expect(c.find("a")!.settings).toEqual({ ...SETTINGS, ctxSize: 4096, keepAliveMs: 60_000 });
    expect(c.find("extra")!.settings).toEqual({ ...SETTINGS, parallel: 1 });
  });

  test("a single --model is a single-model catalogue; a models-file entry that names no model and gives no path is refused", () => {
    expect(new Catalogue({ models: ["/m/a.gguf"], defaults: SETTINGS }).single).toBe(true);
    const file = new Map([["ghost", { settings: { parallel: 1 } }]]);
    expect(() => new Catalogue({ models: ["/m/a.gguf"], file, defaults: SETTINGS })).toThrow(/names "ghost", which no --model gives: give it a path/);
  });
});
