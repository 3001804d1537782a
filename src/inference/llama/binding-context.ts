// The context side of LlamaEngine over node-llama-cpp's binding (see context-side.ts).
//
// We drive the native context below node-llama-cpp's LlamaContextSequence API: one initBatch /
// addToBatch / decodeBatch per scheduler step for all slots, then one sampleToken per generating
// slot. The sequence API queues each sequence's evaluation separately and resolves them through
// several promise layers per token; the scheduler already knows the whole batch, so it hands it over
// in one go. These members (`_ctx`, `_model`, `_bindings`) are internal to node-llama-cpp 3.21.1,
// which package.json pins exactly; engine-contract tests fail loudly if an upgrade moves them.
import { LlamaGrammarEvaluationState, type Llama, type LlamaContext, type LlamaGrammar, type LlamaModel, type Token } from "node-llama-cpp";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BatchItem, EngineSampler, Sampled } from "../engine.ts";
import type { SamplingParams } from "../types.ts";
import type { ContextSide } from "./context-side.ts";
import { LlamaSampler, penalized, sampleOne, samplerConfig, type AddonSampler, type AddonSampling, type AddonSamplerClass } from "./sampler.ts";

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

export class BindingContext implements ContextSide {
  private currentThreads: number;
  private readonly native: AddonContext;
  private readonly SamplerClass: AddonSamplerClass;
  private readonly addonModel: unknown;
  /** Private directory for copySlot's state files (made on first copy, removed on dispose). */
  private stateDir?: string;
  private copies = 0;

  constructor(
    llama: Llama,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    threads: number,
  ) {
    this.currentThreads = threads;
    const internals = context as unknown as { _ctx?: AddonContext };
    const bindings = (llama as unknown as { _bindings?: { AddonSampler?: AddonSamplerClass } })._bindings;
    const addonModel = (model as unknown as { _model?: unknown })._model;
    if (!internals._ctx || !bindings?.AddonSampler || addonModel === undefined) {
      throw new Error("node-llama-cpp internals changed: this Warren build needs node-llama-cpp 3.21.1");
    }
    this.native = internals._ctx;
    this.addonModel = addonModel;
    this.SamplerClass = bindings.AddonSampler;
  }

  /** A sampler whose chain is greedy alone: with probabilities it returns the softmax of the raw logits. */
  private readonly makeProbe = (): AddonSampler => {
    const probe = new this.SamplerClass(this.addonModel);
    probe.applyConfig({});
    return probe;
  };

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
    if (this.stateDir) rmSync(this.stateDir, { recursive: true, force: true });
  }
}

/** The native grammar state behind node-llama-cpp's wrapper (what the addon sampler takes). */
function internalState(state: LlamaGrammarEvaluationState): unknown {
  return (state as unknown as { _state: unknown })._state;
}
