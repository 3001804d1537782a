// Which models this server can serve, by name, with each one's settings. Sources, in this order:
// --model values (FILE, or NAME=FILE), models-file entries that give a path, and every GGUF file
// under --models-dir, which is read again on request (an unknown name, a listing). A name is unique:
// the first source to give it wins.
import { readdirSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { INFERENCE_MODELS_DIR_DEPTH, INFERENCE_MODELS_DIR_MAX } from "../limits.ts";

/** What a model is loaded with: the serve flags' values, or its own from the models file. */
export interface ModelSettings {
  parallel: number;
  /** Tokens of context per slot (prompt + generated): what each slot gets (--ctx-per-slot, or ctxTotal divided). */
  ctxSize: number;
  /**
   * --ctx-size as llama-server means it: all slots' context together, divided evenly among `parallel`
   * (0: the model's training context, known once its header is read: withSlotContext). When set, it
   * decides ctxSize; undefined: ctxSize is as given.
   */
  ctxTotal?: number;
  batchSize: number;
  threads: number | "auto";
  flashAttention: "auto" | "on" | "off";
  /** --engine: what drives llama.cpp's context (auto: the C API where it opens). */
  engine: "auto" | "c-api" | "binding";
  /** --mmap: weights mapped from the file rather than read into memory. */
  mmap: boolean;
  /** As --chat-template takes it: a built-in name or a Jinja file; "" = the model's own. */
  chatTemplate: string;
  maxQueue: number;
  /** How long it stays loaded with nothing to do, in ms; Infinity = until it must make room. */
  keepAliveMs: number;
}

export interface ModelSpec {
  name: string;
  path: string;
  settings: ModelSettings;
}

interface CatalogueOptions {
  /** --model values, in order. */
  models: readonly string[];
  /** --models-dir ("" or undefined: none). */
  dir?: string;
  /** The models file's entries by name. */
  file?: ReadonlyMap<string, { path?: string; settings: Partial<ModelSettings> }>;
  /** The serve flags' settings, for whatever an entry does not set. */
  defaults: ModelSettings;
}

export class CatalogueError extends Error {
  override name = "CatalogueError";
}

const GGUF = /\.gguf$/i;
/** Split models: only the first part is listed (llama.cpp finds the others beside it). */
const SHARD = /-(\d{5})-of-\d{5}$/;
/** Longest name (the APIs' `model` fields take 256 characters). */
const MAX_NAME = 256;

/** A model's name from its file: the file name without .gguf (and without a split model's part number). */
export const nameOfFile = (path: string): string => basename(path).replace(GGUF, "").replace(SHARD, "");

export class Catalogue {
  /** From --model and the models file: fixed for the process's life. */
  private readonly fixed: ModelSpec[] = [];
  private scanned: ModelSpec[] = [];
  private readonly dir?: string;
  /** Problems the last folder scan met (a missing folder, too many files), for the log. */
  lastScanProblem?: string;

  constructor(private readonly opts: CatalogueOptions) {
    this.dir = opts.dir ? resolve(opts.dir) : undefined;
    for (const value of opts.models) this.add(modelArgument(value), "--model");
    for (const [name, entry] of opts.file ?? []) if (entry.path) this.add({ name, path: entry.path }, "the models file");
    if (this.dir) {
      if (!isDir(this.dir)) throw new CatalogueError(`--models-dir=${JSON.stringify(opts.dir)}: not a folder`);
      this.rescan();
    }
    for (const [name, entry] of opts.file ?? []) {
      if (!entry.path && !this.find(name) && !this.dir) throw new CatalogueError(`the models file names "${name}", which no --model gives: give it a path`);
    }
  }

  /** One model and no folder: every name means that model, as with a single-model server. */
  get single(): boolean {
    return this.fixed.length === 1 && !this.dir;
  }

  list(): readonly ModelSpec[] {
    return this.scanned.length === 0 ? this.fixed : [...this.fixed, ...this.scanned];
  }

  find(name: string): ModelSpec | undefined {
    return this.fixed.find((m) => m.name === name) ?? this.scanned.find((m) => m.name === name);
  }

  /** Reads --models-dir again (no-op without one); a file gone from it is gone from the list. */
  rescan(): readonly ModelSpec[] {
    if (!this.dir) return this.list();
    const found: ModelSpec[] = [];
    const problem = { text: undefined as string | undefined };
    if (!isDir(this.dir)) problem.text = `--models-dir ${this.dir} is not a folder any more`;
    else walk(this.dir, "", 0, found, problem, (name, path) => (this.fixed.some((m) => m.name === name) ? undefined : this.spec(name, path)));
    this.scanned = found;
    this.lastScanProblem = problem.text;
    return this.list();
  }

  private add(m: { name: string; path: string }, source: string): void {
    const bad = nameProblem(m.name);
    if (bad) throw new CatalogueError(`${source} ${JSON.stringify(m.name)}: ${bad}`);
    if (this.find(m.name)) throw new CatalogueError(`${source}: two models are named "${m.name}" (give one another name with NAME=FILE)`);
    this.fixed.push(this.spec(m.name, resolve(m.path)));
  }

  private spec(name: string, path: string): ModelSpec {
    const own = this.opts.file?.get(name)?.settings ?? {};
    const settings = { ...this.opts.defaults, ...own };
    // A model's own ctx-per-slot wins over the flags' --ctx-size.
    if (own.ctxSize !== undefined && own.ctxTotal === undefined) delete settings.ctxTotal;
    return { name, path, settings: withSlotContext(settings, undefined, name) };
  }
}

/** Most tokens of context a slot may get (as --ctx-per-slot takes). */
const MAX_SLOT_CONTEXT = 1 << 20;

/**
 * `s` with ctxSize, the context per slot, worked out from ctxTotal (the whole context divided evenly
 * among the slots). ctxTotal 0 takes `trainContext`, the model's training context; without it `s`
 * comes back as it is (the caller reads the model's header and asks again). Throws CatalogueError
 * when a slot would get fewer than 8 tokens or more than MAX_SLOT_CONTEXT.
 */
export function withSlotContext(s: ModelSettings, trainContext: number | undefined, name: string): ModelSettings {
  if (s.ctxTotal === undefined || (s.ctxTotal === 0 && trainContext === undefined)) return s;
  const total = s.ctxTotal === 0 ? trainContext! : s.ctxTotal;
  const perSlot = Math.floor(total / s.parallel);
  if (perSlot < 8 || perSlot > MAX_SLOT_CONTEXT) {
    throw new CatalogueError(`model "${name}": ctx-size ${s.ctxTotal}: ${total} tokens among ${s.parallel} slots is ${perSlot} per slot; each takes 8 to ${MAX_SLOT_CONTEXT}`);
  }
  return { ...s, ctxSize: perSlot };
}

/** `FILE` or `NAME=FILE`; a value that names an existing file is a file, "=" or not. */
export function modelArgument(value: string): { name: string; path: string } {
  const eq = value.indexOf("=");
  if (eq > 0 && !isFile(value)) return { name: value.slice(0, eq), path: value.slice(eq + 1) };
  return { name: nameOfFile(value), path: value };
}

function nameProblem(name: string): string | undefined {
  if (name.length === 0) return "a model name must not be empty";
  if (name.length > MAX_NAME) return `a model name has at most ${MAX_NAME} characters`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return "a model name must not hold control characters";
  return undefined;
}

/** GGUF files below `dir`, named by their path from the folder's root ("org/model" for org/model.gguf). */
function walk(
  dir: string,
  prefix: string,
  depth: number,
  out: ModelSpec[],
  problem: { text?: string },
  make: (name: string, path: string) => ModelSpec | undefined,
): void {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return;
  }
  for (const entry of names) {
    if (entry.startsWith(".")) continue;
    const path = join(dir, entry);
    if (isDir(path)) {
      if (depth < INFERENCE_MODELS_DIR_DEPTH) walk(path, `${prefix}${entry}/`, depth + 1, out, problem, make);
      continue;
    }
    // Multimodal projectors are not models one can talk to; later parts of a split model load with the first.
    if (!GGUF.test(entry) || /mmproj/i.test(entry) || Number(SHARD.exec(entry.replace(GGUF, ""))?.[1] ?? 1) !== 1) continue;
    if (out.length >= INFERENCE_MODELS_DIR_MAX) {
      problem.text = `--models-dir holds more than ${INFERENCE_MODELS_DIR_MAX} models; the rest are not served`;
      return;
    }
    const spec = make(prefix + nameOfFile(entry), path);
    if (spec && !nameProblem(spec.name) && !out.some((m) => m.name === spec.name)) out.push(spec);
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
