// Engine over node-llama-cpp. The only module that imports it.
//
// We drive the native context below node-llama-cpp's LlamaContextSequence API: one initBatch /
// addToBatch / decodeBatch per scheduler step for all slots, then one sampleToken per generating
// slot. The sequence API queues each sequence's evaluation separately and resolves them through
// several promise layers per token; the scheduler already knows the whole batch, so it hands it over
// in one go. These members (`_ctx`, `_model`, `_bindings`) are internal to node-llama-cpp 3.21.1,
// which package.json pins exactly; engine-contract tests fail loudly if an upgrade moves them.
import {
  getLlama,
  LlamaGrammarEvaluationState,
  LlamaLogLevel,
  resolveChatWrapper,
  type ChatHistoryItem,
  type ChatWrapper,
  type Llama,
  type LlamaContext,
  type LlamaGrammar,
  type LlamaModel,
  type LlamaText,
  type Token,
} from "node-llama-cpp";
import { basename } from "node:path";
import {
  GrammarError,
  PLAIN_CHAT,
  plainChat,
  type BatchItem,
  type ChatPrompt,
  type ChatTurn,
  type Engine,
  type EngineSampler,
  type JsonGrammar,
  type ModelInfo,
} from "./engine.ts";
import { InferenceError, type SamplingParams } from "./types.ts";

export interface LlamaEngineOptions {
  modelPath: string;
  slots: number;
  /** KV cells per slot. */
  slotContextSize: number;
  threads: number;
  batchSize?: number;
  /** A Jinja chat template to use instead of the GGUF's own (for models that lack one or ship a broken one). */
  chatTemplate?: string;
}

interface AddonContext {
  initBatch(size: number): void;
  addToBatch(seq: number, firstPos: number, tokens: Uint32Array, logitIndexes: Uint32Array): Uint32Array;
  decodeBatch(): Promise<void>;
  sampleToken(batchLogitIndex: number, sampler: AddonSampler): Promise<number>;
  removeTokenCellsFromSequence(seq: number, start: number, end: number): boolean;
}
interface AddonSampler {
  applyConfig(config: Record<string, unknown>): void;
  dispose(): void;
}

class LlamaSampler implements EngineSampler {
  constructor(
    readonly native: AddonSampler,
    private readonly grammarState?: LlamaGrammarEvaluationState,
  ) {}
  dispose(): void {
    this.native.dispose();
    void this.grammarState;
  }
}

const NO_LOGITS = new Uint32Array(0);
/** Compiled schema grammars kept for reuse; clients tend to send the same schema on every request. */
const GRAMMAR_CACHE_ENTRIES = 32;
/** Tokens of preceding context used when detokenizing a piece (enough for SentencePiece spacing). */
const DETOKENIZE_CONTEXT_TOKENS = 4;

export class LlamaEngine implements Engine {
  readonly info: ModelInfo;
  readonly slots: number;
  readonly slotContextSize: number;
  readonly batchSize: number;
  readonly threads: number;
  private readonly native: AddonContext;
  private readonly SamplerClass: new (model: unknown) => AddonSampler;
  /** null: the GGUF has no chat template, so formatChat uses plainChat. */
  private readonly chatWrapper: ChatWrapper | null;
  private readonly grammars = new Map<string, Promise<JsonGrammar>>();

  private constructor(
    private readonly llama: Llama,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    opts: LlamaEngineOptions,
    batchSize: number,
  ) {
    this.slots = opts.slots;
    this.slotContextSize = opts.slotContextSize;
    this.batchSize = batchSize;
    this.threads = opts.threads;
    const internals = context as unknown as { _ctx?: AddonContext };
    const bindings = (llama as unknown as { _bindings?: { AddonSampler?: new (m: unknown) => AddonSampler } })._bindings;
    if (!internals._ctx || !bindings?.AddonSampler) {
      throw new Error("node-llama-cpp internals changed: this Warren build needs node-llama-cpp 3.21.1");
    }
    this.native = internals._ctx;
    this.SamplerClass = bindings.AddonSampler;
    const bos = model.tokens.bos ?? undefined;
    // Only a template the GGUF itself carries is trusted: node-llama-cpp would otherwise guess a
    // wrapper from the architecture name ("llama" -> its "### Human:" format), which a base model
    // has never seen either, so the documented plain format is the more predictable fallback.
    const template = opts.chatTemplate ?? model.fileInfo.metadata?.tokenizer?.chat_template;
    this.chatWrapper =
      typeof template === "string" && template.trim() !== ""
        ? resolveChatWrapper(model, { customWrapperSettings: { jinjaTemplate: { template } } })
        : null;
    this.info = {
      path: opts.modelPath,
      name: readName(model) ?? basename(opts.modelPath),
      architecture: String(model.fileInfo.metadata?.general?.architecture ?? "unknown"),
      trainContextSize: model.trainContextSize,
      vocabSize: vocabSizeOf(model),
      parameters: model.fileInsights.totalParameters ?? 0,
      sizeBytes: model.size,
      addBos: model.tokens.shouldPrependBosToken && bos != null,
      bosToken: bos,
      chatTemplate: this.chatWrapper?.wrapperName ?? PLAIN_CHAT,
    };
  }

  static async load(opts: LlamaEngineOptions): Promise<LlamaEngine> {
    const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: opts.threads });
    const model = await llama.loadModel({ modelPath: opts.modelPath });
    const batchSize = opts.batchSize ?? Math.min(opts.slotContextSize * opts.slots, 512);
    try {
      const context = await model.createContext({
        contextSize: opts.slotContextSize,
        sequences: opts.slots,
        batchSize,
        threads: { ideal: opts.threads, min: opts.threads },
      });
      return new LlamaEngine(llama, model, context, opts, batchSize);
    } catch (err) {
      await model.dispose();
      throw err;
    }
  }

  tokenize(text: string, addBos: boolean, special = false): number[] {
    const tokens = this.model.tokenize(text, special) as number[];
    if (addBos && this.info.addBos && this.info.bosToken != null && tokens[0] !== this.info.bosToken) {
      return [this.info.bosToken, ...tokens];
    }
    return tokens;
  }

  detokenize(tokens: readonly number[], context?: readonly number[]): string {
    if (!context || context.length === 0) return this.model.detokenize(tokens as Token[]);
    return this.model.detokenize(tokens as Token[], false, context.slice(-DETOKENIZE_CONTEXT_TOKENS) as Token[]);
  }

  isEndOfGeneration(token: number): boolean {
    return this.model.isEogToken(token as never);
  }

  createSampler(p: SamplingParams, history: readonly number[], grammar?: unknown): EngineSampler {
    const native = new this.SamplerClass((this.model as unknown as { _model: unknown })._model);
    let grammarState: LlamaGrammarEvaluationState | undefined;
    if (grammar) grammarState = new LlamaGrammarEvaluationState({ model: this.model, grammar: grammar as LlamaGrammar });
    const penalties = p.repeatPenalty !== 1 || p.presencePenalty !== 0 || p.frequencyPenalty !== 0;
    const config: Record<string, unknown> = {
      temperature: p.temperature,
      minP: p.minP,
      topK: p.topK,
      topP: p.topP,
      // Unseeded requests still need a seed for the native RNG; time-based like llama.cpp's default.
      seed: p.seed ?? (Date.now() ^ (Math.random() * 0x7fffffff)) >>> 0,
    };
    if (penalties) {
      config.repeatPenalty = p.repeatPenalty;
      config.repeatPenaltyMaxTokens = p.penaltyLastN;
      config.repeatPenaltyTokens = Uint32Array.from(history.slice(-p.penaltyLastN));
      config.repeatPenaltyPresencePenalty = p.presencePenalty;
      config.repeatPenaltyFrequencyPenalty = p.frequencyPenalty;
    }
    if (grammarState) config.grammarEvaluationState = (grammarState as unknown as { _state: unknown })._state;
    native.applyConfig(config);
    return new LlamaSampler(native, grammarState);
  }

  /**
   * node-llama-cpp never rejects a schema: keywords outside its subset are dropped silently and
   * unknown shapes become `null`, so a grammar would "enforce" something else than asked.
   * checkJsonSchema refuses those first, naming the keyword.
   */
  createJsonGrammar(schema: object | null): Promise<JsonGrammar> {
    const normalized = schema === null ? null : checkJsonSchema(schema);
    const key = JSON.stringify(normalized);
    let made = this.grammars.get(key);
    if (!made) {
      made = this.compileGrammar(normalized);
      made.catch(() => this.grammars.delete(key));
      if (this.grammars.size >= GRAMMAR_CACHE_ENTRIES) this.grammars.delete(this.grammars.keys().next().value!);
      this.grammars.set(key, made);
    }
    return made;
  }

  private async compileGrammar(schema: object | null): Promise<JsonGrammar> {
    try {
      const grammar = schema === null ? await this.llama.getGrammarFor("json") : await this.llama.createGrammarForJsonSchema(schema as never);
      // Schema grammars end in four newlines the model must write; their stop trigger ends generation there.
      return { grammar, stop: plainTriggers(grammar.stopGenerationTriggers as readonly LlamaText[]) };
    } catch (err) {
      throw new GrammarError(err instanceof Error ? err.message : String(err));
    }
  }

  formatChat(turns: readonly ChatTurn[]): ChatPrompt {
    if (!this.chatWrapper) {
      const { text, stop } = plainChat(turns);
      return { tokens: this.tokenize(text, true), stop, template: PLAIN_CHAT };
    }
    const history: ChatHistoryItem[] = turns.map((t) =>
      t.role === "assistant" ? { type: "model", response: [t.text] } : { type: t.role, text: t.text },
    );
    // An empty model turn at the end asks the template for the assistant's opening; a final
    // assistant turn from the client is left open instead (prefill).
    if (turns[turns.length - 1]?.role !== "assistant") history.push({ type: "model", response: [] });
    let state: ReturnType<ChatWrapper["generateContextState"]>;
    try {
      state = this.chatWrapper.generateContextState({ chatHistory: history });
    } catch (err) {
      throw new InferenceError("invalid_request", `the model's chat template rejected the messages: ${err instanceof Error ? err.message : String(err)}`);
    }
    let tokens = state.contextText.tokenize(this.model.tokenizer) as number[];
    const bos = this.info.bosToken;
    if (this.info.addBos && bos != null && tokens[0] !== bos) tokens = [bos, ...tokens];
    return { tokens, stop: plainTriggers(state.stopGenerationTriggers), template: this.chatWrapper.wrapperName };
  }

  async decode(items: readonly BatchItem[]): Promise<Array<number | undefined>> {
    let total = 0;
    for (const item of items) total += item.tokens.length;
    if (total === 0) return items.map(() => undefined);
    this.native.initBatch(total);
    const logitIndex: number[] = new Array(items.length);
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      const n = item.tokens.length;
      const wantLogits = item.sampler ? Uint32Array.of(n - 1) : NO_LOGITS;
      const idx = this.native.addToBatch(item.slot, item.pos, Uint32Array.from(item.tokens), wantLogits);
      logitIndex[i] = item.sampler ? idx[0]! : -1;
    }
    await this.native.decodeBatch();
    const sampled: Array<Promise<number> | undefined> = items.map((item, i) =>
      item.sampler ? this.native.sampleToken(logitIndex[i]!, (item.sampler as LlamaSampler).native) : undefined,
    );
    return Promise.all(sampled);
  }

  clearSlot(slot: number, fromPos: number): void {
    this.native.removeTokenCellsFromSequence(slot, fromPos, -1);
  }

  async dispose(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
  }
}

/** Stop triggers made of plain text only; triggers on special tokens are end-of-generation tokens already. */
function plainTriggers(triggers: readonly (LlamaText | string | readonly unknown[])[]): string[] {
  const out: string[] = [];
  for (const t of triggers) {
    const values: readonly unknown[] = typeof t === "string" ? [t] : Array.isArray(t) ? t : (t as LlamaText).values;
    if (values.length > 0 && values.every((v) => typeof v === "string")) out.push(values.join(""));
  }
  return out.filter((s) => s.length > 0);
}

function readName(model: LlamaModel): string | undefined {
  const name = model.fileInfo.metadata?.general?.name;
  return typeof name === "string" && name.length > 0 ? name : undefined;
}

function vocabSizeOf(model: LlamaModel): number {
  const tokens = (model.fileInfo.metadata as unknown as { tokenizer?: { ggml?: { tokens?: unknown[] } } })?.tokenizer?.ggml?.tokens;
  return Array.isArray(tokens) ? tokens.length : 0;
}

// ---- The JSON Schema subset node-llama-cpp 3.21.1 turns into grammars (its GbnfJsonSchema type) ----

/** Keywords that describe but never constrain; allowed anywhere and ignored. */
const ANNOTATIONS = new Set(["description", "title", "$schema", "$id", "$comment", "default", "examples", "deprecated", "readOnly", "writeOnly"]);
const SCALAR_TYPES = new Set(["string", "number", "integer", "boolean", "null"]);
const STRING_FORMATS = new Set(["date-time", "time", "date"]);
type SchemaKind = "ref" | "oneOf" | "const" | "enum" | "object" | "array" | "string" | "scalar";
const KEYWORDS: Record<SchemaKind, ReadonlySet<string>> = {
  ref: new Set(["$ref", "$defs"]),
  oneOf: new Set(["oneOf", "$defs"]),
  const: new Set(["const", "type"]),
  enum: new Set(["enum", "type"]),
  object: new Set(["type", "properties", "additionalProperties", "minProperties", "maxProperties", "required", "$defs"]),
  array: new Set(["type", "items", "prefixItems", "minItems", "maxItems", "$defs"]),
  string: new Set(["type", "minLength", "maxLength", "format"]),
  scalar: new Set(["type"]),
};
/** Deeper schemas are refused before node-llama-cpp's own recursion limit (512) is reached. */
const MAX_SCHEMA_DEPTH = 64;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const isLiteral = (v: unknown) => v === null || ["string", "number", "boolean"].includes(typeof v);

function refuse(keyword: string, path: string, detail = ""): GrammarError {
  return new GrammarError(`unsupported JSON Schema keyword "${keyword}" at ${path || "#"}${detail ? `: ${detail}` : ""}`, keyword);
}

/**
 * Checks a schema against the subset and returns it ready for createGrammarForJsonSchema, with
 * `anyOf` renamed `oneOf` (node-llama-cpp's oneOf grammar accepts any matching branch, which is
 * what anyOf means; Pydantic writes anyOf for every Optional field). Throws GrammarError naming
 * the first keyword that would not be enforced.
 */
export function checkJsonSchema(schema: unknown, path = "#", defs: ReadonlySet<string> = new Set(), depth = 0): Json {
  if (depth > MAX_SCHEMA_DEPTH) throw new GrammarError(`JSON Schema nested deeper than ${MAX_SCHEMA_DEPTH} levels at ${path}`);
  if (!isObject(schema)) throw new GrammarError(`a JSON Schema must be an object at ${path} (boolean schemas are not supported)`);
  const s: Json = { ...schema };
  if ("anyOf" in s) {
    if ("oneOf" in s) throw refuse("anyOf", path, "anyOf together with oneOf");
    s.oneOf = s.anyOf;
    delete s.anyOf;
  }
  const scope = new Set(defs);
  if (s.$defs !== undefined) {
    if (!isObject(s.$defs)) throw refuse("$defs", path, "must be an object");
    for (const name of Object.keys(s.$defs)) scope.add(name);
  }
  const kind = schemaKind(s, path);
  for (const key of Object.keys(s)) if (!ANNOTATIONS.has(key) && !KEYWORDS[kind].has(key)) throw refuse(key, path);
  const sub = (v: unknown, p: string) => checkJsonSchema(v, p, scope, depth + 1);
  if (isObject(s.$defs)) s.$defs = mapValues(s.$defs, (v, k) => sub(v, `${path}/$defs/${k}`));
  checkChildren(s, kind, path, scope, sub);
  return s;
}

function schemaKind(s: Json, path: string): SchemaKind {
  if ("$ref" in s) return "ref";
  if ("oneOf" in s) return "oneOf";
  if ("const" in s) return "const";
  if ("enum" in s) return "enum";
  const type = s.type;
  if (type === "object" || type === "array" || type === "string") return type;
  if (typeof type === "string" && SCALAR_TYPES.has(type)) return "scalar";
  if (Array.isArray(type) && type.length > 0 && type.every((t) => typeof t === "string" && SCALAR_TYPES.has(t))) return "scalar";
  if (type === undefined) {
    // {"allOf": ...} or {"not": ...}: name the keyword rather than the missing type.
    const other = Object.keys(s).find((k) => !ANNOTATIONS.has(k));
    if (other !== undefined) throw refuse(other, path);
    throw new GrammarError(`JSON Schema at ${path} has no "type" (nor const, enum, anyOf, oneOf or $ref)`, "type");
  }
  throw refuse("type", path, `${JSON.stringify(type)} (a list of types may hold only string, number, integer, boolean and null)`);
}

function checkChildren(s: Json, kind: SchemaKind, path: string, defs: ReadonlySet<string>, sub: (v: unknown, p: string) => Json): void {
  if (kind === "ref") {
    const ref = s.$ref;
    const name = typeof ref === "string" && ref.startsWith("#/$defs/") ? ref.slice("#/$defs/".length) : undefined;
    if (name === undefined || !defs.has(name)) throw refuse("$ref", path, `${JSON.stringify(ref)} (only "#/$defs/<name>" of a $defs in scope)`);
  } else if (kind === "oneOf") {
    if (!Array.isArray(s.oneOf) || s.oneOf.length === 0) throw refuse("oneOf", path, "must be a non-empty list");
    s.oneOf = s.oneOf.map((v, i) => sub(v, `${path}/oneOf/${i}`));
  } else if (kind === "const" && !isLiteral(s.const)) {
    throw refuse("const", path, "only string, number, boolean or null values");
  } else if (kind === "enum" && (!Array.isArray(s.enum) || s.enum.length === 0 || !s.enum.every(isLiteral))) {
    throw refuse("enum", path, "must be a non-empty list of string, number, boolean or null values");
  } else if (kind === "string" && s.format !== undefined && !STRING_FORMATS.has(s.format as string)) {
    throw refuse("format", path, `${JSON.stringify(s.format)} (supported: date-time, time, date)`);
  } else if (kind === "object") {
    if (s.properties !== undefined) {
      if (!isObject(s.properties)) throw refuse("properties", path, "must be an object");
      s.properties = mapValues(s.properties, (v, k) => sub(v, `${path}/properties/${k}`));
    }
    if (isObject(s.additionalProperties)) s.additionalProperties = sub(s.additionalProperties, `${path}/additionalProperties`);
    else if (s.additionalProperties !== undefined && typeof s.additionalProperties !== "boolean") throw refuse("additionalProperties", path);
  } else if (kind === "array") {
    if (s.items !== undefined) s.items = sub(s.items, `${path}/items`);
    if (s.prefixItems !== undefined) {
      if (!Array.isArray(s.prefixItems)) throw refuse("prefixItems", path, "must be a list");
      s.prefixItems = s.prefixItems.map((v, i) => sub(v, `${path}/prefixItems/${i}`));
    }
  }
}

function mapValues(o: Json, f: (v: unknown, k: string) => unknown): Json {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v, k)]));
}
