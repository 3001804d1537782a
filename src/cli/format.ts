// Text output helpers: numbers, terminal and markdown tables, command lines. Used by `warren bench`
// (reports and `--compare`) and by the project's own benchmarks.

export function fmt(v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "-";
  return v.toFixed(digits);
}

/** Thousands separators for counts and rates: 104,213. */
export function fmtInt(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "-";
  return Math.round(v).toLocaleString("en-US");
}

/** Three significant figures, for ratios and mixed-magnitude values in comparison tables. */
export function fmtSig(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "-";
  const a = Math.abs(v);
  if (a >= 1000 || Number.isInteger(v)) return fmtInt(v);
  if (a >= 100) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

type Align = "left" | "right";

/** Plain monospace table; the first column is left-aligned and the rest right-aligned unless told. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], align?: readonly Align[]): string {
  const widths = header.map((h, i) => Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[i] ?? ""))));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => {
        const a = align?.[i] ?? (i === 0 ? "left" : "right");
        const pad = " ".repeat(Math.max(0, widths[i]! - displayWidth(c)));
        return a === "left" ? c + pad : pad + c;
      })
      .join("  ")
      .trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [line(header), rule, ...rows.map(line)].join("\n") + "\n";
}

export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const esc = (c: string) => c.replace(/\|/g, "\\|");
  const head = `| ${header.map(esc).join(" | ")} |`;
  const rule = `|${header.map((_, i) => (i === 0 ? " --- " : " ---: ")).join("|")}|`;
  return [head, rule, ...rows.map((r) => `| ${r.map(esc).join(" | ")} |`)].join("\n") + "\n";
}

/** Wide (CJK) characters take two terminal columns; prompts in reports are often Chinese. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    w += (c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0xa4cf) || (c >= 0xac00 && c <= 0xd7a3) ||
      (c >= 0xf900 && c <= 0xfaff) || (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff60) ||
      (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x20000 && c <= 0x3fffd)
      ? 2
      : 1;
  }
  return w;
}

/** Quote argv for display as a shell command line. */
export function shellJoin(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
}
