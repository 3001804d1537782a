// A small flag parser driven by a spec table, so the usage text and the parser cannot disagree.
// Accepts `--name value`, `--name=value`, `--flag`, `--no-flag`; anything unknown is an ArgError
// (the CLI maps ArgError to exit code 2).

export type FlagType = "string" | "int" | "number" | "bool" | "pair";

export interface FlagSpec {
  readonly name: string;
  readonly type: FlagType;
  readonly help: string;
  /** Shown in usage after the flag name, e.g. "N" or "FILE". */
  readonly arg?: string;
}

export type FlagValue = string | number | boolean | readonly [string, string];

export interface ParsedArgs {
  readonly flags: ReadonlyMap<string, FlagValue>;
  readonly positional: readonly string[];
}

export class ArgError extends Error {
  override readonly name = "ArgError";
}

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const flags = new Map<string, FlagValue>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === "--") {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!token.startsWith("--") || token.length === 2) {
      positional.push(token);
      continue;
    }
    const eq = token.indexOf("=");
    const name = token.slice(2, eq < 0 ? undefined : eq);
    const inline = eq < 0 ? undefined : token.slice(eq + 1);
    const negated = name.startsWith("no-") ? byName.get(name.slice(3)) : undefined;
    if (negated?.type === "bool" && !byName.has(name)) {
      if (inline !== undefined) throw new ArgError(`--${name} takes no value`);
      flags.set(negated.name, false);
      continue;
    }
    const spec = byName.get(name);
    if (!spec) throw new ArgError(`unknown option --${name}`);
    if (spec.type === "bool") {
      flags.set(name, inline === undefined ? true : parseBool(name, inline));
      continue;
    }
    const arity = spec.type === "pair" ? 2 : 1;
    const values = inline !== undefined ? [inline] : [];
    while (values.length < arity) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith("--") && next.length > 2)) {
        throw new ArgError(`--${name} needs ${arity === 2 ? "two values" : "a value"}`);
      }
      values.push(next);
      i++;
    }
    flags.set(name, convert(spec, values));
  }
  return { flags, positional };
}

function parseBool(name: string, v: string): boolean {
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw new ArgError(`--${name} expects true or false, got "${v}"`);
}

function convert(spec: FlagSpec, values: string[]): FlagValue {
  const v = values[0]!;
  switch (spec.type) {
    case "string":
      return v;
    case "pair":
      return [v, values[1]!] as const;
    case "int":
      if (!/^-?\d+$/.test(v)) throw new ArgError(`--${spec.name} expects an integer, got "${v}"`);
      return Number(v);
    case "number": {
      const n = Number(v);
      if (v.trim() === "" || !Number.isFinite(n)) throw new ArgError(`--${spec.name} expects a number, got "${v}"`);
      return n;
    }
    default:
      throw new ArgError(`--${spec.name}: unsupported type`);
  }
}

/** Typed getters: the spec guarantees the runtime type, these only narrow it for the compiler. */
export function getString(p: ParsedArgs, name: string): string | undefined {
  const v = p.flags.get(name);
  return typeof v === "string" ? v : undefined;
}
export function getNumber(p: ParsedArgs, name: string): number | undefined {
  const v = p.flags.get(name);
  return typeof v === "number" ? v : undefined;
}
export function getBool(p: ParsedArgs, name: string): boolean | undefined {
  const v = p.flags.get(name);
  return typeof v === "boolean" ? v : undefined;
}
export function getPair(p: ParsedArgs, name: string): readonly [string, string] | undefined {
  const v = p.flags.get(name);
  return Array.isArray(v) ? (v as readonly [string, string]) : undefined;
}

export function requireRange(name: string, v: number, min: number, max = Infinity): number {
  if (v < min || v > max) {
    const range = max === Infinity ? `>= ${min}` : `between ${min} and ${max}`;
    throw new ArgError(`--${name} must be ${range}, got ${v}`);
  }
  return v;
}

export function formatFlagHelp(specs: readonly FlagSpec[]): string {
  const heads = specs.map((s) => {
    if (s.type === "bool") return `--${s.name}`;
    const a = s.arg ?? (s.type === "int" || s.type === "number" ? "N" : "VALUE");
    return `--${s.name} ${s.type === "pair" ? a : `<${a}>`}`;
  });
  const width = Math.max(...heads.map((h) => h.length)) + 2;
  return specs.map((s, i) => `  ${heads[i]!.padEnd(width)}${s.help}`).join("\n");
}
