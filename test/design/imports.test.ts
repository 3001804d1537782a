// Keeps the dependency rules of DESIGN.md true by scanning every import in src/.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve, dirname } from "node:path";

const SRC = resolve(import.meta.dir, "../../src");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

interface Source {
  path: string; // relative to src/, e.g. "http/parser.ts"
  text: string;
  imports: string[]; // bare specifiers, or paths relative to src/ for local imports
}

const IMPORT_RE = /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

const sources: Source[] = files(SRC).map((abs) => {
  const text = readFileSync(abs, "utf8");
  const imports: string[] = [];
  for (const m of text.matchAll(IMPORT_RE)) {
    const spec = (m[1] ?? m[2])!;
    imports.push(spec.startsWith(".") ? relative(SRC, resolve(dirname(abs), spec)) : spec);
  }
  return { path: relative(SRC, abs), text, imports };
});

const inLayer = (layer: string) => sources.filter((s) => s.path.startsWith(layer + "/"));

describe("DESIGN.md dependency rules", () => {
  test("the scan sees the layers", () => {
    expect(inLayer("inference").length).toBeGreaterThan(3);
    expect(inLayer("api").length).toBeGreaterThan(2);
  });

  test("1. http/* except server.ts: no Bun, node:*, timers or clock", () => {
    for (const s of inLayer("http")) {
      if (s.path === "http/server.ts") continue;
      // Only its own layer and the limits table: no packages, no bun, no node:*.
      for (const i of s.imports) expect(`${s.path} imports ${i}: ${i.startsWith("http/") || i === "limits.ts"}`).toEndWith("true");
      expect(`${s.path}: ${s.text.match(/\b(Bun\.|setTimeout|setInterval|Date\.now|performance\.now)\b/)?.[0] ?? "clean"}`).toEndWith("clean");
    }
  });

  test("2. http/server.ts sees the application only as a handler", () => {
    const server = sources.find((s) => s.path === "http/server.ts");
    if (!server) return; // not written yet is caught by the e2e tests
    for (const i of server.imports) expect(i).not.toMatch(/^(api|inference|models)\//);
  });

  test("3. api/ never imports http/; from inference only types, engine types, the scheduler, the chat pipeline and the embedding interface", () => {
    const allowed = new Set([
      "inference/types.ts",
      "inference/scheduler.ts",
      "inference/engine.ts",
      "inference/chat/types.ts",
      "inference/chat/pipeline.ts",
      "inference/chat/history.ts",
      "inference/embedding.ts",
    ]);
    for (const s of inLayer("api")) {
      for (const i of s.imports) {
        expect(`${s.path} -> ${i}`).not.toMatch(/-> http\//);
        if (i.startsWith("inference/")) expect(`${s.path} -> ${i}: ${allowed.has(i)}`).toEndWith("true");
      }
    }
  });

  test("4. inference/ never imports api/ or http/; only inference/llama/ imports node-llama-cpp", () => {
    for (const s of inLayer("inference")) {
      for (const i of s.imports) {
        expect(`${s.path} -> ${i}`).not.toMatch(/-> (api|http)\//);
        if (i === "node-llama-cpp") expect(s.path).toStartWith("inference/llama/");
      }
      expect(`${s.path}: ${/\b(status|statusCode)\s*:\s*[45]\d\d\b/.test(s.text)}`).toEndWith("false");
    }
  });

  test("5. only main.ts wires layers together", () => {
    for (const s of sources) {
      if (s.path === "main.ts") continue;
      const layers = new Set(s.imports.filter((i) => /^(api|http|inference|models)\//.test(i)).map((i) => i.split("/")[0]));
      const own = s.path.split("/")[0];
      layers.delete(own);
      // api -> inference is the one cross-layer edge the design allows.
      if (own === "api") layers.delete("inference");
      expect(`${s.path} reaches ${[...layers].join(",") || "nothing"}`).toEndWith("nothing");
    }
  });
});
