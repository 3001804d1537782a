// No dead exports: every name a module of src/, bench/, test/ or scripts/ exports is imported by
// another module, apart from the entry points below. An export nobody imports is either dead code
// or a module's private part, which its file should keep to itself.
import { describe, expect, test } from "bun:test";
import { projectModules } from "./scan.ts";

/** Exports no module imports by name, and why they stay. */
const ENTRY_POINTS: Record<string, string> = {
  "src/compiled/runtime.ts: loadNodeLlamaCpp": "imported by the module scripts/build.ts writes into the single executable (a string there)",
};

const modules = projectModules();

/** "path: name" for every export no other module imports. */
function deadExports(): string[] {
  const used = new Map<string, Set<string>>();
  for (const m of modules) {
    for (const edge of m.imports) {
      if (edge.target === m.path) continue;
      const names = used.get(edge.target) ?? new Set<string>();
      for (const n of edge.names) names.add(n);
      used.set(edge.target, names);
    }
  }
  return modules.flatMap((m) => {
    const names = used.get(m.path);
    if (names?.has("*")) return [];
    return m.exports.filter((e) => !names?.has(e)).map((e) => `${m.path}: ${e}`);
  });
}

describe("no dead exports", () => {
  test("the scan follows every kind of import", () => {
    const edge = (from: string, to: string) => modules.find((m) => m.path === from)!.imports.filter((i) => i.target === to).flatMap((i) => i.names);
    // Named, destructured dynamic, property of a dynamic import, namespace members, type-only.
    expect(edge("src/inference/scheduler.ts", "src/inference/batch.ts")).toEqual(["buildWork"]);
    expect(edge("src/inference/model-check.ts", "src/inference/llama/gguf-header.ts").sort()).toEqual(["ModelHeader", "readModelHeader"]);
    expect(edge("src/main.ts", "src/models/cli.ts")).toEqual(["runModelCli"]);
    const limits = edge("src/config.ts", "src/limits.ts");
    expect(limits.length).toBeGreaterThan(3);
    expect(limits).not.toContain("*");
    expect(modules.find((m) => m.path === "src/models/quant.ts")!.exports).toEqual(expect.arrayContaining(["Q8_0_BLOCK", "Q8_0_BYTES", "quantizeQ8_0"]));
  });

  test("every export is imported somewhere, or is a listed entry point", () => {
    const dead = deadExports();
    expect(dead.filter((d) => !(d in ENTRY_POINTS)).sort()).toEqual([]);
    // The entry points are still exports (a stale entry would hide a new dead export of that name).
    for (const entry of Object.keys(ENTRY_POINTS)) expect(dead).toContain(entry);
  });
});
