// Engine over node-llama-cpp. Only modules under inference/llama/ import it.
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
  type Llama,
  type LlamaContext,
  type LlamaGrammar,
  type LlamaModel,
  type LlamaText,
  type Token,
} from "node-llama-cpp";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { RenderedChat, RenderInput } from "../chat/types.ts";
import { GrammarError, type BatchItem, type Engine, type EngineSampler, type JsonGrammar, type ModelInfo, type Sampled } from "../engine.ts";
import { checkGbnf } from "../gbnf.ts";
import { checkJsonSchema } from "../json-schema.ts";
import type { SamplingParams } from "../types.ts";
import { ChatTemplate } from "./chat-template.ts";
import { fimTokens } from "./fim.ts";
import { LlamaSampler, penalized, sampleOne, samplerConfig, type AddonSampler, type AddonSampling, type AddonSamplerClass } from "./sampler.ts";
import { TokenBytes, type AddonModel } from "./token-bytes.ts";

interface LlamaEngineOptions {
  modelPath: string;
  slots: number;
  /** KV cells per slot. */
  slotContextSize: number;
  threads: number;
  batchSize?: number;
  /** Map the weights from the file instead of reading them into memory (see load). */
  mmap?: boolean;
  /** llama.cpp's flash attention; "auto" (default) turns it on where supported. */
  flashAttention?: "auto" | "on" | "off";
  /** A Jinja chat template to use instead of the GGUF's own (for models that lack one or ship a broken one). */
  chatTemplate?: string;
  /** A node-llama-cpp built-in chat wrapper by name ("chatML", "qwen", ...): wins over chatTemplate. */
  chatWrapper?: string;
}

interface AddonContext extends AddonSampling {
  initBatch(size: number): void;
  addToBatch(seq: number, firstPos: number, tokens: Uint32Array, logitIndexes: Uint32Array): Uint32Array;
  decodeBatch(): Promise<void>;
  removeTokenCellsFromSequence(seq: number, start: number, end: number): boolean;
  setThreads(threads: number): void;
  saveSequenceStateToFile(path: string, seq: number, tokens: Uint32Array): Promise<number>;
  loadSequenceStateFromFile(path: string, seq: number, maxTokens: number): Promise<Uint32Array>;
}

const NO_LOGITS = new Uint32Array(0);
const NO_TOKENS = new Uint32Array(0);
const NOT_SAMPLED: Sampled[] = [];
/** Compiled schema grammars kept for reuse; clients tend to send the same schema on every request. */
const GRAMMAR_CACHE_ENTRIES = 32;
/** Tokens of preceding context used when detokenizing a piece (enough for SentencePiece spacing). */
const DETOKENIZE_CONTEXT_TOKENS = 4;

export class LlamaEngine implements Engine {
  readonly info: ModelInfo;
  readonly slots: number;
  readonly slotContextSize: number;
  readonly batchSize: number;
  private currentThreads: number;
  private readonly native: AddonContext;
  private readonly SamplerClass: AddonSamplerClass;
  private readonly chat: ChatTemplate;
  private readonly grammars = new Map<string, Promise<JsonGrammar>>();
  /** Compiled GBNF (tool-call grammars), by text. */
  private readonly gbnfGrammars = new Map<string, Promise<unknown>>();
  private readonly bytes: TokenBytes;
  private readonly addonModel: AddonModel;
  /** Private directory for copySlot's state files (made on first copy, removed on dispose). */
  private stateDir?: string;
  private copies = 0;

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
    this.currentThreads = opts.threads;
    const internals = context as unknown as { _ctx?: AddonContext };
    const bindings = (llama as unknown as { _bindings?: { AddonSampler?: AddonSamplerClass } })._bindings;
    const addonModel = (model as unknown as { _model?: AddonModel })._model;
    if (!internals._ctx || !bindings?.AddonSampler || typeof addonModel?.getTokenString !== "function") {
      throw new Error("node-llama-cpp internals changed: this Warren build needs node-llama-cpp 3.21.1");
    }
    this.native = internals._ctx;
    this.addonModel = addonModel;
    this.bytes = new TokenBytes(model, addonModel);
    this.SamplerClass = bindings.AddonSampler;
    const bos = model.tokens.bos ?? undefined;
    this.chat = new ChatTemplate(
      model,
      { jinja: opts.chatTemplate, wrapper: opts.chatWrapper },
      (text) => text.tokenize(model.tokenizer) as number[],
      (text) => this.tokenize(text, true),
    );
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
      eosToken: model.tokens.eos ?? undefined,
      chatTemplate: this.chat.capabilities.template,
      chatTemplateText: this.chat.jinja,
      chat: this.chat.capabilities,
      fim: fimTokens(model),
    };
  }

  /** A sampler whose chain is greedy alone: with probabilities it returns the softmax of the raw logits. */
  private readonly makeProbe = (): AddonSampler => {
    const probe = new this.SamplerClass(this.addonModel);
    probe.applyConfig({});
    return probe;
  };

  static async load(opts: LlamaEngineOptions): Promise<LlamaEngine> {
    const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: opts.threads });
    // Read into memory unless --mmap: a mapped file that is truncated or rewritten in place while
    // loaded (cp over it, a download into the same name) kills the process with SIGBUS on the next
    // decode. The cost is a read of the file at load instead of page faults on first use, and no
    // pages shared with other processes serving the same file.
    const model = await llama.loadModel({ modelPath: opts.modelPath, useMmap: opts.mmap === true });
    const batchSize = opts.batchSize ?? Math.min(opts.slotContextSize * opts.slots, 512);
    try {
      const context = await model.createContext({
        contextSize: opts.slotContextSize,
        sequences: opts.slots,
        batchSize,
        threads: { ideal: opts.threads, min: opts.threads },
        flashAttention: opts.flashAttention === "on" ? true : opts.flashAttention === "off" ? false : "auto",
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
    const native = new this.SamplerClass(this.addonModel);
    let grammarState: LlamaGrammarEvaluationState | undefined;
    if (grammar) grammarState = new LlamaGrammarEvaluationState({ model: this.model, grammar: grammar as LlamaGrammar });
    const config = samplerConfig(p, history);
    const sampler = new LlamaSampler(native, config, penalized(p) ? history.slice(-p.penaltyLastN) : [], p.penaltyLastN, grammarState);
    native.applyConfig(grammarState ? { ...config, grammarEvaluationState: internalState(grammarState) } : config);
    return sampler;
  }

  engageGrammar(s: EngineSampler, grammar: unknown, leftover: string): number {
    const sampler = s as LlamaSampler;
    const state = new LlamaGrammarEvaluationState({ model: this.model, grammar: grammar as LlamaGrammar });
    const native = internalState(state);
    // What the model already wrote past the trigger is fed to the grammar while it fits, as
    // node-llama-cpp's own chat loop does with the text after a function-call prefix.
    const taken: number[] = [];
    if (leftover.length > 0) {
      for (const t of this.model.tokenize(leftover, false, "trimLeadingSpace") as number[]) {
        if (!this.SamplerClass.canBeNextTokenForGrammarEvaluationState(native, t)) break;
        this.SamplerClass.acceptGrammarEvaluationStateToken(native, t);
        taken.push(t);
      }
    }
    const config: Record<string, unknown> = { ...sampler.config, grammarEvaluationState: native };
    if (sampler.config.repeatPenaltyTokens) {
      // The same history the native sampler holds now, so its penalty state is kept, not rebuilt.
      config.repeatPenaltyTokens = Uint32Array.from([...sampler.history, ...sampler.sampled].slice(-sampler.penaltyLastN));
    }
    sampler.native.applyConfig(config);
    sampler.grammarState = state;
    const takenText = taken.length > 0 ? this.model.detokenize(taken as Token[]) : "";
    return leftover.startsWith(takenText) ? takenText.length : 0;
  }

  async jsonSchemaGbnf(schema: object): Promise<string> {
    const made = await this.createJsonGrammar(schema);
    return (made.grammar as LlamaGrammar).grammar;
  }

  createGrammar(gbnf: string): Promise<unknown> {
    let made = this.gbnfGrammars.get(gbnf);
    if (!made) {
      // llama.cpp only logs why a grammar does not parse: our own check says where first.
      const problem = checkGbnf(gbnf);
      if (problem) return Promise.reject(new GrammarError(`line ${problem.line}, column ${problem.column}: ${problem.message}`));
      made = this.llama.createGrammar({ grammar: gbnf }).catch((err: unknown) => {
        throw new GrammarError(`the grammar does not compile: ${err instanceof Error ? err.message : String(err)}`);
      });
      made.catch(() => this.gbnfGrammars.delete(gbnf));
      if (this.gbnfGrammars.size >= GRAMMAR_CACHE_ENTRIES) this.gbnfGrammars.delete(this.gbnfGrammars.keys().next().value!);
      this.gbnfGrammars.set(gbnf, made);
    }
    return made;
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

  renderChat(input: RenderInput): RenderedChat {
    return this.chat.render(input, this.info.addBos ? this.info.bosToken : undefined);
  }

  async decode(items: readonly BatchItem[]): Promise<Sampled[][]> {
    let total = 0;
    for (const item of items) total += item.tokens.length;
    if (total === 0) return items.map(() => NOT_SAMPLED);
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
    // Every sampler reads the batch's logits (valid until the next decode) into its own candidate
    // array, so forks of one item can sample from the same logits side by side.
    const pending: Array<Promise<Sampled>> = [];
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (!item.sampler) continue;
      const want = { probabilities: item.probabilities === true, model: item.modelProbabilities === true, makeProbe: this.makeProbe };
      pending.push(sampleOne(this.native, logitIndex[i]!, item.sampler as LlamaSampler, want));
      if (item.forks) for (const f of item.forks) pending.push(sampleOne(this.native, logitIndex[i]!, f as LlamaSampler, want));
    }
    const flat = await Promise.all(pending);
    let next = 0;
    return items.map((item) => (item.sampler ? flat.slice(next, (next += 1 + (item.forks?.length ?? 0))) : NOT_SAMPLED));
  }

  /**
   * Through a state file: node-llama-cpp 3.21.1 binds no llama_memory_seq_cp, and its in-memory
   * checkpoints restore only into the sequence they came from. The file lives in a private
   * directory, on /dev/shm (RAM) where there is one: one save, then one load per target. That is a
   * small fraction of evaluating the prompt again (bench/scheduler/copy-slot.ts measures both;
   * docs/benchmarks.md has the figures).
   */
  async copySlot(from: number, to: readonly number[]): Promise<void> {
    if (to.length === 0) return;
    this.stateDir ??= mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "warren-kv-"));
    const file = join(this.stateDir, `${++this.copies}.seq`);
    try {
      await this.native.saveSequenceStateToFile(file, from, NO_TOKENS);
      for (const slot of to) {
        this.native.removeTokenCellsFromSequence(slot, 0, -1);
        await this.native.loadSequenceStateFromFile(file, slot, 1);
      }
    } finally {
      rmSync(file, { force: true });
    }
  }

  tokenBytes(token: number): Uint8Array {
    return this.bytes.of(token);
  }

  get threads(): number {
    return this.currentThreads;
  }

  /** We drive decodeBatch ourselves, so node-llama-cpp's own thread splitter never resets this. */
  setThreads(threads: number): void {
    this.native.setThreads(threads);
    this.currentThreads = threads;
  }

  /** The flash-attention setting the context was created with, as node-llama-cpp reports it. */
  get flashAttention(): "auto" | "on" | "off" {
    const v = this.context.flashAttention;
    return v === "auto" ? "auto" : v ? "on" : "off";
  }

  clearSlot(slot: number, fromPos: number): void {
    this.native.removeTokenCellsFromSequence(slot, fromPos, -1);
  }

  async dispose(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
    if (this.stateDir) rmSync(this.stateDir, { recursive: true, force: true });
  }
}

/** The native grammar state behind node-llama-cpp's wrapper (what the addon sampler takes). */
function internalState(state: LlamaGrammarEvaluationState): unknown {
  return (state as unknown as { _state: unknown })._state;
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
