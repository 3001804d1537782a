// Engine over llama.cpp, in two halves: the model half here (tokenizer, chat template, grammars,
// model facts) is node-llama-cpp's; the context half (decode, sampling, the slots' cells) is either
// llama.cpp's C API on a decode thread of its own (capi/context.ts, the default) or node-llama-cpp's
// binding (binding-context.ts). Only modules under inference/llama/ import node-llama-cpp.
import { getLlama, LlamaLogLevel, type Llama, type LlamaGrammar, type LlamaModel, type LlamaText, type Token } from "node-llama-cpp";
import { basename } from "node:path";
import type { RenderedChat, RenderInput } from "../chat/types.ts";
import { GrammarError, type BatchItem, type Engine, type EngineSampler, type JsonGrammar, type ModelInfo, type Pipeline, type Sampled } from "../engine.ts";
import { checkGbnf } from "../gbnf.ts";
import { checkJsonSchema } from "../json-schema.ts";
import type { SamplingParams } from "../types.ts";
import { BindingContext } from "./binding-context.ts";
import { CapiContext } from "./capi/context.ts";
import { ChatTemplate } from "./chat-template.ts";
import type { ContextSide } from "./context-side.ts";
import { fimTokens } from "./fim.ts";
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
  /** Who drives the context: llama.cpp's C API (default, where it opens) or node-llama-cpp's binding. */
  engine?: "c-api" | "binding";
}

/** Compiled schema grammars kept for reuse; clients tend to send the same schema on every request. */
const GRAMMAR_CACHE_ENTRIES = 32;
/** Tokens of preceding context used when detokenizing a piece (enough for SentencePiece spacing). */
const DETOKENIZE_CONTEXT_TOKENS = 4;

export class LlamaEngine implements Engine {
  readonly info: ModelInfo;
  readonly slots: number;
  readonly slotContextSize: number;
  readonly batchSize: number;
  private readonly chat: ChatTemplate;
  private readonly grammars = new Map<string, Promise<JsonGrammar>>();
  /** Compiled GBNF (tool-call grammars), by text. */
  private readonly gbnfGrammars = new Map<string, Promise<unknown>>();
  private readonly bytes: TokenBytes;
  private ctx!: ContextSide;

  private constructor(
    private readonly llama: Llama,
    private readonly model: LlamaModel,
    opts: LlamaEngineOptions,
    batchSize: number,
  ) {
    this.slots = opts.slots;
    this.slotContextSize = opts.slotContextSize;
    this.batchSize = batchSize;
    const addonModel = (model as unknown as { _model?: AddonModel })._model;
    if (typeof addonModel?.getTokenString !== "function") {
      throw new Error("node-llama-cpp internals changed: this Warren build needs node-llama-cpp 3.21.1");
    }
    this.bytes = new TokenBytes(model, addonModel);
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

  static async load(opts: LlamaEngineOptions): Promise<LlamaEngine> {
    const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: opts.threads });
    const batchSize = opts.batchSize ?? Math.min(opts.slotContextSize * opts.slots, 512);
    const flashAttention = opts.flashAttention ?? "auto";
    let fallback: string | undefined;
    if ((opts.engine ?? "c-api") === "c-api") {
      // The model half needs only the vocabulary: the weights are the C API context's.
      const vocab = await llama.loadModel({ modelPath: opts.modelPath, vocabOnly: true });
      try {
        const engine = new LlamaEngine(llama, vocab, opts, batchSize);
        const ctx = await CapiContext.load(
          { modelPath: opts.modelPath, slots: opts.slots, slotContextSize: opts.slotContextSize, batchSize, threads: opts.threads, flashAttention, mmap: opts.mmap === true },
          {
            tokenizeLeftover: (text) => vocab.tokenize(text, false, "trimLeadingSpace") as number[],
            detokenize: (tokens) => vocab.detokenize(tokens as Token[]),
            source: (grammar) => ({ gbnf: (grammar as LlamaGrammar).grammar, root: (grammar as LlamaGrammar).rootRuleName }),
          },
        );
        engine.ctx = ctx;
        Object.assign(engine.info, ctx.weights);
        engine.engineName = "c-api";
        return engine;
      } catch (err) {
        await vocab.dispose();
        if (opts.engine === "c-api") throw err;
        // Where the C API cannot be opened (no prebuilt CPU build to call, another layout), the binding drives.
        fallback = err instanceof Error ? err.message : String(err);
      }
    }
    // Read into memory unless --mmap: a mapped file that is truncated or rewritten in place while
    // loaded (cp over it, a download into the same name) kills the process with SIGBUS on the next
    // decode. The cost is a read of the file at load instead of page faults on first use, and no
    // pages shared with other processes serving the same file.
    const model = await llama.loadModel({ modelPath: opts.modelPath, useMmap: opts.mmap === true });
    try {
      const context = await model.createContext({
        contextSize: opts.slotContextSize,
        sequences: opts.slots,
        batchSize,
        threads: { ideal: opts.threads, min: opts.threads },
        flashAttention: flashAttention === "on" ? true : flashAttention === "off" ? false : "auto",
      });
      const engine = new LlamaEngine(llama, model, opts, batchSize);
      engine.ctx = new BindingContext(llama, model, context, opts.threads);
      engine.engineFallback = fallback;
      return engine;
    } catch (err) {
      await model.dispose();
      throw err;
    }
  }

  /** Which half drives the context: "c-api" or "binding". */
  engineName: "c-api" | "binding" = "binding";
  /** Why the C API was not used, when it was asked for by default and could not be opened. */
  engineFallback?: string;

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
    return this.ctx.createSampler(p, history, grammar);
  }

  engageGrammar(sampler: EngineSampler, grammar: unknown, leftover: string): number {
    return this.ctx.engageGrammar(sampler, grammar, leftover);
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

  decode(items: readonly BatchItem[]): Promise<Sampled[][]> {
    return this.ctx.decode(items);
  }

  copySlot(from: number, to: readonly number[]): Promise<void> {
    return this.ctx.copySlot(from, to);
  }

  openPipeline(): Pipeline | undefined {
    return this.ctx.openPipeline?.();
  }

  collectGarbage(): Promise<number> {
    return this.ctx.collectGarbage?.() ?? Promise.resolve(0);
  }

  tokenBytes(token: number): Uint8Array {
    return this.bytes.of(token);
  }

  get threads(): number {
    return this.ctx.threads;
  }

  setThreads(threads: number): void {
    this.ctx.setThreads(threads);
  }

  /** The flash-attention setting the context was created with. */
  get flashAttention(): "auto" | "on" | "off" {
    return this.ctx.flashAttention;
  }

  clearSlot(slot: number, fromPos: number): void {
    this.ctx.clearSlot(slot, fromPos);
  }

  async dispose(): Promise<void> {
    await this.ctx.dispose();
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
