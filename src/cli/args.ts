// The one command-line flag parser: serve flags (config.ts), `warren model`, `warren bench` and the
// project's own benchmarks. node:util's parseArgs splits argv into tokens (`--name value`,
// `--name=value`, `--`, positionals); a spec table gives each flag a type, so the usage text and the
// parser cannot disagree. Every problem is a one-line ArgError naming the flag (the CLIs map it to
// exit code 2), or, for callers that report everything at once, a line in `problems`.
//
// Quirks kept on purpose: a value that looks like a flag (`--url --requests 4`) is not taken as
// the value (parseArgs would take it); single-dash words (`-1`, `-x`) are positionals, as they were
// before parseArgs; `--no-NAME` turns a bool flag off.
import { parseArgs as tokenize } from "node:util";

type FlagType = "string" | "int" | "number" | "bool" | "pair";

export interface FlagSpec {
  readonly name: string;
  readonly type: FlagType;
  readonly help: string;
  /** Shown in usage after the flag name, e.g. "N" or "FILE". */
  readonly arg?: string;
  /** A string flag that may be given several times: every value is kept, in order (getStrings). */
  readonly repeatable?: boolean;
}

type FlagValue = string | number | boolean | readonly [string, string] | readonly string[];

export interface ParsedArgs {
  readonly flags: ReadonlyMap<string, FlagValue>;
  readonly positional: readonly string[];
}

interface ParseOptions {
  /** Words that are not flags are allowed (else each is an `unexpected argument`). */
  readonly positionals?: boolean;
  /** A flag given twice is an error (else the last one wins, so wrappers can append overrides). */
  readonly once?: boolean;
  /** Collect every problem here instead of throwing an ArgError at the first. */
  readonly problems?: string[];
}

export class ArgError extends Error {
  override readonly name = "ArgError";
}

type Token = NonNullable<ReturnType<typeof tokenize>["tokens"]>[number];
type OptionToken = Extract<Token, { kind: "option" }>;

interface State {
  readonly argv: readonly string[];
  readonly byName: ReadonlyMap<string, FlagSpec>;
  readonly opts: ParseOptions;
  readonly flags: Map<string, FlagValue>;
  readonly positional: string[];
  /** Offset of the slice being tokenized within argv. */
  start: number;
}

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], opts: ParseOptions = {}): ParsedArgs {
  const st: State = { argv, byName: new Map(specs.map((s) => [s.name, s])), opts, flags: new Map(), positional: [], start: 0 };
  const options = Object.fromEntries(specs.map((s) => [s.name, { type: s.type === "bool" ? ("boolean" as const) : ("string" as const) }]));
  // A flag-looking word taken as a value is handed back: tokenizing starts again right after the flag.
  for (let restart = 0; restart >= 0; ) {
    st.start = restart;
    const { tokens } = tokenize({ args: argv.slice(restart), options, strict: false, allowPositionals: true, tokens: true });
    restart = scan(st, tokens);
  }
  if (!opts.positionals) for (const p of st.positional) problem(st, `unexpected argument "${p}"`);
  return { flags: st.flags, positional: st.positional };
}

/** Walks one tokenization; returns where to start again in argv, or -1 when done. */
function scan(st: State, tokens: readonly Token[]): number {
  const skip = new Set<number>();
  let lastShort = -1;
  for (const tok of tokens) {
    if (tok.kind === "option-terminator") continue;
    const long = tok.kind === "option" && tok.rawName.startsWith("--");
    if (skip.has(tok.index) && !long) continue;
    if (tok.kind === "positional") {
      st.positional.push(tok.value);
    } else if (!long) {
      // `-abc` comes as one token per letter, all at one index; the word is kept once.
      if (tok.index !== lastShort) st.positional.push(st.argv[st.start + tok.index]!);
      if (tok.value !== undefined && !tok.inlineValue) st.positional.push(st.argv[st.start + tok.index + 1]!);
      lastShort = tok.index;
    } else {
      const next = option(st, tok, tokens, skip);
      if (next >= 0) return next;
    }
  }
  return -1;
}

/** One `--name[=value]`; returns a restart offset when its value was really the next flag. */
function option(st: State, tok: OptionToken, tokens: readonly Token[], skip: Set<number>): number {
  const name = tok.name;
  const spec = st.byName.get(name);
  const negated = spec === undefined && name.startsWith("no-") ? st.byName.get(name.slice(3)) : undefined;
  if (negated?.type === "bool") {
    if (tok.value !== undefined) problem(st, `--${name} takes no value`);
    else set(st, negated.name, false);
    return -1;
  }
  if (spec === undefined) {
    problem(st, `unknown option --${name}`);
    // `--bogus 1`: the 1 was meant for the bogus flag; one report is enough.
    if (tok.value === undefined) skip.add(tok.index + 1);
    return -1;
  }
  if (spec.type === "bool") {
    const v = tok.value === undefined ? true : parseBool(name, tok.value);
    if (v !== undefined) set(st, name, v);
    else problem(st, `--${name} expects true or false, got "${tok.value}"`);
    return -1;
  }
  const needs = spec.type === "pair" ? "two values" : "a value";
  if (tok.value === undefined) {
    problem(st, `--${name} needs ${needs}`);
    return -1;
  }
  if (!tok.inlineValue && looksLikeFlag(tok.value)) {
    problem(st, `--${name} needs ${needs}`);
    return st.start + tok.index + 1;
  }
  if (spec.type === "pair") {
    const at = tok.index + (tok.inlineValue ? 1 : 2);
    const second = tokens.find((t) => t.index === at);
    if (second?.kind === "positional") {
      skip.add(at);
      set(st, name, [tok.value, second.value] as const);
    } else {
      problem(st, `--${name} needs two values`);
    }
    return -1;
  }
  const v = convert(spec, tok.value);
  if (typeof v === "string" && spec.type !== "string") problem(st, v);
  else set(st, name, v);
  return -1;
}

const looksLikeFlag = (v: string) => v.startsWith("--") && v.length > 2;

function set(st: State, name: string, v: FlagValue): void {
  if (st.byName.get(name)?.repeatable && typeof v === "string") {
    st.flags.set(name, [...((st.flags.get(name) as readonly string[] | undefined) ?? []), v]);
    return;
  }
  if (st.opts.once && st.flags.has(name)) problem(st, `--${name} given twice`);
  st.flags.set(name, v);
}

function problem(st: State, message: string): void {
  if (st.opts.problems === undefined) throw new ArgError(message);
  st.opts.problems.push(message);
}

function parseBool(name: string, v: string): boolean | undefined {
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  return undefined;
}

/** The typed value, or (for int and number flags) the message saying why the text is not one. */
function convert(spec: FlagSpec, v: string): string | number {
  if (spec.type === "int") return /^-?\d+$/.test(v) ? Number(v) : `--${spec.name} expects an integer, got "${v}"`;
  if (spec.type === "number") {
    const n = Number(v);
    return v.trim() !== "" && Number.isFinite(n) ? n : `--${spec.name} expects a number, got "${v}"`;
  }
  return v;
}

/** Typed getters: the spec guarantees the runtime type, these only narrow it for the compiler. */
export function getString(p: ParsedArgs, name: string): string | undefined {
  const v = p.flags.get(name);
  return typeof v === "string" ? v : undefined;
}
/** Every value of a repeatable flag, in the order given. */
export function getStrings(p: ParsedArgs, name: string): readonly string[] | undefined {
  const v = p.flags.get(name);
  return Array.isArray(v) && v.every((x) => typeof x === "string") ? (v as readonly string[]) : undefined;
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
  return Array.isArray(v) ? (v as unknown as readonly [string, string]) : undefined;
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
