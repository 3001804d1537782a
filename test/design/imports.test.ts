// Keeps the dependency rules (docs/architecture.md) true by scanning every import in src/ and bench/.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve, dirname } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
const SRC = join(ROOT, "src");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

interface Source {
  path: string; // relative to the scanned base, e.g. "http/parser.ts" in src/
  text: string;
  imports: string[]; // bare specifiers, or paths relative to the base for local imports
}

// `import x from "m"`, `export ... from "m"`, `import "m"` (side effects only) and `import("m")`.
const IMPORT_RE = /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*["']([^"']+)["']|(?:^|\n)\s*import\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

/** Every .ts file under `dir`, its path and its local imports relative to `base`. */
function scanTree(dir: string, base: string): Source[] {
  return files(dir).map((abs) => {
    const text = readFileSync(abs, "utf8");
    const imports: string[] = [];
    for (const m of text.matchAll(IMPORT_RE)) {
      const spec = (m[1] ?? m[2] ?? m[3])!;
      imports.push(spec.startsWith(".") ? relative(base, resolve(dirname(abs), spec)) : spec);
    }
    return { path: relative(base, abs), text, imports };
  });
}

const sources = scanTree(SRC, SRC);
/** bench/ relative to the repository root: its local imports read "src/...", "bench/..." or "test/...". */
const benchSources = scanTree(join(ROOT, "bench"), ROOT);

const inLayer = (layer: string) => sources.filter((s) => s.path.startsWith(layer + "/"));

/** The API's inference-side dependencies: the one cross-layer edge the design allows (rule 3). */
const API_MAY_IMPORT = new Set([
  "inference/types.ts",
  "inference/scheduler.ts",
  "inference/engine.ts",
  "inference/chat/types.ts",
  "inference/chat-pipeline.ts",
  "inference/chat/history.ts",
  "inference/embedding.ts",
  "inference/registry.ts",
]);

/** The one module both api/ and http/ may import: it carries response facts across the boundary. */
const SHARED = "prepared-response.ts";

/** Every violation of a rule, as "file -> import: why"; a rule holds when the list is empty. */
function violations(check: (s: Source, i: string) => string | undefined, files: Source[] = sources): string[] {
  return files.flatMap((s) => s.imports.map((i) => check(s, i)).filter((v): v is string => v !== undefined).map((why) => `${s.path} -> ${why}`));
}

describe("dependency rules", () => {
  test("the scan sees every layer", () => {
    for (const layer of ["http", "api", "inference", "models", "loadtest", "cli"]) expect(inLayer(layer).length).toBeGreaterThan(2);
    expect(sources.some((s) => s.path === "http/server.ts")).toBe(true);
    expect(sources.some((s) => s.path === "main.ts")).toBe(true);
  });

  test("1. http/* except server.ts: no Bun, node:*, packages, timers or clock", () => {
    const others = inLayer("http").filter((s) => s.path !== "http/server.ts");
    expect(violations((_, i) => (i.startsWith("http/") || i === "limits.ts" || i === SHARED ? undefined : `${i}: outside http/, limits.ts and ${SHARED}`), others)).toEqual([]);
    const clock = others.flatMap((s) => [...s.text.matchAll(/\b(Bun\.|setTimeout|setInterval|Date\.now|performance\.now)/g)].map((m) => `${s.path}: ${m[1]}`));
    expect(clock).toEqual([]);
  });

  test("1b. http/ files import one another without cycles (type imports too): each only from files below it", () => {
    const http = new Map(inLayer("http").map((s) => [s.path, s.imports.filter((i) => i.startsWith("http/"))]));
    const cycles: string[] = [];
    const state = new Map<string, "open" | "done">();
    const visit = (file: string, path: string[]): void => {
      if (state.get(file) === "done") return;
      if (state.get(file) === "open") {
        cycles.push([...path.slice(path.indexOf(file)), file].join(" -> "));
        return;
      }
      state.set(file, "open");
      for (const next of http.get(file) ?? []) visit(next, [...path, file]);
      state.set(file, "done");
    };
    for (const file of http.keys()) visit(file, []);
    expect(cycles).toEqual([]);
  });

  test("2. http/server.ts sees the application only as a handler", () => {
    const server = sources.filter((s) => s.path === "http/server.ts");
    expect(violations((_, i) => (/^(api|inference|models)\//.test(i) ? i : undefined), server)).toEqual([]);
  });

  test(`2. api/ and http/ share exactly one module, ${SHARED}, which imports neither (nor anything else)`, () => {
    const importedBy = (layer: string) => new Set(inLayer(layer).flatMap((s) => s.imports));
    const api = importedBy("api");
    // limits.ts is named constants, imported by http/server.ts (rule 1 allows it) and by api/.
    const shared = [...importedBy("http")].filter((i) => api.has(i) && i !== "limits.ts");
    expect(shared).toEqual([SHARED]);
    const module = sources.find((s) => s.path === SHARED)!;
    expect(module.imports).toEqual([]);
    // Imported by http/, it keeps rule 1 too.
    expect(module.text).not.toMatch(/\b(Bun\.|setTimeout|setInterval|Date\.now|performance\.now)/);
  });

  test("3. api/ never imports http/; from inference only the listed public modules", () => {
    const found = violations((_, i) => {
      if (i.startsWith("http/")) return `${i}: api/ never imports http/`;
      if (i.startsWith("inference/") && !API_MAY_IMPORT.has(i)) return `${i}: not one of the inference modules api/ may use`;
      return undefined;
    }, inLayer("api"));
    expect(found).toEqual([]);
  });

  test("4. inference/ never imports api/ or http/; only inference/llama/ imports node-llama-cpp; no HTTP statuses", () => {
    const found = violations((s, i) => {
      if (/^(api|http)\//.test(i)) return `${i}: inference/ never imports api/ or http/`;
      if (i === "node-llama-cpp" && !s.path.startsWith("inference/llama/")) return `${i}: only inference/llama/ may`;
      return undefined;
    }, inLayer("inference"));
    expect(found).toEqual([]);
    const statuses = inLayer("inference").filter((s) => /\b(status|statusCode)\s*:\s*[45]\d\d\b/.test(s.text)).map((s) => s.path);
    expect(statuses).toEqual([]);
  });

  test("5. node-llama-cpp only under inference/llama/ and in the model store (models/)", () => {
    const found = violations((s, i) => (i === "node-llama-cpp" && !s.path.startsWith("inference/llama/") && !s.path.startsWith("models/") ? `${i}: only inference/llama/ and models/ may` : undefined));
    expect(found).toEqual([]);
    expect(inLayer("models").some((s) => s.imports.includes("node-llama-cpp"))).toBe(true);
  });

  test("5. only main.ts wires layers together", () => {
    const found = sources
      .filter((s) => s.path !== "main.ts")
      .flatMap((s) => {
        const own = s.path.split("/")[0];
        const reached = new Set(s.imports.filter((i) => /^(api|http|inference|models)\//.test(i)).map((i) => i.split("/")[0]));
        reached.delete(own);
        // api -> inference is the one cross-layer edge the design allows.
        if (own === "api") reached.delete("inference");
        return [...reached].map((layer) => `${s.path} reaches ${layer}/`);
      });
    expect(found).toEqual([]);
  });

  test("6. src/ never imports bench/ or test/ (nothing outside src/ but package.json)", () => {
    const found = violations((_, i) => (i.startsWith("../") && i !== "../package.json" ? `${i}: outside src/` : undefined));
    expect(found).toEqual([]);
  });

  test("6. bench/ may import src/, never test/", () => {
    expect(benchSources.some((s) => s.imports.some((i) => i.startsWith("src/")))).toBe(true);
    const found = violations((_, i) => (i.startsWith("test/") ? `${i}: bench/ never imports test/` : undefined), benchSources);
    expect(found).toEqual([]);
  });

  test("7. the console is browser code: web/app/ imports only itself and eventsource-parser; only main.ts reaches web/", () => {
    const app = inLayer("web/app");
    expect(app.length).toBeGreaterThan(5);
    expect(violations((_, i) => (i.startsWith("web/app/") || i === "eventsource-parser" ? undefined : `${i}: not browser code of the console`), app)).toEqual([]);
    const reachers = sources.filter((s) => !s.path.startsWith("web/") && s.imports.some((i) => i.startsWith("web/"))).map((s) => s.path);
    expect(reachers).toEqual(["main.ts"]);
  });

  test("the load tool is a client: loadtest/ and cli/ reach no server layer; cli/ is below loadtest/", () => {
    const found = violations((s, i) => {
      if (/^(api|http|inference|models)\//.test(i)) return `${i}: not for the load tool or the CLI helpers`;
      if (s.path.startsWith("cli/") && i.startsWith("loadtest/")) return `${i}: cli/ is shared, loadtest/ builds on it`;
      return undefined;
    }, [...inLayer("loadtest"), ...inLayer("cli")]);
    expect(found).toEqual([]);
  });
});
