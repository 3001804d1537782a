// Pipelined decoding: how the scheduler gives an engine work and reads back what each step did.
//
// The scheduler submits work per slot (a prompt's remaining tokens, or the token a generating slot
// sampled last) and reads one event per step. Work may say how many tokens the engine may go on
// generating for that slot by itself ("ahead"): after sampling, the engine feeds the sampled token
// back in at the next step without waiting to be asked, stopping at an end-of-generation token or
// when the count runs out. An engine with a decode thread of its own (capi/) thus never waits for
// the JavaScript thread between steps: the scheduler reads step N while step N + 1 runs. A slot the
// scheduler ends while it runs ahead is reset: its later steps' outputs are read and dropped, its
// cells past the kept ones are removed, and an event says when nothing more will come for it.
//
// StepPlan is the bookkeeping both sides share (the decode thread and LockstepPipeline): what each
// step decodes, and which slots go on. LockstepPipeline runs it over Engine.decode on this thread,
// one step per next() call, so engines without a thread of their own behave as before.
import type { BatchItem, Engine, PipeEvent, Pipeline, Sampled, Sampling, StepOutput, Work } from "./engine.ts";

/** What one step decodes for one slot: a whole work item, part of a long one, or a token it goes on with. */
export interface Piece<S> extends Work<S> {
  /** More of this slot's work waits for later steps (the rest of a prompt). */
  rest: boolean;
}

export class StepPlan<S> {
  private pending: Work<S>[] = [];
  /** Slots going ahead: the piece each decodes next. */
  private readonly running = new Map<number, Piece<S>>();

  constructor(private readonly batchSize: number) {}

  get idle(): boolean {
    return this.pending.length === 0 && this.running.size === 0;
  }

  /** Slots going ahead now. */
  get aheadCount(): number {
    return this.running.size;
  }

  submit(work: Work<S>): void {
    this.pending.push(work);
  }

  /** Whether any work waiting or going ahead samples with `sample` (matched by `is`). */
  uses(is: (sample: S) => boolean): boolean {
    for (const w of this.pending) if (w.sample !== undefined && is(w.sample)) return true;
    for (const p of this.running.values()) if (p.sample !== undefined && is(p.sample)) return true;
    return false;
  }

  /** Forget everything waiting or going ahead for the slot. */
  reset(slot: number): void {
    this.pending = this.pending.filter((w) => w.slot !== slot);
    this.running.delete(slot);
  }

  /**
   * The next step's pieces, at most batchSize tokens: slots going ahead and single tokens first
   * (generating slots never wait behind a prompt), then prompts in the order they came, a long one
   * split over steps. Sampling rides only a work item's last piece.
   */
  take(): Piece<S>[] {
    const out: Piece<S>[] = [...this.running.values()];
    this.running.clear();
    // The common step: every slot going ahead, nothing new (no sets or maps made per step).
    if (this.pending.length === 0) return out;
    const taken = new Set(out.map((p) => p.slot));
    let budget = this.batchSize - out.length;
    // One piece per slot per step, from its first work: a slot's later work waits for the next.
    const seen = new Set<number>();
    const first = this.pending.filter((w) => !seen.has(w.slot) && seen.add(w.slot));
    const order = [...first.filter((w) => w.tokens.length === 1), ...first.filter((w) => w.tokens.length !== 1)];
    /** What stays pending of each work taken from: nothing, or the rest of a split one. */
    const after = new Map<Work<S>, Work<S> | null>();
    for (const w of order) {
      if (budget <= 0 || taken.has(w.slot)) continue;
      taken.add(w.slot);
      const n = Math.min(budget, w.tokens.length);
      budget -= n;
      if (n === w.tokens.length) {
        out.push({ ...w, rest: false });
        after.set(w, null);
        continue;
      }
      out.push({ slot: w.slot, pos: w.pos, tokens: w.tokens.slice(0, n), ahead: 0, stopAtEog: w.stopAtEog, rest: true });
      after.set(w, { ...w, pos: w.pos + n, tokens: w.tokens.slice(n) });
    }
    const left: Work<S>[] = [];
    for (const w of this.pending) {
      const next = after.has(w) ? after.get(w)! : w;
      if (next !== null) left.push(next);
    }
    this.pending = left;
    return out;
  }

  /**
   * After a step: `tokens[i]` is the token piece i sampled (-1: none). Returns, per piece, whether
   * the slot has more to come (the rest of its work, or the next token it goes on with).
   */
  advance(pieces: readonly Piece<S>[], tokens: readonly number[], isEog: (token: number) => boolean): boolean[] {
    return pieces.map((p, i) => {
      if (p.rest) return true;
      const t = tokens[i]!;
      if (p.sample === undefined || p.ahead <= 0 || t < 0 || (p.stopAtEog && isEog(t))) return false;
      this.running.set(p.slot, { slot: p.slot, pos: p.pos + p.tokens.length, tokens: [t], sample: p.sample, ahead: p.ahead - 1, stopAtEog: p.stopAtEog, rest: false });
      return true;
    });
  }
}

/** A pipeline over Engine.decode on this thread: one step per next() call, nothing runs in between. */
export class LockstepPipeline implements Pipeline {
  private readonly plan: StepPlan<Sampling>;
  private readonly events: PipeEvent[] = [];

  constructor(private readonly engine: Engine) {
    this.plan = new StepPlan(engine.batchSize);
  }

  get busy(): boolean {
    return this.events.length > 0 || !this.plan.idle;
  }

  submit(work: Work<Sampling>): void {
    this.plan.submit(work);
  }

  reset(slot: number, keepBelow: number): void {
    this.plan.reset(slot);
    if (keepBelow !== Infinity) this.engine.clearSlot(slot, keepBelow);
    this.events.push({ type: "reset", slot });
  }

  async next(): Promise<PipeEvent> {
    const queued = this.events.shift();
    if (queued) return queued;
    const pieces = this.plan.take();
    if (pieces.length === 0) throw new Error("next() with nothing in flight");
    let sampled: Sampled[][];
    const t0 = performance.now();
    try {
      sampled = await this.engine.decode(pieces.map(toBatchItem));
    } catch (err) {
      for (const p of pieces) this.plan.reset(p.slot);
      return { type: "failed", slots: pieces.map((p) => p.slot), message: err instanceof Error ? err.message : String(err) };
    }
    const more = this.plan.advance(pieces, sampled.map((s) => s[0]?.token ?? -1), (t) => this.engine.isEndOfGeneration(t));
    return { type: "step", ms: performance.now() - t0, outputs: stepOutputs(pieces, sampled, more) };
  }
}

/** A step's outputs from its pieces, what each sampled and whether its slot has more to come. */
export function stepOutputs(pieces: readonly Piece<Sampling>[], sampled: readonly Sampled[][], more: readonly boolean[]): StepOutput[] {
  return pieces.map((p, i) => ({ slot: p.slot, pos: p.pos, count: p.tokens.length, sampled: sampled[i] ?? [], more: more[i]! }));
}

/** The Engine.decode item of a piece (only a work item's last piece carries its sampling). */
export function toBatchItem(p: Piece<Sampling>): BatchItem {
  // The scheduler's work holds plain arrays.
  return { slot: p.slot, pos: p.pos, tokens: p.tokens as readonly number[], ...p.sample };
}
