// `warren model ...`: generate a model file or summarize any GGUF file's header.
// Exit codes: 0 ok, 1 the operation failed (I/O, bad file), 2 bad command line.
import { readFile, stat } from "node:fs/promises";
import { ArgError, getString, parseArgs, type FlagSpec, type ParsedArgs } from "../cli/args.ts";
import { processIo, type Io } from "../cli/io.ts";
import { type GgufFile, type GgufReadValue, readGguf } from "./gguf-reader.ts";
import { DEFAULT_SEED, PRESETS, PRESET_NAMES, isPresetName, makeModel } from "./presets.ts";

/** `make`'s flags; every one takes a value (the usage text below describes them). */
const MAKE_FLAGS: readonly FlagSpec[] = [
  { name: "preset", type: "string", help: "preset NAME" },
  { name: "out", type: "string", help: "output PATH" },
  { name: "seed", type: "string", help: "seed N" },
  { name: "chat-template", type: "string", help: "Jinja template FILE" },
  { name: "script", type: "string", help: "script FILE" },
];

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

/** Runs the model subcommand; `argv` may start with "model" or with the action. */
export async function runModelCli(argv: string[], io: Io = processIo): Promise<number> {
  const line = (text: string) => io.out(`${text}\n`);
  const args = argv[0] === "model" ? argv.slice(1) : argv;
  try {
    const [action, ...rest] = args;
    if (action === undefined) throw new ArgError("missing action (make or info)");
    if (action === "--help" || action === "-h" || action === "help") {
      line(USAGE);
      return 0;
    }
    if (rest.includes("--help") || rest.includes("-h")) {
      line(USAGE);
      return 0;
    }
    if (action === "make") return await make(parseMakeFlags(rest), line);
    if (action === "info") return await info(rest, line);
    throw new ArgError(`unknown action "${action}"`);
  } catch (e) {
    if (e instanceof ArgError) {
      io.err(`warren model: ${e.message}\nrun \`warren model --help\` for usage\n`);
      return 2;
    }
    io.err(`warren model: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

/** Each flag at most once, and never empty: a file name or preset cannot be "". */
function parseMakeFlags(args: readonly string[]): ParsedArgs {
  const p = parseArgs(args, MAKE_FLAGS, { once: true });
  for (const [name, value] of p.flags) if (value === "") throw new ArgError(`--${name} needs a value`);
  return p;
}

async function make(flags: ParsedArgs, line: (text: string) => void): Promise<number> {
  const preset = getString(flags, "preset");
  const out = getString(flags, "out");
  if (preset === undefined) throw new ArgError(`--preset is required (${PRESET_NAMES.join(", ")})`);
  if (!isPresetName(preset)) throw new ArgError(`unknown preset "${preset}" (${PRESET_NAMES.join(", ")})`);
  if (out === undefined) throw new ArgError("--out is required");
  const seedText = getString(flags, "seed") ?? String(DEFAULT_SEED);
  if (!/^\d{1,10}$/.test(seedText) || Number(seedText) > 0xffffffff) {
    throw new ArgError(`--seed must be an integer in [0, 4294967295], got "${seedText}"`);
  }
  const templateFile = getString(flags, "chat-template");
  const chatTemplate = templateFile === undefined ? undefined : await readText(templateFile, "--chat-template");
  const scriptFile = getString(flags, "script");
  const script = scriptFile === undefined ? undefined : parseScript(await readText(scriptFile, "--script"));
  const started = performance.now();
  const r = await makeModel({ preset, out, seed: Number(seedText), chatTemplate, script });
  const secs = ((performance.now() - started) / 1000).toFixed(2);
  line(`wrote ${r.path}: preset ${preset}, seed ${seedText}, ${r.params} params, ${r.bytes} bytes in ${secs} s`);
  line(`sha256 ${r.sha256}`);
  return 0;
}

async function readText(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    throw new ArgError(`${flag}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

function parseScript(text: string): string[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ArgError("--script: the file is not JSON (a list of strings)");
  }
  if (!Array.isArray(v) || !v.every((p) => typeof p === "string")) throw new ArgError("--script: the file must hold a JSON list of strings");
  return v;
}

async function info(args: readonly string[], line: (text: string) => void): Promise<number> {
  const { positional } = parseArgs(args, [], { positionals: true });
  if (positional.length !== 1) throw new ArgError("info takes exactly one PATH");
  const path = positional[0]!;
  const file = await readGguf(path);
  const size = (await stat(path)).size;
  for (const l of summarize(file, size)) line(l);
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
function summarize(file: GgufFile, fileSize: number): string[] {
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
