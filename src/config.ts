// All settings in one TypeBox schema. Each comes from a flag (--ctx-size), else an env var
// (WARREN_CTX_SIZE), else its default; the merged object is converted and validated once at start,
// and a bad value stops the process with a message naming the flag, the env var and the rule.
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { existsSync, readFileSync } from "node:fs";
import { getStrings, parseArgs, type FlagSpec } from "./cli/args.ts";
import { translateLlamaFlags } from "./cli/llama-flags.ts";
import { confineProcess, formatCpuList, parseCpuList } from "./cpu-affinity.ts";
import { KEEP_ALIVE_FORMS, parseKeepAlive } from "./duration.ts";
import * as L from "./limits.ts";

export const DEFAULT_MODEL_PATH = "models/default.gguf";

const Int = (min: number, max: number, description: string) => Type.Integer({ minimum: min, maximum: max, description });

/** The schema: property order is the order --help prints. */
const ConfigSchema = Type.Object({
  model: Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], {
    description:
      `GGUF model: a file, NAME=FILE, a model in the store by name, or hf:USER/REPO:QUANT or an https URL (pulled into the store first if missing); ` +
      `give it again to serve several models, each used by name. Without it (and without --models-dir), a random-weight smoke-test model is generated at ${DEFAULT_MODEL_PATH}`,
  }),
  modelsDir: Type.String({
    description:
      "A folder of GGUF models: every GGUF in it is served by its file name, loaded on its first request (the folder is read again when an unknown name is asked for), and --model URIs are pulled into it; empty = no folder is served and pulls go to <cache dir>/models",
  }),
  modelsFile: Type.String({ description: "TOML or JSON file of per-model settings (parallel, ctx-size, threads, chat-template, ...) and further models" }),
  modelsMax: Int(0, 1024, "Most models loaded at once (0 = only the memory budget limits it); the least recently used idle one is unloaded to make room"),
  keepAliveIdle: Type.String({ description: `How long a model with nothing to do stays loaded: ${KEEP_ALIVE_FORMS}` }),
  hfEndpoint: Type.String({
    pattern: "^(https?://.+)?$",
    description: "The Hugging Face hub or a mirror, for hf: URIs; empty = MODEL_ENDPOINT or HF_ENDPOINT, else https://huggingface.co",
  }),
  mmap: Type.Boolean({
    description: "Map model weights from their files (pages shared between processes, loaded on first use) instead of reading them into memory; a mapped file truncated or rewritten in place kills the process (SIGBUS). --no-mmap is the default",
  }),
  offline: Type.Boolean({ description: "Never touch the network: a --model URI must already be in the store" }),
  host: Type.String({ minLength: 1, description: "Address to listen on" }),
  port: Int(0, 65535, "TCP port (0 = pick a free one)"),
  threads: Type.Union([Type.Literal("auto"), Type.Integer({ minimum: 1, maximum: 1024 })], {
    description: "auto | a count from 1 to 1024: inference threads (auto: measured at model load, see README)",
  }),
  cpus: Type.String({
    description: "CPUs the whole server may run on, as taskset lists them (0-3,6); empty = all it was given. One CPU can pay with --threads 1 on a virtual machine (see README)",
  }),
  parallel: Int(1, 256, "Parallel slots (sequences decoded together)"),
  ctxSize: Type.Optional(
    Int(0, 1 << 28, "Context size of all slots together, in tokens, divided evenly among the --parallel slots, as llama-server's -c/--ctx-size (0 = the model's training context); unset: --ctx-per-slot x --parallel"),
  ),
  ctxPerSlot: Int(8, 1 << 20, "Context size per slot, in tokens (prompt + generated); used when --ctx-size is not given"),
  batchSize: Int(1, 1 << 16, "Most tokens per decode call across slots"),
  maxQueue: Int(0, 1 << 20, "Requests allowed to wait for a slot; beyond it: 503"),
  flashAttention: Type.Union([Type.Literal("auto"), Type.Literal("on"), Type.Literal("off")], {
    description: "auto | on | off: llama.cpp's flash attention (auto = on where the model and backend support it)",
  }),
  engine: Type.Union([Type.Literal("auto"), Type.Literal("c-api"), Type.Literal("binding")], {
    description: "auto | c-api | binding: what drives llama.cpp (c-api: its C API on a decode thread of its own; binding: node-llama-cpp's; auto: c-api where it opens)",
  }),
  memoryShare: Int(1, 100, "Percent of available memory the KV cache + weights may take, every loaded model together; one model that needs more refuses to start"),
  chatTemplate: Type.String({
    description: "Chat template: a Jinja template FILE, or a built-in NAME (chatML, qwen, llama3.1, mistral, ...); empty = the model's own",
  }),
  logLevel: Type.Union([Type.Literal("debug"), Type.Literal("info"), Type.Literal("warn"), Type.Literal("error")], {
    description: "debug | info | warn | error",
  }),
  logFormat: Type.Union([Type.Literal("auto"), Type.Literal("json"), Type.Literal("text")], {
    description: "auto | json | text: log lines as JSON or as readable text (auto: text on a terminal, JSON otherwise)",
  }),
  accessLog: Type.Union([Type.Literal("on"), Type.Literal("off")], { description: "on | off: one log line per answered request" }),
  maxBodyBytes: Int(1, 1 << 30, "Largest request body accepted (413 beyond)"),
  maxConnections: Int(0, 1 << 20, "Open connections allowed (0 = no limit)"),
  headerTimeoutMs: Int(1, 3_600_000, "Time to receive a request head (408 beyond)"),
  bodyTimeoutMs: Int(1, 3_600_000, "Time allowed between body bytes (408 beyond)"),
  keepAliveTimeoutMs: Int(1, 3_600_000, "Idle keep-alive connections are closed after this"),
  writeTimeoutMs: Int(1, 3_600_000, "A response making no write progress this long is dropped"),
  shutdownTimeoutMs: Int(0, 3_600_000, "On SIGTERM, time in-flight requests get to finish"),
  gcIntervalMs: Int(0, 3_600_000, "While requests keep coming, a full garbage collection and malloc_trim at most this often, to keep RSS flat (0 = never)"),
  apiKey: Type.String({
    description: "API keys, comma-separated: every route but /health then needs Authorization: Bearer <key> or X-Api-Key (prefer the env var or --api-key-file: flags show in ps)",
  }),
  apiKeyFile: Type.String({ description: "File with API keys, one per line (# comments and blank lines ignored); adds to --api-key" }),
  corsOrigin: Type.String({ description: 'Origins browsers may call from, comma-separated ("*" = any; empty = none)' }),
  webui: Type.Boolean({ description: "Serve the web console (chat playground and dashboard) at /; --no-webui turns it off (llama-server's spelling too)" }),
  alias: Type.String({ description: "The model's name in answers and model lists (llama-server's --alias); empty = the model's own name" }),
  slots: Type.Union([Type.Literal("on"), Type.Literal("off")], { description: "on | off: llama-server's GET /slots monitoring route" }),
  props: Type.Union([Type.Literal("on"), Type.Literal("off")], { description: "on | off: llama-server's POST /props (no property can be changed yet; off answers 501, as llama-server without --props)" }),
});
export type Config = Static<typeof ConfigSchema>;

/** Each setting's rule, for the models file (models-file.ts), whose per-model values obey the flags' rules. */
export const SETTING_SCHEMAS: Readonly<Record<keyof Config, TSchema>> = ConfigSchema.properties;
type ConfigKey = keyof Config;

export function defaults(): Config {
  return {
    model: DEFAULT_MODEL_PATH,
    modelsDir: "",
    modelsFile: "",
    modelsMax: L.INFERENCE_MODELS_MAX,
    keepAliveIdle: "forever",
    hfEndpoint: "",
    offline: false,
    mmap: false,
    host: "127.0.0.1",
    port: 8080,
    threads: "auto",
    cpus: "",
    parallel: 4,
    ctxPerSlot: 2048,
    batchSize: 512,
    maxQueue: L.INFERENCE_MAX_QUEUE,
    flashAttention: "auto",
    engine: "auto",
    memoryShare: L.INFERENCE_MEMORY_SHARE_PERCENT,
    chatTemplate: "",
    logLevel: "info",
    logFormat: "auto",
    accessLog: "on",
    maxBodyBytes: L.HTTP_MAX_BODY_BYTES,
    maxConnections: 0,
    headerTimeoutMs: L.HTTP_HEADER_TIMEOUT_MS,
    bodyTimeoutMs: L.HTTP_BODY_TIMEOUT_MS,
    keepAliveTimeoutMs: L.HTTP_KEEPALIVE_TIMEOUT_MS,
    writeTimeoutMs: L.HTTP_WRITE_TIMEOUT_MS,
    shutdownTimeoutMs: L.HTTP_SHUTDOWN_TIMEOUT_MS,
    gcIntervalMs: L.PROCESS_GC_INTERVAL_MS,
    apiKey: "",
    apiKeyFile: "",
    corsOrigin: "",
    webui: true,
    alias: "",
    slots: "on",
    props: "off",
  };
}

const list = (s: string) => s.split(",").map((x) => x.trim()).filter((x) => x.length > 0);

/** The CPUs --cpus names, undefined when it names none. Throws ConfigError for a list that is not one. */
export function cpusFrom(config: Pick<Config, "cpus">): number[] | undefined {
  if (config.cpus.trim() === "") return undefined;
  try {
    return parseCpuList(config.cpus);
  } catch (err) {
    throw new ConfigError(`--cpus=${JSON.stringify(config.cpus)}: ${(err as Error).message}`);
  }
}

/** --cpus applied to the whole process (see cpu-affinity.ts); the CPUs, or undefined when it names none. A set it cannot have is a ConfigError. */
export function confineToCpus(config: Pick<Config, "cpus">): number[] | undefined {
  const cpus = cpusFrom(config);
  if (cpus === undefined) return undefined;
  try {
    confineProcess(cpus);
  } catch (err) {
    throw new ConfigError(`--cpus=${formatCpuList(cpus)}: ${(err as Error).message}`);
  }
  return cpus;
}

/** The keys from --api-key and --api-key-file together (empty: no auth). Throws ConfigError when the file is unusable. */
export function apiKeysFrom(config: Pick<Config, "apiKey" | "apiKeyFile">): string[] {
  const keys = list(config.apiKey);
  if (config.apiKeyFile !== "") {
    let text: string;
    try {
      text = readFileSync(config.apiKeyFile, "utf8");
    } catch (err) {
      throw new ConfigError(`--api-key-file=${JSON.stringify(config.apiKeyFile)}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    const fromFile = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
    if (fromFile.length === 0) throw new ConfigError(`--api-key-file=${JSON.stringify(config.apiKeyFile)}: holds no key`);
    keys.push(...fromFile);
  }
  return keys;
}

/**
 * --chat-template: a file's Jinja text, the Jinja text itself (llama-server's form), or a built-in
 * wrapper name (checked when the model loads, where the names are known). Empty: the model's own
 * template. Throws ConfigError for a path that cannot be read.
 */
export function chatTemplateFrom(config: Pick<Config, "chatTemplate">): { jinja?: string; wrapper?: string } {
  const v = config.chatTemplate.trim();
  if (v === "") return {};
  // llama-server's --chat-template takes the template's text itself.
  if (/\{[{%]/.test(v)) return { jinja: config.chatTemplate };
  const looksLikeName = /^[A-Za-z][A-Za-z0-9._-]*$/.test(v) && !/\.(jinja|j2|txt|tmpl)$/i.test(v);
  if (looksLikeName && !existsSync(v)) return { wrapper: v };
  try {
    const jinja = readFileSync(v, "utf8");
    if (jinja.trim() === "") throw new ConfigError(`--chat-template=${JSON.stringify(v)}: the file is empty`);
    return { jinja };
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`--chat-template=${JSON.stringify(v)}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/** The --model values in the order given (one or several). */
export const modelsFrom = (config: Pick<Config, "model">): string[] => (typeof config.model === "string" ? [config.model] : [...config.model]);

/** --keep-alive-idle in ms (Infinity: never unload); loadConfig has checked it parses. */
export const keepAliveIdleMs = (config: Pick<Config, "keepAliveIdle">): number => parseKeepAlive(config.keepAliveIdle) ?? Infinity;

export const corsOriginsFrom = (config: Pick<Config, "corsOrigin">): string[] => list(config.corsOrigin);

const flagName = (key: string) => key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
const envName = (key: string) => "WARREN_" + flagName(key).replace(/-/g, "_").toUpperCase();

export class ConfigError extends Error {
  override name = "ConfigError";
}

const isSwitch = (schema: TSchema | undefined): boolean => schema?.type === "boolean";

/**
 * Every setting is a flag taking a value, but for switches (--offline, --no-webui, --webui=false); its type and range
 * are the schema's, checked after merging.
 */
const FLAG_SPECS: readonly FlagSpec[] = Object.entries(ConfigSchema.properties).map(([key, schema]) => ({
  name: flagName(key),
  type: isSwitch(schema) ? "bool" : "string",
  help: (schema as TSchema).description ?? "",
  // --model a.gguf --model b.gguf serves both; every other flag's last value wins.
  repeatable: key === "model",
}));

/** Warren's switches (--offline, --webui): they take no value, so the llama-server rewrite must not give them the next word. */
const SWITCHES: ReadonlySet<string> = new Set(FLAG_SPECS.filter((s) => s.type === "bool").map((s) => `--${s.name}`));

/**
 * Build the config from `--flag value` / `--flag=value` arguments and the environment.
 * Throws ConfigError with every problem found, one per line.
 */
export function loadConfig(args: readonly string[], env: Record<string, string | undefined>, notes: string[] = []): Config {
  const keys = Object.keys(ConfigSchema.properties) as ConfigKey[];
  const llama = translateLlamaFlags(args, SWITCHES);
  notes.push(...llama.notes);
  const raw: Record<string, unknown> = { ...defaults() };
  const source: Record<string, string> = {};
  for (const key of keys) {
    const v = env[envName(key)];
    if (v !== undefined && v !== "") {
      raw[key] = v;
      source[key] = envName(key);
    }
  }
  const problems: string[] = [...llama.problems];
  const parsed = parseArgs(llama.args, FLAG_SPECS, { problems });
  for (const key of keys) {
    const many = getStrings(parsed, flagName(key));
    const v = many && many.length === 1 ? many[0] : (many ?? parsed.flags.get(flagName(key)));
    if (v === undefined) continue;
    raw[key] = v;
    source[key] = `--${flagName(key)}`;
  }
  const converted = Value.Convert(ConfigSchema, { ...raw }) as Record<string, unknown>;
  for (const err of Value.Errors(ConfigSchema, converted)) {
    const key = err.path.replace(/^\//, "");
    const schema = (ConfigSchema.properties as Record<string, TSchema>)[key];
    const from = source[key] ?? "default";
    problems.push(`${from === "default" ? `--${flagName(key)}` : from}=${JSON.stringify(raw[key])}: ${describeRule(schema, err.message)}`);
  }
  if (parseKeepAlive(String(converted.keepAliveIdle)) === undefined) {
    problems.push(`${source.keepAliveIdle ?? "--keep-alive-idle"}=${JSON.stringify(raw.keepAliveIdle)}: must be ${KEEP_ALIVE_FORMS}`);
  }
  if (source.ctxSize && source.ctxPerSlot) problems.push(`${source.ctxSize} and ${source.ctxPerSlot}: give the context of all slots (--ctx-size) or of one slot (--ctx-per-slot), not both`);
  if (problems.length > 0) throw new ConfigError(problems.join("\n"));
  return converted as Config;
}

/**
 * Tokens of context each slot gets: --ctx-size divided among the slots (0: the model's training
 * context, `trainContext`), else --ctx-per-slot. Throws ConfigError when a slot would get fewer
 * than 8 tokens.
 */
export function slotContextSize(config: Pick<Config, "ctxSize" | "ctxPerSlot" | "parallel">, trainContext?: number): number {
  if (config.ctxSize === undefined) return config.ctxPerSlot;
  const total = config.ctxSize === 0 ? (trainContext ?? 0) : config.ctxSize;
  const perSlot = Math.floor(total / config.parallel);
  if (perSlot < 8 || perSlot > 1 << 20) {
    throw new ConfigError(`--ctx-size=${config.ctxSize}: ${total} tokens among ${config.parallel} slots is ${perSlot} per slot; each takes 8 to ${1 << 20}`);
  }
  return perSlot;
}

function describeRule(schema: TSchema | undefined, fallback: string): string {
  if (!schema) return fallback;
  if (schema.type === "integer") return `must be an integer from ${schema.minimum} to ${schema.maximum}`;
  if (isSwitch(schema)) return "must be true or false (or 1 or 0)";
  if (schema.pattern !== undefined) return "must be an http(s) URL";
  // --model's union is of strings; the others list their choices in the description.
  if (schema.anyOf?.some((s: TSchema) => s.type === "array")) return "must not be empty";
  if (schema.anyOf) return `must be one of ${schema.description}`;
  return fallback;
}

export function configHelp(): string {
  const d = defaults();
  const lines: string[] = [];
  for (const [key, schema] of Object.entries(ConfigSchema.properties) as Array<[ConfigKey, TSchema]>) {
    const flag = isSwitch(schema) ? `--[no-]${flagName(key)}` : `--${flagName(key)} ${schema.type === "string" || schema.anyOf ? "<text>" : "<n>"}`;
    lines.push(`  ${flag.padEnd(28)} ${schema.description} [${envName(key)}] (default: ${d[key] === undefined ? "unset" : d[key]})`);
  }
  lines.push("", "llama-server's spellings are accepted too (-m, -c, -np, -t, -b, -fa, --chat-template-file, --cors-origins, -a, ...): see docs/operations.md.");
  return lines.join("\n");
}
