// `--compare A.json B.json`: two saved reports side by side with the ratio B/A.
// Works on any report this tool writes by walking its numeric leaves, so a new metric shows up
// without touching this file. Raw per-request data and the configuration are not compared.

import { readFileSync } from "node:fs";
import { ArgError } from "../cli/args.ts";
import { fmtSig, table } from "../cli/format.ts";

/** Subtrees that are inputs or raw data, not results. */
const SKIP_KEYS = new Set(["config", "requests", "rounds", "machine", "version", "notes"]);
/** Distribution extremes and sample counts: noisy or not a result; median/mean/p50/p90/p99 stay. */
const SKIP_LEAVES = new Set(["n", "min", "max"]);
/** Path prefixes that only repeat what every row would say. */
const STRIP = /^(summary|results)\./;

interface CompareRow {
  readonly metric: string;
  readonly a: number | null;
  readonly b: number | null;
  readonly ratio: number | null;
}

export function flattenNumbers(v: unknown, prefix = "", out = new Map<string, number>()): Map<string, number> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return out;
  for (const [k, child] of Object.entries(v)) {
    if (SKIP_KEYS.has(k)) continue;
    const path = prefix ? `${prefix}.${k}` : k;
    if (typeof child === "number" && Number.isFinite(child)) {
      if (!SKIP_LEAVES.has(k)) out.set(path.replace(STRIP, ""), child);
    } else {
      flattenNumbers(child, path, out);
    }
  }
  return out;
}

export function compareReports(a: unknown, b: unknown): CompareRow[] {
  const fa = flattenNumbers(a);
  const fb = flattenNumbers(b);
  const keys = [...fa.keys(), ...[...fb.keys()].filter((k) => !fa.has(k))];
  return keys.map((metric) => {
    const x = fa.get(metric) ?? null;
    const y = fb.get(metric) ?? null;
    return { metric, a: x, b: y, ratio: x !== null && y !== null && x !== 0 ? y / x : null };
  });
}

export function readReport(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ArgError(`--compare: cannot read ${path} (${(e as { code?: string }).code ?? "error"})`);
  }
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through to the error below
  }
  throw new ArgError(`--compare: ${path} is not a JSON report written by warren bench`);
}

export function formatComparison(pathA: string, a: Record<string, unknown>, pathB: string, b: Record<string, unknown>): string {
  const describe = (p: string, r: Record<string, unknown>) =>
    `${p}${typeof r.command === "string" ? `  (${r.command}` : "  ("}${typeof r.date === "string" ? `, ${r.date})` : ")"}`;
  let out = `A: ${describe(pathA, a)}\nB: ${describe(pathB, b)}\n`;
  if (a.kind !== b.kind) out += `note: the reports are of different kinds (${String(a.kind)} vs ${String(b.kind)})\n`;
  out += "\n";
  const rows = compareReports(a, b).map((r) => [r.metric, fmtSig(r.a), fmtSig(r.b), r.ratio === null ? "-" : `${r.ratio.toFixed(3)}x`]);
  return out + table(["metric", "A", "B", "B/A"], rows);
}
