// `warren model ...`: generate a model file or summarize any GGUF file's header.
// Exit codes: 0 ok, 1 the operation failed (I/O, bad file), 2 bad command line.
import { readFile, stat } from "node:fs/promises";
import { type GgufFile, type GgufReadValue, readGguf } from "./gguf-reader.ts";
import { DEFAULT_SEED, PRESETS, PRESET_NAMES, isPresetName, makeModel } from "./presets.ts";

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

const stdio: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

const USAGE = [
  "usage:",
  "  warren model make --preset NAME --out PATH [--seed N] [--chat-template FILE] [--script FILE]",
  "                                                          generate a deterministic llama GGUF model",
  "  warren model info PATH                                  print a GGUF file's metadata summary",
  "  warren model --help",
  "",
  "presets:",
  ...PRESET_NAMES.map((n) => `  ${n.padEnd(10)} ${PRESETS[n].description}`),
  "",
  `--seed is an integer in [0, 4294967295] (default ${DEFAULT_SEED}); the same preset and seed give the same bytes.`,
  "--chat-template FILE stores that Jinja template in the model (tokenizer.chat_template).",
  "--script FILE (a JSON list of unique strings) makes a model that answers every prompt with those",
  "  pieces in order, then ends: for testing what a server makes of a known answer (tool calls, thoughts).",
].join("\n");

class UsageError extends Error {}

/** Runs the model subcommand; `argv` may start with "model" or with the action. */
export async function runModelCli(argv: string[], io: CliIo = stdio): Promise<number> {
  const args = argv[0] === "model" ? argv.slice(1) : argv;
  try {
    const [action, ...rest] = args;
    if (action === undefined) throw new UsageError("missing action (make or info)");
    if (action === "--help" || action === "-h" || action === "help") {
      io.out(USAGE);
      return 0;
    }
    if (rest.includes("--help") || rest.includes("-h")) {
      io.out(USAGE);
      return 0;
    }
    if (action === "make") return await make(parseFlags(rest), io);
    if (action === "info") return await info(rest, io);
    throw new UsageError(`unknown action "${action}"`);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`warren model: ${e.message}`);
      io.err("run `warren model --help` for usage");
      return 2;
    }
    io.err(`warren model: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

/** Accepts `--name value` and `--name=value`; every flag of `make` takes a value. */
function parseFlags(args: string[]): Map<string, string> {
  const known = new Set(["preset", "out", "seed", "chat-template", "script"]);
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("--")) throw new UsageError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (!known.has(name)) throw new UsageError(`unknown option --${name}`);
    const value = eq < 0 ? args[++i] : arg.slice(eq + 1);
    if (value === undefined || value === "") throw new UsageError(`--${name} needs a value`);
    if (flags.has(name)) throw new UsageError(`--${name} given twice`);
    flags.set(name, value);
  }
  return flags;
}

async function make(flags: Map<string, string>, io: CliIo): Promise<number> {
  const preset = flags.get("preset");
  const out = flags.get("out");
  if (preset === undefined) throw new UsageError(`--preset is required (${PRESET_NAMES.join(", ")})`);
  if (!isPresetName(preset)) throw new UsageError(`unknown preset "${preset}" (${PRESET_NAMES.join(", ")})`);
  if (out === undefined) throw new UsageError("--out is required");
  const seedText = flags.get("seed") ?? String(DEFAULT_SEED);
  if (!/^\d{1,10}$/.test(seedText) || Number(seedText) > 0xffffffff) {
    throw new UsageError(`--seed must be an integer in [0, 4294967295], got "${seedText}"`);
  }
  const templateFile = flags.get("chat-template");
  const chatTemplate = templateFile === undefined ? undefined : await readText(templateFile, "--chat-template");
  const scriptFile = flags.get("script");
  const script = scriptFile === undefined ? undefined : parseScript(await readText(scriptFile, "--script"));
  const started = performance.now();
  const r = await makeModel({ preset, out, seed: Number(seedText), chatTemplate, script });
  const secs = ((performance.now() - started) / 1000).toFixed(2);
  io.out(`wrote ${r.path}: preset ${preset}, seed ${seedText}, ${r.params} params, ${r.bytes} bytes in ${secs} s`);
  io.out(`sha256 ${r.sha256}`);
  return 0;
}

async function readText(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    throw new UsageError(`${flag}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

function parseScript(text: string): string[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new UsageError("--script: the file is not JSON (a list of strings)");
  }
  if (!Array.isArray(v) || !v.every((p) => typeof p === "string")) throw new UsageError("--script: the file must hold a JSON list of strings");
  return v;
}

async function info(args: string[], io: CliIo): Promise<number> {
  if (args.length !== 1) throw new UsageError("info takes exactly one PATH");
  const path = args[0]!;
  const file = await readGguf(path);
  const size = (await stat(path)).size;
  for (const line of summarize(file, size)) io.out(line);
  return 0;
}

function formatValue(v: GgufReadValue): string {
  if (typeof v === "string") return JSON.stringify(v);
  // float32 values widen to long decimals (1e-5 -> 0.0000099999997...); 7 digits is what f32 holds.
  if (typeof v === "number" && !Number.isInteger(v)) return String(Number(v.toPrecision(7)));
  if (!Array.isArray(v)) return String(v);
  const head = v.slice(0, 5).map((x) => formatValue(x)).join(", ");
  return `[${v.length} items: ${head}${v.length > 5 ? ", ..." : ""}]`;
}

/** Human summary: every metadata key (arrays abbreviated), then tensor counts by type. */
export function summarize(file: GgufFile, fileSize: number): string[] {
  const lines = [`GGUF v${file.version}, ${fileSize} bytes, alignment ${file.alignment}, data at ${file.dataOffset}`];
  for (const [key, value] of file.metadata) lines.push(`  ${key} = ${formatValue(value)}`);
  const byType = new Map<string, number>();
  let params = 0;
  for (const t of file.tensors) {
    const name = t.typeName ?? `ggml_type ${t.type}`;
    byType.set(name, (byType.get(name) ?? 0) + 1);
    params += t.dims.reduce((a, d) => a * d, 1);
  }
  const types = [...byType].map(([k, n]) => `${n} ${k}`).join(", ");
  lines.push(`tensors: ${file.tensors.length} (${types}), ${params} params`);
  for (const t of file.tensors.slice(0, 12)) lines.push(`  ${t.name} [${t.dims.join(", ")}] ${t.typeName ?? t.type}`);
  if (file.tensors.length > 12) lines.push(`  ... ${file.tensors.length - 12} more`);
  return lines;
}
