// A deterministic Engine for tests and for the HTTP/API layers when no model is needed.
//
// Tokens are UTF-8 bytes (id = byte + 3), so multi-byte characters span several tokens just as
// with byte-fallback vocabularies. The next token is a hash of everything in the slot's KV cells,
// so a wrong position, a stale cell or a mixed-up slot changes the output: the scheduler's KV
// bookkeeping is checked by the fake too. decode() checks positions strictly and throws on a gap.
import type { ChatSyntax, RenderedChat, RenderInput } from "./chat/types.ts";
import type { BatchItem, Engine, EngineSampler, JsonGrammar, ModelInfo } from "./engine.ts";
import { GrammarError, PLAIN_CHAT, plainChat } from "./engine.ts";
import type { SamplingParams } from "./types.ts";

const BOS = 1;
const EOS = 2;
const BYTE_BASE = 3;
/** Generated text is drawn from these bytes so it reads as words. */
const ALPHABET = new TextEncoder().encode("etaoin shrdlu cmfwyp vbgkqjxz ");

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
  readonly threads = 1;
  /** Tokens per item of every decode call, for batching assertions. */
  readonly decodeLog: number[][] = [];
  private readonly kvHash: number[][];
  private readonly decodeDelayMs: number;
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

  createSampler(params: SamplingParams, _history: readonly number[], grammar?: unknown): EngineSampler {
    this.liveSamplers++;
    const s = new FakeSampler(params, (params.seed ?? 12345) >>> 0);
    s.grammar = grammar;
    const dispose = s.dispose.bind(s);
    s.dispose = () => {
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
    return { tokens: this.tokenize(tools + text, true), stop, template: this.info.chat.template, syntax: this.chatSyntax ?? {}, thoughtOpen: false };
  }

  async jsonSchemaGbnf(schema: object): Promise<string> {
    await this.createJsonGrammar(schema);
    return `root ::= "{}"`;
  }

  async createGrammar(gbnf: string): Promise<unknown> {
    return { gbnf };
  }

  engageGrammar(sampler: EngineSampler, grammar: unknown, leftover: string): number {
    (sampler as FakeSampler).grammar = grammar;
    this.engaged.push({ grammar, leftover });
    return leftover.length;
  }

  /** Cells currently held by a slot (for tests). */
  slotLength(slot: number): number {
    return this.kvHash[slot]!.length;
  }

  async decode(items: readonly BatchItem[]): Promise<Array<number | undefined>> {
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
    await new Promise((r) => setTimeout(r, this.decodeDelayMs));
    return items.map((item) => (item.sampler ? this.sample(item.slot, item.sampler as FakeSampler) : undefined));
  }

  private sample(slot: number, s: FakeSampler): number {
    if (s.disposed) throw new Error("sampler used after dispose");
    if (this.reply) {
      const i = s.emitted++;
      return i < this.reply.length ? this.reply[i]! + BYTE_BASE : EOS;
    }
    const cells = this.kvHash[slot]!;
    let h = cells[cells.length - 1]!;
    if (s.params.temperature > 0) {
      s.rng = mix(s.rng, 0x85ebca6b);
      h = mix(h, s.rng);
    }
    if (this.eosEvery > 0 && h % this.eosEvery === 0) return EOS;
    return ALPHABET[h % ALPHABET.length]! + BYTE_BASE;
  }

  clearSlot(slot: number, fromPos: number): void {
    this.kvHash[slot]!.length = Math.min(fromPos, this.kvHash[slot]!.length);
  }

  async dispose(): Promise<void> {}
}

function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x5bd1e995);
  h ^= h >>> 15;
  return Math.imul(h, 0x27d4eb2d) >>> 0;
}
