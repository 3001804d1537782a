// `warren pull`, `warren models` and `warren rm`: the model store from the command line.
// Exit codes: 0 ok, 1 the operation failed (network, hub, disk, verification), 2 bad command line.
import { rmSync } from "node:fs";
import { ArgError, getBool, getString, parseArgs, formatFlagHelp, type FlagSpec, type ParsedArgs } from "../cli/args.ts";
import { table } from "../cli/format.ts";
import { processIo, type Io } from "../cli/io.ts";
import { isRemoteModel, resolveEndpoint, resolveHfToken } from "./hub.ts";
import { formatBytes } from "./pull-progress.ts";
import { STAGING_DIR, defaultModelsDir, findInStore, listPartials, listStore, removeEntry } from "./store.ts";

export type StoreCommand = "pull" | "models" | "rm";

interface StoreCliContext {
  /** The cache directory (cache-dir.ts resolveCacheDir); the store defaults to <it>/models. */
  cacheDir: string;
  env: Record<string, string | undefined>;
  io?: Io;
  /** Exit on Ctrl-C with a word about resuming (the real CLI; tests leave signals alone). */
  handleSignals?: boolean;
}

const DIR_FLAG: FlagSpec = { name: "models-dir", type: "string", arg: "DIR", help: "the model store [WARREN_MODELS_DIR] (default: <cache dir>/models)" };
const FLAGS: Record<StoreCommand, readonly FlagSpec[]> = {
  pull: [DIR_FLAG, { name: "hf-endpoint", type: "string", arg: "URL", help: "the hub or a mirror [WARREN_HF_ENDPOINT, HF_ENDPOINT] (default: https://huggingface.co)" }],
  models: [DIR_FLAG, { name: "json", type: "bool", help: "one JSON array instead of the table" }],
  rm: [DIR_FLAG],
};

const USAGE: Record<StoreCommand, string> = {
  pull: [
    "usage: warren pull URI [flags]",
    "  Downloads a GGUF model into the model store, resuming an interrupted pull, and verifies its size",
    "  and SHA-256 against the hub's. URI: hf:USER/REPO:QUANT (hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M),",
    "  hf:USER/REPO/FILE.gguf[#REVISION], or an https URL of a .gguf file. Gated repos need HF_TOKEN.",
  ].join("\n"),
  models: "usage: warren models [flags]\n  Lists the models in the store: name, size, quant, parameters, trained context, chat template.",
  rm: "usage: warren rm NAME|URI... [flags]\n  Deletes models from the store (and any partial download of them). NAME as `warren models` shows it.",
};

const usage = (cmd: StoreCommand) => `${USAGE[cmd]}\n\nflags:\n${formatFlagHelp(FLAGS[cmd])}\n\nSee docs/models.md for the store, the environment variables and the errors.`;

export async function runStoreCli(cmd: StoreCommand, argv: readonly string[], ctx: StoreCliContext): Promise<number> {
  const io = ctx.io ?? processIo;
  if (argv.includes("--help") || argv.includes("-h")) {
    io.out(`${usage(cmd)}\n`);
    return 0;
  }
  try {
    const args = parseArgs(argv, FLAGS[cmd], { positionals: true, once: true });
    const dir = getString(args, "models-dir") || ctx.env.WARREN_MODELS_DIR || defaultModelsDir(ctx.cacheDir);
    if (cmd === "pull") return await pullCommand(args, dir, ctx, io);
    if (cmd === "models") return await modelsCommand(args, dir, io);
    return rmCommand(args, dir, ctx, io);
  } catch (err) {
    if (err instanceof ArgError) {
      io.err(`warren ${cmd}: ${err.message}\nrun \`warren ${cmd} --help\` for usage\n`);
      return 2;
    }
    io.err(`warren ${cmd}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

async function pullCommand(args: ParsedArgs, dir: string, ctx: StoreCliContext, io: Io): Promise<number> {
  if (args.positional.length !== 1) throw new ArgError("pull takes exactly one URI (e.g. hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M)");
  const source = args.positional[0]!;
  const endpoint = resolveEndpoint(getString(args, "hf-endpoint"), ctx.env);
  if (!isRemoteModel(source)) {
    throw new ArgError(`"${source}" is not a model URI: use hf:USER/REPO:QUANT, hf:USER/REPO/FILE.gguf or an https URL`);
  }
  if (ctx.handleSignals) {
    process.once("SIGINT", () => {
      io.err(`\ninterrupted: the partial download stays in ${dir}/${STAGING_DIR}; run the same command to resume it\n`);
      process.exit(130);
    });
  }
  // Loaded only here: listing and removing never load node-llama-cpp.
  const { ensurePulled } = await import("./pull.ts");
  const started = performance.now();
  const r = await ensurePulled({ source, dir, endpoint, token: resolveHfToken(ctx.env), sink: { tty: io.errIsTTY, write: (t) => io.err(t) } });
  const where = r.entry.files.length > 1 ? `${r.entry.files.length} parts, first ${r.entry.files[0]}` : r.entry.files[0];
  if (r.downloaded) {
    io.out(`pulled ${r.entry.name} (${formatBytes(r.entry.bytes)}) in ${((performance.now() - started) / 1000).toFixed(1)} s: ${where}\n`);
  } else {
    io.out(`${source} is already in the store: ${r.entry.name} (${formatBytes(r.entry.bytes)}): ${where}\n(\`warren rm ${r.entry.name}\` first to download it again)\n`);
  }
  io.out(`serve it: warren serve --model ${source}\n`);
  return 0;
}

/** 292800 -> "293K", 1_235_814_400 -> "1.24B". */
function formatCount(n: number | undefined): string {
  if (n === undefined) return "-";
  for (const [div, unit] of [[1e9, "B"], [1e6, "M"], [1e3, "K"]] as const) if (n >= div) return `${Number((n / div).toPrecision(3))}${unit}`;
  return String(n);
}

async function modelsCommand(args: ParsedArgs, dir: string, io: Io): Promise<number> {
  if (args.positional.length > 0) throw new ArgError(`unexpected argument "${args.positional[0]}"`);
  const entries = listStore(dir);
  const { describeModel } = await import("./catalog.ts");
  const rows = [];
  for (const e of entries) {
    const facts = await describeModel(e.files[0]!).catch((err: unknown) => ({ error: err instanceof Error ? err.message : String(err) }));
    rows.push({ name: e.name, bytes: e.bytes, files: e.files, sources: e.meta?.sources ?? [], ...facts });
  }
  if (getBool(args, "json")) {
    io.out(`${JSON.stringify(rows, null, 2)}\n`);
    return 0;
  }
  if (rows.length === 0) io.out(`no models in ${dir}: pull one with \`warren pull hf:USER/REPO:QUANT\`\n`);
  else {
    const cells = rows.map((r) => {
      if ("error" in r) return [r.name, formatBytes(r.bytes), "-", "-", "-", `unreadable: ${r.error}`, r.sources.join(" ")];
      const caps = [r.tools ? "tools" : "", r.reasoning ? "reasoning" : ""].filter(Boolean).join(", ");
      const template = caps ? `${r.template} (${caps})` : r.template;
      return [r.name, formatBytes(r.bytes), r.quant ?? "-", formatCount(r.params), r.context !== undefined ? String(r.context) : "-", template, r.sources.join(" ") || "-"];
    });
    io.out(table(["NAME", "SIZE", "QUANT", "PARAMS", "CONTEXT", "TEMPLATE", "SOURCE"], cells, ["left", "right", "left", "right", "right", "left", "left"]));
    io.out(`${rows.length} model${rows.length === 1 ? "" : "s"} in ${dir}; serve one with \`warren serve --model NAME\`\n`);
  }
  const partials = listPartials(dir).filter((p) => p.path.endsWith(".ipull"));
  for (const p of partials) io.out(`partial download: ${p.name} (${formatBytes(p.bytes)} so far): \`warren pull\` the same URI resumes it, \`warren rm ${p.name}\` deletes it\n`);
  return 0;
}

function rmCommand(args: ParsedArgs, dir: string, ctx: StoreCliContext, io: Io): number {
  if (args.positional.length === 0) throw new ArgError("rm takes the NAME (or URI) of at least one model; `warren models` lists them");
  const endpoint = resolveEndpoint(undefined, ctx.env);
  let failed = 0;
  for (const spec of args.positional) {
    const entry = findInStore(dir, spec, endpoint);
    const partials = listPartials(dir).filter((p) => p.name === spec);
    if (entry === undefined && partials.length === 0) {
      io.err(`warren rm: no model ${spec} in ${dir} (\`warren models\` lists them)\n`);
      failed++;
      continue;
    }
    const removed = entry ? removeEntry(dir, entry) : partials.map((p) => (rmSync(p.path, { force: true }), p.path));
    io.out(`removed ${entry?.name ?? spec}${entry ? ` (${formatBytes(entry.bytes)})` : " (partial download)"}: ${removed.length} file${removed.length === 1 ? "" : "s"}\n`);
  }
  return failed > 0 ? 1 : 0;
}
