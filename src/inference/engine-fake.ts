// A deterministic Engine for tests and for the HTTP/API layers when no model is needed.
//
// Tokens are UTF-8 bytes (id = byte + 3), so multi-byte characters span several tokens just as
// with byte-fallback vocabularies. The next token is a hash of everything in the slot's KV cells,
// so a wrong position, a stale cell or a mixed-up slot changes the output: the scheduler's KV
// bookkeeping is checked by the fake too. decode() checks positions strictly and throws on a gap.
//
// Sampling draws from a real distribution: every candidate (the alphabet's distinct bytes, plus EOS
// when eosEvery is set) gets a logit from the hash, the greedy pick the highest. Temperature > 0
// keeps the top-k candidates (top-p and min-p are not modelled), scales by the temperature and draws
// with the sampler's RNG; probabilities are that softmax, as llama.cpp's sampler chain reports them.
// With `reply`, every sampler writes that text instead (as one certain token at a time).
import type { ChatSyntax, RenderedChat, RenderInput } from "./chat/types.ts";
import type { BatchItem, Engine, EngineSampler, JsonGrammar, ModelInfo, PipeEvent, Pipeline, Sampled, Sampling, Work } from "./engine.ts";
import { StepPlan, stepOutputs, toBatchItem, type Piece } from "./pipeline.ts";
import { INFERENCE_MAX_STEPS_AHEAD } from "../limits.ts";
import { GrammarError, PLAIN_CHAT, plainChat } from "./engine.ts";
import { checkGbnf } from "./gbnf.ts";
import type { SamplingParams } from "./types.ts";

const BOS = 1;
const EOS = 2;
const BYTE_BASE = 3;
/** Generated text is drawn from these bytes so it reads as words. */
const ALPHABET = new TextEncoder().encode("etaoin shrdlu cmfwyp vbgkqjxz ");
const LETTERS = [...new Set(ALPHABET)].map((b) => b + BYTE_BASE);
/** Logit of the greedy pick; every other candidate's is in [0, 4). */
const TOP_LOGIT = 4.5;
const CONTROL_TEXT: Record<number, string> = { [BOS]: "<s>", [EOS]: "</s>" };

export interface FakeEngineOptions {
  slots?: number;
  slotContextSize?: number;
  batchSize?: number;
  /** ms each decode takes (0 = next macrotask). */
  decodeDelayMs?: number;
  /** Probability-like knob: EOS when hash % eosEvery === 0 (0 = never). */
  eosEvery?: number;
  /** Every request is answered with exactly this text, then EOS (chat pipeline tests). */
  reply?: string;
  /** A template with this call/thought syntax: renderChat says so, and lists tools in the prompt. */
  chatSyntax?: ChatSyntax;
  /** Fill-in-the-middle tokens to report (the fake has none of its own). */
  fim?: ModelInfo["fim"];
  /**
   * Give the scheduler a pipeline that runs steps without waiting for it to read them (up to
   * INFERENCE_MAX_STEPS_AHEAD), as the C API engine's decode thread does; otherwise it steps decode().
   */
  pipelined?: boolean;
}

class FakeSampler implements EngineSampler {
  disposed = false;
  /** Tokens sampled so far (the position in a scripted reply). */
  emitted = 0;
  /** The grammar it runs under, when one was given or engaged (the fake does not enforce it). */
  grammar?: unknown;
  constructor(
    readonly params: SamplingParams,
    public rng: number,
  ) {}
  dispose(): void {
    this.disposed = true;
  }
}

export class FakeEngine implements Engine {
  readonly info: ModelInfo;
  readonly slots: number;
  readonly slotContextSize: number;
  readonly batchSize: number;
  threads = 1;
  /** Tokens per item of every decode call, for batching assertions. */
  readonly decodeLog: number[][] = [];
  /** Every copySlot call, in order. */
  readonly copyLog: Array<{ from: number; to: number[] }> = [];
  private readonly kvHash: number[][];
  private readonly decodeDelayMs: number;
  private readonly pipelined: boolean;
  private readonly pipelines: EagerPipeline[] = [];
  private readonly eosEvery: number;
  private readonly reply?: Uint8Array;
  private readonly chatSyntax?: ChatSyntax;
  /** What renderChat was last asked to render (tests look at tools and paired results). */
  lastRender?: RenderInput;
  /** Grammars engageGrammar put on samplers, with the leftover text they were given. */
  readonly engaged: Array<{ grammar: unknown; leftover: string }> = [];
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();
  liveSamplers = 0;

  constructor(opts: FakeEngineOptions = {}) {
    this.slots = opts.slots ?? 4;
    this.slotContextSize = opts.slotContextSize ?? 512;
    this.batchSize = opts.batchSize ?? 64;
    this.decodeDelayMs = opts.decodeDelayMs ?? 0;
    this.pipelined = opts.pipelined ?? false;
    this.eosEvery = opts.eosEvery ?? 0;
    this.reply = opts.reply === undefined ? undefined : this.encoder.encode(opts.reply);
    this.chatSyntax = opts.chatSyntax;
    this.kvHash = Array.from({ length: this.slots }, () => []);
    this.info = {
      path: "fake",
      name: "fake",
      architecture: "fake",
      trainContextSize: this.slotContextSize,
      vocabSize: 256 + BYTE_BASE,
      parameters: 0,
      sizeBytes: 0,
      addBos: true,
      bosToken: BOS,
      chatTemplate: opts.chatSyntax ? "fake" : PLAIN_CHAT,
      chat: { template: opts.chatSyntax ? "fake" : PLAIN_CHAT, tools: opts.chatSyntax?.calls !== undefined, reasoning: opts.chatSyntax?.thought !== undefined },
      ...(opts.fim ? { fim: opts.fim } : {}),
    };
  }

  tokenize(text: string, addBos: boolean): number[] {
    const out = addBos ? [BOS] : [];
    for (const b of this.encoder.encode(text)) out.push(b + BYTE_BASE);
    return out;
  }

  detokenize(tokens: readonly number[]): string {
    const bytes = tokens.filter((t) => t >= BYTE_BASE).map((t) => t - BYTE_BASE);
    return this.decoder.decode(Uint8Array.from(bytes));
  }

  isEndOfGeneration(token: number): boolean {
    return token === EOS;
  }

  createSampler(params: SamplingParams, _history: readonly number[] = [], grammar?: unknown): EngineSampler {
    this.liveSamplers++;
    const s = new FakeSampler(params, (params.seed ?? 12345) >>> 0);
    s.grammar = grammar;
    const dispose = s.dispose.bind(s);
    s.dispose = () => {
      // A decode thread frees a sampler in message order: work still holding it would then use freed memory.
      if (this.pipelines.some((p) => p.uses(s))) throw new Error("sampler disposed while the pipeline still has work that samples with it");
      if (!s.disposed) this.liveSamplers--;
      dispose();
    };
    return s;
  }

  /** The fake does not enforce grammars; it only refuses `not`, so callers' error paths can be tested. */
  async createJsonGrammar(schema: object | null): Promise<JsonGrammar> {
    if (schema && "not" in schema) throw new GrammarError('unsupported JSON Schema keyword "not" at /', "not");
    return { grammar: { schema }, stop: [] };
  }

  /**
   * The plain transcript; with a chat syntax, tools are listed first as JSON and tool calls and
   * results are written out, so tests can see them reach the prompt.
   */
  renderChat(input: RenderInput): RenderedChat {
    this.lastRender = input;
    const turns = input.messages.map((m) => {
      let text = m.text;
      if (m.role === "assistant" && m.toolCalls) for (const c of m.toolCalls) text += ` [call ${c.name} ${JSON.stringify(c.arguments)} -> ${c.result}]`;
      return { role: m.role, text };
    });
    const tools = input.tools && input.tools.length > 0 ? `Tools: ${JSON.stringify(input.tools)}\n` : "";
    const { text, stop } = plainChat(turns);
    return { tokens: this.tokenize(tools + text, true), text: tools + text, stop, template: this.info.chat.template, syntax: this.chatSyntax ?? {}, thoughtOpen: false };
  }

  async jsonSchemaGbnf(schema: object): Promise<string> {
    await this.createJsonGrammar(schema);
    return `root ::= "{}"`;
  }

  /** Checks the syntax as the real engine does (inference/gbnf.ts), but enforces nothing. */
  async createGrammar(gbnf: string): Promise<unknown> {
    const problem = checkGbnf(gbnf);
    if (problem) throw new GrammarError(`line ${problem.line}, column ${problem.column}: ${problem.message}`);
    return { gbnf };
  }

  engageGrammar(sampler: EngineSampler, grammar: unknown, leftover: string): number {
    (sampler as FakeSampler).grammar = grammar;
    this.engaged.push({ grammar, leftover });
    return leftover.length;
  }

  setThreads(threads: number): void {
    this.threads = threads;
  }

  /** Cells currently held by a slot (for tests). */
  slotLength(slot: number): number {
    return this.kvHash[slot]!.length;
  }

  async decode(items: readonly BatchItem[]): Promise<Sampled[][]> {
    this.decodeLog.push(items.map((i) => i.tokens.length));
    let total = 0;
    for (const item of items) {
      const cells = this.kvHash[item.slot]!;
      if (item.pos !== cells.length) throw new Error(`slot ${item.slot}: decode at pos ${item.pos} but ${cells.length} cells are filled`);
      if (item.pos + item.tokens.length > this.slotContextSize) throw new Error(`slot ${item.slot}: context full`);
      for (const t of item.tokens) cells.push(mix(cells.length ? cells[cells.length - 1]! : 0x9e3779b9, t));
      total += item.tokens.length;
    }
    if (total > this.batchSize) throw new Error(`batch of ${total} tokens exceeds batch size ${this.batchSize}`);
    // Sampled at once, as a decode thread does the whole step: what happens during the delay comes after it.
    const out = items.map((item) => {
      if (!item.sampler) return [];
      const samplers = [item.sampler, ...(item.forks ?? [])];
      const want = item.probabilities !== true ? "none" : item.modelProbabilities ? "model" : "sampler";
      return samplers.map((s) => this.sample(item.slot, s as FakeSampler, want));
    });
    await new Promise((r) => setTimeout(r, this.decodeDelayMs));
    return out;
  }

  /** With `pipelined`, a pipeline that goes ahead as a decode thread would (see EagerPipeline). */
  openPipeline(): Pipeline | undefined {
    if (!this.pipelined) return undefined;
    const pipeline = new EagerPipeline(this);
    this.pipelines.push(pipeline);
    return pipeline;
  }

  /** Candidates after the cells of a slot, most probable first (ties by token id). */
  private candidates(h: number): Array<{ token: number; logit: number }> {
    const eos = this.eosEvery > 0 && h % this.eosEvery === 0;
    const greedy = eos ? EOS : ALPHABET[h % ALPHABET.length]! + BYTE_BASE;
    const tokens = this.eosEvery > 0 ? [...LETTERS, EOS] : LETTERS;
    const out = tokens.map((token) => ({ token, logit: token === greedy ? TOP_LOGIT : (mix(h, token) % 1000) / 250 }));
    return out.sort((a, b) => b.logit - a.logit || a.token - b.token);
  }

  /** `want` "model": the softmax of every candidate's raw logit, whatever the sampler's settings. */
  private sample(slot: number, s: FakeSampler, want: "none" | "sampler" | "model"): Sampled {
    const probabilities = want !== "none";
    if (s.disposed) throw new Error("sampler used after dispose");
    if (this.reply) {
      const i = s.emitted++;
      const token = i < this.reply.length ? this.reply[i]! + BYTE_BASE : EOS;
      return probabilities ? { token, probabilities: [token, 1] } : { token };
    }
    const cells = this.kvHash[slot]!;
    const { temperature, topK } = s.params;
    let cands = this.candidates(cells[cells.length - 1]!);
    if (temperature > 0 && topK > 0) cands = cands.slice(0, topK);
    const scale = temperature > 0 ? 1 / temperature : 1;
    const weights = cands.map((c) => Math.exp((c.logit - cands[0]!.logit) * scale));
    const sum = weights.reduce((a, b) => a + b, 0);
    let pick = 0;
    if (temperature > 0) {
      s.rng = mix(s.rng, 0x85ebca6b);
      let u = (s.rng / 2 ** 32) * sum;
      while (pick < cands.length - 1 && u >= weights[pick]!) u -= weights[pick++]!;
    }
    const token = cands[pick]!.token;
    if (!probabilities) return { token };
    if (want === "model") return { token, probabilities: softmax(this.candidates(cells[cells.length - 1]!)) };
    const flat: number[] = [];
    cands.forEach((c, i) => flat.push(c.token, weights[i]! / sum));
    return { token, probabilities: flat };
  }

  clearSlot(slot: number, fromPos: number): void {
    this.kvHash[slot]!.length = Math.min(fromPos, this.kvHash[slot]!.length);
  }

  async copySlot(from: number, to: readonly number[]): Promise<void> {
    this.copyLog.push({ from, to: [...to] });
    for (const t of to) {
      if (t === from || !this.kvHash[t]) throw new Error(`copySlot: bad target slot ${t}`);
      this.kvHash[t] = this.kvHash[from]!.slice();
    }
    await new Promise((r) => setTimeout(r, 0));
  }

  tokenBytes(token: number): Uint8Array {
    if (token >= BYTE_BASE) return Uint8Array.of(token - BYTE_BASE);
    return this.encoder.encode(CONTROL_TEXT[token] ?? "");
  }

  async dispose(): Promise<void> {}
}

function softmax(cands: ReadonlyArray<{ token: number; logit: number }>): number[] {
  const weights = cands.map((c) => Math.exp(c.logit - cands[0]!.logit));
  const sum = weights.reduce((a, b) => a + b, 0);
  return cands.flatMap((c, i) => [c.token, weights[i]! / sum]);
}

function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x5bd1e995);
  h ^= h >>> 15;
  return Math.imul(h, 0x27d4eb2d) >>> 0;
}

/**
 * The fake's pipeline: like a decode thread, it starts the next step as soon as one is done (the
 * fake computes a step when decode() is called), up to INFERENCE_MAX_STEPS_AHEAD unread, so
 * whatever the scheduler does while reading a step happens after the steps already started. It
 * calls engine.decode, so a test that replaces decode replaces its steps too.
 */
class EagerPipeline implements Pipeline {
  private readonly plan: StepPlan<Sampling>;
  private readonly events: PipeEvent[] = [];
  private waiter: ((e: PipeEvent) => void) | null = null;
  private stepping = false;
  private underWay: Piece<Sampling>[] = [];
  private unread = 0;
  /** Resets made while a step was under way: they apply after it (as on a decode thread), and their acknowledgements follow its outputs. */
  private afterStep: Array<{ slot: number; ack: PipeEvent }> = [];

  constructor(private readonly engine: FakeEngine) {
    this.plan = new StepPlan(engine.batchSize);
  }

  /** Whether work waiting, going ahead or in the step under way (its slot not reset since) samples with it. */
  uses(sampler: EngineSampler): boolean {
    const is = (s: Sampling) => s.sampler === sampler || s.forks?.includes(sampler) === true;
    const reset = new Set(this.afterStep.map((r) => r.slot));
    return this.plan.uses(is) || this.underWay.some((p) => p.sample !== undefined && !reset.has(p.slot) && is(p.sample));
  }

  get busy(): boolean {
    return this.events.length > 0 || this.stepping || !this.plan.idle || this.afterStep.length > 0;
  }

  submit(work: Work<Sampling>): void {
    this.plan.submit(work);
    // The scheduler submits a turn's work in one go, then reads: the step starts after all of it.
    queueMicrotask(() => this.pump());
  }

  reset(slot: number, keepBelow: number): void {
    this.plan.reset(slot);
    if (keepBelow !== Infinity) this.engine.clearSlot(slot, keepBelow);
    const ack: PipeEvent = { type: "reset", slot };
    if (this.stepping) this.afterStep.push({ slot, ack });
    else this.push(ack);
  }

  next(): Promise<PipeEvent> {
    const event = this.events.shift();
    if (!event) return new Promise((resolve) => (this.waiter = resolve));
    if (event.type === "step") this.unread--;
    this.pump();
    return Promise.resolve(event);
  }

  private push(event: PipeEvent): void {
    if (event.type === "step") this.unread++;
    const waiter = this.waiter;
    if (!waiter) return void this.events.push(event);
    this.waiter = null;
    if (event.type === "step") this.unread--;
    waiter(event);
  }

  private pump(): void {
    if (this.stepping || this.plan.idle || this.unread >= INFERENCE_MAX_STEPS_AHEAD) return;
    this.stepping = true;
    const pieces = this.plan.take();
    this.underWay = pieces;
    const t0 = performance.now();
    this.engine.decode(pieces.map(toBatchItem)).then(
      (sampled) => {
        const more = this.plan.advance(pieces, sampled.map((s) => s[0]?.token ?? -1), (t) => this.engine.isEndOfGeneration(t));
        this.stepDone({ type: "step", ms: performance.now() - t0, outputs: stepOutputs(pieces, sampled, more) });
      },
      (err: unknown) => {
        for (const p of pieces) this.plan.reset(p.slot);
        this.stepDone({ type: "failed", slots: pieces.map((p) => p.slot), message: err instanceof Error ? err.message : String(err) });
      },
    );
  }

  private stepDone(event: PipeEvent): void {
    this.stepping = false;
    this.underWay = [];
    const acks = this.afterStep.splice(0);
    for (const { slot } of acks) this.plan.reset(slot);
    this.push(event);
    for (const { ack } of acks) this.push(ack);
    // Before the scheduler reads the event (it resumes in a later microtask).
    this.pump();
  }
}
