// Dependencies in src/ point one way. No file imports itself back through others (type-only
// imports included: they still tie two files' designs together), and no folder does: in every
// folder, counting each sub-folder with everything below it as one node beside the folder's own
// files, the imports between those nodes form no cycle (api/openai -> api/errors.ts is fine;
// api/openai -> api/responses -> api/openai is not).
import { describe, expect, test } from "bun:test";
import { projectModules } from "./scan.ts";

const src = projectModules().filter((m) => m.path.startsWith("src/"));
const edges: Array<[string, string]> = src.flatMap((m) => m.imports.filter((i) => i.target.startsWith("src/")).map((i): [string, string] => [m.path, i.target]));

/** Strongly connected components with more than one node (Tarjan), each sorted, sorted by first node. */
function cycles(pairs: ReadonlyArray<readonly [string, string]>): string[][] {
  const graph = new Map<string, Set<string>>();
  for (const [a, b] of pairs) {
    if (a === b) continue;
    graph.set(a, (graph.get(a) ?? new Set()).add(b));
    if (!graph.has(b)) graph.set(b, new Set());
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    for (const w of graph.get(v)!) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    for (let w = ""; w !== v; ) component.push((w = stack.pop()!));
    if (component.length > 1) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** For each folder: the imports between its children (a sub-folder stands for everything below it). */
function folderEdges(pairs: ReadonlyArray<readonly [string, string]>): Map<string, Array<[string, string]>> {
  const byFolder = new Map<string, Array<[string, string]>>();
  for (const [a, b] of pairs) {
    const sa = a.split("/");
    const sb = b.split("/");
    // The deepest folder holding both, and the child of it each file lies in.
    let i = 0;
    while (i < Math.min(sa.length, sb.length) - 1 && sa[i] === sb[i]) i++;
    const folder = sa.slice(0, i).join("/");
    const child = (s: string[]) => s.slice(0, i + 1).join("/") + (s.length > i + 1 ? "/" : "");
    byFolder.set(folder, [...(byFolder.get(folder) ?? []), [child(sa), child(sb)]]);
  }
  return byFolder;
}

/** Per folder, the cycles between its children that pass through a sub-folder (file-only cycles are file cycles). */
function folderCycles(pairs: ReadonlyArray<readonly [string, string]>): string[] {
  return [...folderEdges(pairs)].flatMap(([folder, inside]) =>
    cycles(inside).filter((c) => c.some((n) => n.endsWith("/"))).map((c) => `in ${folder}/: ${c.join(" <-> ")}`),
  );
}

describe("import cycles in src/", () => {
  test("the scan sees the graph (a cycle is found when there is one)", () => {
    expect(edges.length).toBeGreaterThan(200);
    expect(edges).toContainEqual(["src/inference/scheduler.ts", "src/inference/jobs.ts"]);
    // A type-only import is an edge too.
    expect(edges).toContainEqual(["src/inference/model-check.ts", "src/inference/llama/gguf-header.ts"]);
    expect(cycles([["a", "b"], ["b", "c"], ["c", "a"], ["c", "d"]])).toEqual([["a", "b", "c"]]);
  });

  test("no file cycles", () => {
    expect(cycles(edges)).toEqual([]);
  });

  test("no folder cycles", () => {
    expect(folderCycles(edges)).toEqual([]);
  });

  test("what counts as a folder cycle", () => {
    // Sibling folders importing each other, even through a file of the parent folder: a cycle.
    expect(folderCycles([["src/a/x.ts", "src/b/y.ts"], ["src/b/y.ts", "src/a/z.ts"]])).toEqual(["in src/: src/a/ <-> src/b/"]);
    expect(folderCycles([["src/a/x.ts", "src/f.ts"], ["src/f.ts", "src/b/y.ts"], ["src/b/y.ts", "src/a/z.ts"]])).toEqual(["in src/: src/a/ <-> src/b/ <-> src/f.ts"]);
    // A sub-folder using its parent's files, which in turn use other files of the sub-folder: not a cycle of folders.
    expect(folderCycles([["src/p.ts", "src/a/x.ts"], ["src/a/y.ts", "src/q.ts"]])).toEqual([]);
  });
});
