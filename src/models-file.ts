// The models file (--models-file): per-model settings, and models beyond --model and --models-dir.
// TOML or JSON (by extension), one table per model, keyed by the flag names it overrides:
//
//   [models."qwen3-8b"]
//   path = "/srv/models/Qwen3-8B-Q4_K_M.gguf"   # optional for a model --model or --models-dir names
//   parallel = 2
//   ctx-size = 8192          # all its slots together, as --ctx-size: 4096 tokens per slot here
//   chat-template = "chatML"
//
// ctx-size means what --ctx-size means (llama-server's): the model's whole context, divided evenly
// among its slots (0: its training context); ctx-per-slot gives one slot's instead. An entry's own
// ctx-per-slot wins over a --ctx-size flag.
// Each value is checked against the same TypeBox rule as its flag, once at start; a bad entry stops
// the process with a line naming the file, the model and the field. Relative paths (the model, a
// template file) are read from the file's own folder.
import { Type, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { existsSync, readFileSync } from "node:fs";
import { dirname, extname, resolve } from "node:path";
import { ConfigError, SETTING_SCHEMAS, chatTemplateFrom, type Config } from "./config.ts";
import { KEEP_ALIVE_FORMS, parseKeepAlive } from "./duration.ts";

/** The settings a model may carry, by the flag name that sets them for every model. */
const PER_MODEL = {
  parallel: "parallel",
  "ctx-size": "ctxSize",
  "ctx-per-slot": "ctxPerSlot",
  "batch-size": "batchSize",
  threads: "threads",
  "flash-attention": "flashAttention",
  engine: "engine",
  "chat-template": "chatTemplate",
  "max-queue": "maxQueue",
} as const satisfies Record<string, keyof Config>;

type PerModelKey = (typeof PER_MODEL)[keyof typeof PER_MODEL];

/** Where a setting goes in the catalogue's model settings, where its name differs from Config's. */
const SETTING_NAME: Partial<Record<PerModelKey, string>> = { ctxSize: "ctxTotal", ctxPerSlot: "ctxSize" };

interface ModelsFileEntry {
  /** Absolute; undefined when the entry only gives settings to a model found elsewhere. */
  path?: string;
  /** As the catalogue takes them: ctxSize is per slot (ctx-per-slot), ctxTotal all slots together (ctx-size). */
  settings: Partial<Pick<Config, Exclude<PerModelKey, "ctxSize" | "ctxPerSlot">>> & { ctxSize?: number; ctxTotal?: number; keepAliveMs?: number };
}

const Entry = Type.Object(
  {
    path: Type.Optional(Type.String({ minLength: 1 })),
    ...Object.fromEntries(Object.entries(PER_MODEL).map(([flag, key]) => [flag, Type.Optional(SETTING_SCHEMAS[key])])),
    "keep-alive-idle": Type.Optional(Type.Union([Type.String(), Type.Number()])),
  },
  { additionalProperties: false },
);

/** Reads, parses and checks the file. Throws ConfigError with every problem, one per line. */
export function readModelsFile(file: string): Map<string, ModelsFileEntry> {
  const doc = parse(file);
  const top = doc as { models?: unknown };
  const extra = Object.keys(doc).filter((k) => k !== "models");
  if (typeof top.models !== "object" || top.models === null || Array.isArray(top.models) || extra.length > 0) {
    throw new ConfigError(`${file}: must hold one table, "models", with an entry per model (found ${extra.length > 0 ? `"${extra[0]}"` : "no models table"})`);
  }
  const problems: string[] = [];
  const out = new Map<string, ModelsFileEntry>();
  for (const [name, raw] of Object.entries(top.models as Record<string, unknown>)) {
    const where = `${file}: model "${name}"`;
    const before = problems.length;
    for (const err of Value.Errors(Entry, raw)) problems.push(`${where}: ${fieldProblem(err.path, err.value, err.message, err.schema)}`);
    if (problems.length > before) continue;
    const entry = entryOf(file, raw as Record<string, unknown>, (p) => problems.push(`${where}: ${p}`));
    if (entry) out.set(name, entry);
  }
  if (problems.length > 0) throw new ConfigError(problems.join("\n"));
  return out;
}

function parse(file: string): object {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`--models-file=${JSON.stringify(file)}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const ext = extname(file).toLowerCase();
  if (ext !== ".toml" && ext !== ".json") throw new ConfigError(`--models-file=${JSON.stringify(file)}: must end in .toml or .json (its format)`);
  try {
    const doc: unknown = ext === ".toml" ? Bun.TOML.parse(text) : JSON.parse(text);
    if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new Error("not a table of settings");
    return doc;
  } catch (err) {
    throw new ConfigError(`${file}: not valid ${ext === ".toml" ? "TOML" : "JSON"} (${err instanceof Error ? err.message : String(err)})`);
  }
}

function fieldProblem(path: string, value: unknown, message: string, schema: TSchema): string {
  const field = path.replace(/^\//, "");
  if (message === "Unexpected property") return `unknown field "${field}" (fields: path, ${[...Object.keys(PER_MODEL), "keep-alive-idle"].join(", ")})`;
  const rule = schema.type === "integer" ? `must be an integer from ${schema.minimum} to ${schema.maximum}` : schema.anyOf ? `must be one of ${schema.description ?? "the allowed values"}` : message;
  return `${field || "entry"}=${JSON.stringify(value)}: ${rule}`;
}

/** The checked entry with paths made absolute and the keep-alive in ms; undefined after reporting a problem. */
function entryOf(file: string, raw: Record<string, unknown>, problem: (p: string) => void): ModelsFileEntry | undefined {
  const base = dirname(resolve(file));
  const settings: ModelsFileEntry["settings"] = {};
  if (raw["ctx-size"] !== undefined && raw["ctx-per-slot"] !== undefined) {
    return void problem("give ctx-size (all slots together) or ctx-per-slot (one slot), not both");
  }
  for (const [flag, key] of Object.entries(PER_MODEL) as Array<[string, PerModelKey]>) {
    if (raw[flag] !== undefined) (settings as Record<string, unknown>)[SETTING_NAME[key] ?? key] = raw[flag];
  }
  if (settings.chatTemplate) {
    const local = resolve(base, settings.chatTemplate);
    if (existsSync(local)) settings.chatTemplate = local;
    try {
      chatTemplateFrom({ chatTemplate: settings.chatTemplate });
    } catch (err) {
      return void problem(`chat-template: ${(err as Error).message.replace(/^--chat-template=/, "")}`);
    }
  }
  const keepAlive = raw["keep-alive-idle"] as string | number | undefined;
  if (keepAlive !== undefined) {
    const ms = parseKeepAlive(keepAlive);
    if (ms === undefined) return void problem(`keep-alive-idle=${JSON.stringify(keepAlive)}: must be ${KEEP_ALIVE_FORMS}`);
    settings.keepAliveMs = ms;
  }
  return { path: typeof raw.path === "string" ? resolve(base, raw.path) : undefined, settings };
}
