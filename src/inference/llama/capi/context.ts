// The context side of the engine over llama.cpp's C API (see context-side.ts): decode and
// sampling run on a decode thread of their own (worker.ts), synchronously, where node-llama-cpp's
// binding queues the decode and then each slot's sampling to a thread pool and resolves a promise
// for each (bench/scheduler/c-api.ts measures the two). The scheduler drives it through a pipeline
// (capi/pipeline.ts), so the decode thread goes on with generating slots while this thread reads
// the last step; decode() is one message each way.
//
// Samplers are llama.cpp sampler chains built here the way node-llama-cpp 3.21.1's AddonSampler
// builds them, so the same settings and seed draw the same tokens through either engine. Freeing
// a sampler, clearing or copying cells and the thread count are messages to the decode thread,
// which handles them in order with the steps.
import type { Pointer } from "bun:ffi";
import { GrammarError, type BatchItem, type EngineSampler, type Pipeline, type Sampled, type Sampling } from "../../engine.ts";
import type { SamplingParams } from "../../types.ts";
import type { ContextSide } from "../context-side.ts";
import { penalized, seedOf } from "../sampler.ts";
import { binariesDir, capiLibrary, cString, type CapiLibrary } from "./library.ts";
import { CapiPipeline, jobCount, sampledOf } from "./pipeline.ts";
import type { DecodeItem, FromDecodeThread, SampleJob, ToDecodeThread } from "./protocol.ts";

interface CapiContextOptions {
  modelPath: string;
  slots: number;
  slotContextSize: number;
  batchSize: number;
  threads: number;
  flashAttention: "auto" | "on" | "off";
  mmap: boolean;
}

/** What the model side lends for grammars: its tokenizer (as node-llama-cpp's chat loop tokenizes leftovers) and detokenizer. */
interface GrammarText {
  tokenizeLeftover(text: string): number[];
  detokenize(tokens: readonly number[]): string;
  /** GBNF text and root rule of a grammar the model side compiled. */
  source(grammar: unknown): { gbnf: string; root: string };
}

class CapiSampler implements EngineSampler {
  probe: Pointer | null = null;
  disposed = false;
  constructor(
    readonly owner: CapiContext,
    readonly chain: Pointer,
    readonly penalties: Pointer | null,
    public grammar: Pointer | null,
  ) {}
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.owner.free(this);
  }
}

const NOT_SAMPLED: Sampled[] = [];
/** Longest a sampler's release waits to travel with another message to the decode thread. */
const CAPI_FREE_DELAY_MS = 50;

/**
 * worker.ts from a checkout; in the compiled executable, the entry point scripts/build.ts adds for it,
 * which Bun stores by its path under src/ (the entry points' common directory), as .js.
 */
function workerModule(): string {
  if (import.meta.url.includes("$bunfs")) return "/$bunfs/root/inference/llama/capi/worker.js";
  return new URL("./worker.ts", import.meta.url).href;
}

export class CapiContext implements ContextSide {
  private readonly lib: CapiLibrary;
  private inFlight: Promise<unknown> | null = null;
  private pipeline: CapiPipeline | null = null;
  private outbox: ToDecodeThread[] = [];
  private flushQueued = false;
  private lazyFlush: ReturnType<typeof setTimeout> | undefined;
  private nextId = 1;
  private readonly replies = new Map<number, (m: FromDecodeThread) => void>();
  private closed: (() => void) | null = null;
  /** Why the decode thread is gone, once it is: no step can be answered after that. */
  private gone: string | null = null;
  private currentThreads: number;

  private constructor(
    private readonly worker: Worker,
    private readonly control: Int32Array,
    private readonly vocab: Pointer,
    private readonly nVocab: number,
    /** Facts of the weights, which the vocabulary-only model of the other half does not have. */
    readonly weights: { sizeBytes: number; trainContextSize: number },
    private readonly opts: CapiContextOptions,
    private readonly text: GrammarText,
    dir: string,
  ) {
    this.lib = capiLibrary(dir);
    this.currentThreads = opts.threads;
    worker.onmessage = (event: MessageEvent<FromDecodeThread>) => {
      const m = event.data;
      if (m.type === "closed") return this.closed?.();
      if (m.type === "step" || m.type === "reset" || (m.type === "failed" && m.id === -1)) return this.pipeline?.receive(m);
      if (m.type === "failed" && m.id === -2) return lost(m.message);
      if (m.type === "decoded" || m.type === "failed" || m.type === "copied" || m.type === "collected") this.replies.get(m.id)?.(m);
    };
    // A decode thread that dies must not leave a step waiting for ever: it fails, and so does every later one.
    const lost = (why: string) => {
      this.gone ??= why;
      const message = `the decode thread stopped: ${this.gone}`;
      for (const [id, reply] of this.replies) reply({ type: "failed", id, message });
      this.pipeline?.fail(message);
      this.closed?.();
    };
    worker.onerror = (event) => lost(event.message || "an error");
    worker.addEventListener("close", () => lost("it exited"));
  }

  static async load(opts: CapiContextOptions, text: GrammarText): Promise<CapiContext> {
    // This thread's handles: where the C API cannot be used, this fails before a thread starts.
    const dir = binariesDir();
    const lib = capiLibrary(dir);
    const worker = new Worker(workerModule());
    const control = new SharedArrayBuffer(8);
    const flash = opts.flashAttention === "on" ? 1 : opts.flashAttention === "off" ? 0 : -1;
    const loaded = await new Promise<Extract<FromDecodeThread, { type: "loaded" }>>((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<FromDecodeThread>) => {
        const m = event.data;
        if (m.type === "loaded") resolve(m);
        else if (m.type === "failed") reject(new Error(m.message));
      };
      worker.onerror = (event) => reject(new Error(`the decode thread failed: ${event.message}`));
      const load: ToDecodeThread = { type: "load", dir, modelPath: opts.modelPath, slots: opts.slots, slotContextSize: opts.slotContextSize, batchSize: opts.batchSize, threads: opts.threads, flash, mmap: opts.mmap, control };
      worker.postMessage(load);
    }).catch((err) => {
      worker.terminate();
      throw err;
    });
    return new CapiContext(worker, new Int32Array(control), loaded.vocab as Pointer, loaded.nVocab, { sizeBytes: loaded.sizeBytes, trainContextSize: loaded.trainContextSize }, opts, text, dir);
  }

  get threads(): number {
    return this.currentThreads;
  }

  get flashAttention(): "auto" | "on" | "off" {
    return this.opts.flashAttention;
  }

  /**
   * A full collection of the decode thread's heap, after the messages sent before it (steps go on
   * around it); resolves with the milliseconds it took there (0 once the thread is gone).
   */
  async collectGarbage(): Promise<number> {
    if (this.gone !== null) return 0;
    const m = await this.ask((id) => ({ type: "gc", id }));
    return m.type === "collected" ? m.ms : 0;
  }

  setThreads(threads: number): void {
    this.currentThreads = threads;
    // The decode thread owns the thread pool; its messages are handled in order, so the next step runs with these.
    this.send({ type: "threads", threads });
  }

  /**
   * Messages to the decode thread go in order, as one post per turn of this thread: a post costs a
   * structured clone and a wake-up of the decode thread (about a fifth of this thread's time per
   * request, unbatched, on stories260K with one token per request). Consecutive work joins up.
   */
  private send(m: ToDecodeThread): void {
    const last = this.outbox.at(-1);
    if (m.type === "work" && last?.type === "work") last.work.push(...m.work);
    else this.outbox.push(m);
    // Freeing samplers is not urgent: it waits for the next message, or a moment at most.
    if (m.type === "free") this.lazyFlush ??= setTimeout(() => this.flush(), CAPI_FREE_DELAY_MS);
    else if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.lazyFlush) clearTimeout(this.lazyFlush);
    this.lazyFlush = undefined;
    const messages = this.outbox;
    this.outbox = [];
    if (messages.length === 0 || this.gone !== null) return;
    this.worker.postMessage(messages.length === 1 ? messages[0]! : ({ type: "batch", messages } satisfies ToDecodeThread));
  }

  /** The decode thread frees it after the steps already sent (the chain frees the samplers added to it, penalties among them). */
  free(s: CapiSampler): void {
    const samplers = [s.chain, s.grammar, s.probe].filter((p) => p !== null).map(Number);
    if (this.gone === null) this.send({ type: "free", samplers });
  }

  /** One per context: a scheduler made after another over the same engine gets the same one. */
  openPipeline(): Pipeline {
    if (this.pipeline) return this.pipeline;
    this.pipeline = new CapiPipeline((m) => this.send(m), this.control, (s) => this.jobsOf(s));
    if (this.gone !== null) this.pipeline.fail(`the decode thread stopped: ${this.gone}`);
    return this.pipeline;
  }

  createSampler(p: SamplingParams, history: readonly number[], grammar?: unknown): EngineSampler {
    const { llama, glue } = this.lib;
    const chain = glue.glue_chain_new() as Pointer;
    const add = (made: unknown): Pointer => {
      const s = made as Pointer | null;
      if (s === null) throw new Error("llama.cpp could not make a sampler");
      llama.llama_sampler_chain_add(chain, s);
      return s;
    };
    const seed = seedOf(p);
    let penalties: Pointer | null = null;
    try {
      if (p.logitBias && p.logitBias.length > 0) {
        const bias = new DataView(new ArrayBuffer(8 * p.logitBias.length));
        p.logitBias.forEach(([token, value], i) => {
          bias.setInt32(8 * i, token, true);
          bias.setFloat32(8 * i + 4, value, true);
        });
        add(llama.llama_sampler_init_logit_bias(this.nVocab | 0, p.logitBias.length | 0, new Uint8Array(bias.buffer)));
      }
      if (penalized(p)) {
        penalties = add(llama.llama_sampler_init_penalties(this.nVocab | 0, p.penaltyLastN | 0, p.repeatPenalty, p.frequencyPenalty, p.presencePenalty));
        for (const t of history.slice(-p.penaltyLastN)) llama.llama_sampler_accept(penalties, t | 0);
      }
      const xtc = (p.xtcProbability ?? 0) > 0;
      if (p.temperature <= 0) {
        if (xtc) add(llama.llama_sampler_init_xtc(p.xtcProbability!, p.xtcThreshold ?? 0.1, 0, seed | 0));
        add(llama.llama_sampler_init_greedy());
      } else {
        if (p.topK > 0) add(llama.llama_sampler_init_top_k(Math.min(p.topK, this.nVocab) | 0));
        if (p.topP >= 0 && p.topP <= 1) add(llama.llama_sampler_init_top_p(p.topP, 1));
        if (p.minP > 0) add(llama.llama_sampler_init_min_p(p.minP, 1));
        if (xtc) add(llama.llama_sampler_init_xtc(p.xtcProbability!, p.xtcThreshold ?? 0.1, 0, seed | 0));
        add(llama.llama_sampler_init_temp(p.temperature));
        add(llama.llama_sampler_init_dist(seed | 0));
      }
    } catch (err) {
      llama.llama_sampler_free(chain);
      throw err;
    }
    const sampler = new CapiSampler(this, chain, penalties, null);
    if (grammar !== undefined) {
      try {
        sampler.grammar = this.grammarSampler(grammar);
      } catch (err) {
        sampler.dispose();
        throw err;
      }
    }
    return sampler;
  }

  private grammarSampler(grammar: unknown): Pointer {
    const { gbnf, root } = this.text.source(grammar);
    const g = this.lib.llama.llama_sampler_init_grammar(this.vocab, cString(gbnf), cString(root)) as Pointer | null;
    if (g === null) throw new GrammarError("llama.cpp could not build the grammar");
    return g;
  }

  engageGrammar(s: EngineSampler, grammar: unknown, leftover: string): number {
    const sampler = s as CapiSampler;
    const g = this.grammarSampler(grammar);
    const { llama, glue } = this.lib;
    // What the model already wrote past the trigger is fed to the grammar while it fits.
    const taken: number[] = [];
    if (leftover.length > 0) {
      for (const t of this.text.tokenizeLeftover(leftover)) {
        if (!glue.glue_grammar_allows(g, t | 0)) break;
        llama.llama_sampler_accept(g, t | 0);
        taken.push(t);
      }
    }
    const old = sampler.grammar;
    sampler.grammar = g;
    if (old && this.gone === null) this.send({ type: "free", samplers: [Number(old)] });
    const takenText = taken.length > 0 ? this.text.detokenize(taken) : "";
    return leftover.startsWith(takenText) ? takenText.length : 0;
  }

  /** One job per sampler (the item's, then its forks'), each followed by its probe's when the model's own distribution is wanted. */
  private jobsOf(s: Sampling, item = 0): SampleJob[] {
    const probabilities = s.probabilities === true;
    const model = probabilities && s.modelProbabilities === true;
    const jobs: SampleJob[] = [];
    for (const sampler of [s.sampler, ...(s.forks ?? [])] as CapiSampler[]) {
      jobs.push({ item, chain: Number(sampler.chain), penalties: Number(sampler.penalties ?? 0), grammar: Number(sampler.grammar ?? 0), probabilities: probabilities && !model });
      if (model) {
        // The model's own distribution: a greedy chain alone, on the same logits.
        sampler.probe ??= this.probeChain();
        jobs.push({ item, chain: Number(sampler.probe), penalties: 0, grammar: 0, probabilities: true });
      }
    }
    return jobs;
  }

  async decode(items: readonly BatchItem[]): Promise<Sampled[][]> {
    if (this.inFlight !== null) throw new Error("one decode at a time");
    if (this.pipeline?.busy) throw new Error("decode() while the pipeline has work");
    if (this.gone !== null) throw new Error(`the decode thread stopped: ${this.gone}`);
    const decodeItems: DecodeItem[] = [];
    const jobs: SampleJob[] = [];
    for (const item of items) {
      if (item.tokens.length === 0) continue;
      const index = decodeItems.length;
      decodeItems.push({ slot: item.slot, pos: item.pos, tokens: Int32Array.from(item.tokens), logits: item.sampler !== undefined });
      if (item.sampler) jobs.push(...this.jobsOf(item as Sampling, index));
    }
    if (decodeItems.length === 0) return items.map(() => NOT_SAMPLED);
    const m = await this.request<"decoded">((id) => ({ type: "decode", id, items: decodeItems, jobs }));
    // Jobs came in item order, as jobsOf lays them out.
    let job = 0;
    return items.map((item) => {
      if (item.tokens.length === 0 || !item.sampler) return NOT_SAMPLED;
      const sampled = sampledOf(item as Sampling, m.tokens, m.probabilities, job);
      job += jobCount(item as Sampling);
      return sampled;
    });
  }

  /** ask(), one at a time (dispose waits for it); a "failed" answer throws. */
  private async request<T extends "decoded" | "copied">(message: (id: number) => ToDecodeThread): Promise<Extract<FromDecodeThread, { type: T }>> {
    if (this.gone !== null) throw new Error(`the decode thread stopped: ${this.gone}`);
    const reply = this.ask(message);
    this.inFlight = reply;
    let m: FromDecodeThread;
    try {
      m = await reply;
    } finally {
      this.inFlight = null;
    }
    if (m.type === "failed") throw new Error(m.message);
    return m as Extract<FromDecodeThread, { type: T }>;
  }

  /** Sends a message that is answered by id and waits for the answer (a lost thread answers "failed"). */
  private async ask(message: (id: number) => ToDecodeThread): Promise<FromDecodeThread> {
    const id = this.nextId++;
    const reply = new Promise<FromDecodeThread>((resolve) => this.replies.set(id, resolve));
    try {
      this.send(message(id));
      return await reply;
    } finally {
      this.replies.delete(id);
    }
  }

  private probeChain(): Pointer {
    const chain = this.lib.glue.glue_chain_new() as Pointer;
    this.lib.llama.llama_sampler_chain_add(chain, this.lib.llama.llama_sampler_init_greedy() as Pointer);
    return chain;
  }

  clearSlot(slot: number, fromPos: number): void {
    if (this.gone === null) this.send({ type: "clear", slot, from: fromPos });
  }

  async copySlot(from: number, to: readonly number[]): Promise<void> {
    await this.request<"copied">((id) => ({ type: "copy", id, from, to: [...to] }));
  }

  async dispose(): Promise<void> {
    if (this.inFlight) await this.inFlight.catch(() => {});
    if (this.gone === null) {
      await new Promise<void>((resolve) => {
        this.closed = resolve;
        this.send({ type: "close" });
      });
    }
    this.gone ??= "disposed";
    this.worker.terminate();
  }
}
