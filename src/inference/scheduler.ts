// Continuous batching over the engine's slots.
//
// One loop runs while any slot is busy: each turn it admits queued requests into free slots, builds
// one batch (one token per generating slot first, then prompt chunks in admission order up to the
// batch size), decodes it in a single engine call, and hands each sampled token to its request.
// Requests join and leave at token boundaries, so a long generation never holds up a short one
// once a slot is free. Cancellation is checked every turn: it lands within one token.
import type { BatchItem, Engine, EngineSampler } from "./engine.ts";
import { Channel } from "./channel.ts";
import { BoundedQueue } from "./queue.ts";
import { TextStream } from "./text.ts";
import { InferenceError, type FinishReason, type InferenceRequest, type TokenEvent } from "./types.ts";
import { INFERENCE_MAX_UNREAD_EVENTS } from "../limits.ts";

export enum SlotState {
  /** No request. The KV cells may still hold the previous request's tokens for prefix reuse. */
  Idle = "idle",
  /** Evaluating the prompt (possibly over several turns when it exceeds the batch budget). */
  Prompt = "prompt",
  /** Sampling one token per turn. */
  Generating = "generating",
}

export interface SchedulerOptions {
  engine: Engine;
  maxQueue: number;
  now?: () => number;
}

/** Hooks for latency histograms; called on the hot path, keep them cheap. */
export interface SchedulerObserver {
  firstToken?(ms: number): void;
  tokenGap?(ms: number): void;
  finished?(reason: FinishReason): void;
}

export interface SchedulerStats {
  slots: number;
  busySlots: number;
  /** Busy slots not generating because their reader is behind (see INFERENCE_MAX_UNREAD_EVENTS). */
  pausedSlots: number;
  queueDepth: number;
  promptTokens: number;
  cachedPromptTokens: number;
  generatedTokens: number;
  decodeCalls: number;
  decodedTokens: number;
  /** Wall time spent waiting on the engine's decode (which includes sampling), in ms. */
  decodeMs: number;
  requests: Record<FinishReason, number>;
  rejected: number;
}

interface Job {
  req: InferenceRequest;
  channel: Channel<TokenEvent>;
  submittedAt: number;
  startedAt: number;
  firstTokenAt: number;
  lastTokenAt: number;
  cancelled: boolean;
  /** Left out of batches until its reader catches up. */
  paused: boolean;
  queueTimer?: ReturnType<typeof setTimeout>;
  // Set once the job holds a slot:
  pending: number[];
  sampler?: EngineSampler;
  text?: TextStream;
  nextToken: number;
  generated: number;
  cachedTokens: number;
  onAbort?: () => void;
}

interface Slot {
  id: number;
  state: SlotState;
  /** Tokens in this slot's KV cells, position i holds kv[i]. */
  kv: number[];
  lastUsed: number;
  job?: Job;
}

export class Scheduler {
  readonly engine: Engine;
  private readonly slots: Slot[];
  private readonly queue: BoundedQueue<Job>;
  private readonly now: () => number;
  private running = false;
  private closed = false;
  private idleWaiters: Array<() => void> = [];
  private observer: SchedulerObserver = {};
  private readonly counters: Omit<SchedulerStats, "slots" | "busySlots" | "pausedSlots" | "queueDepth"> = {
    promptTokens: 0,
    cachedPromptTokens: 0,
    generatedTokens: 0,
    decodeCalls: 0,
    decodedTokens: 0,
    decodeMs: 0,
    requests: { stop: 0, length: 0, cancelled: 0, error: 0 },
    rejected: 0,
  };

  constructor(opts: SchedulerOptions) {
    this.engine = opts.engine;
    this.queue = new BoundedQueue(opts.maxQueue);
    this.now = opts.now ?? (() => performance.now());
    if (this.engine.batchSize < this.engine.slots) throw new Error("batch size must be at least the slot count");
    this.slots = Array.from({ length: this.engine.slots }, (_, id) => ({ id, state: SlotState.Idle, kv: [], lastUsed: 0 }));
    // The slot bookkeeping starts empty, so the engine's cells must too.
    for (const slot of this.slots) this.engine.clearSlot(slot.id, 0);
  }

  setObserver(observer: SchedulerObserver): void {
    this.observer = observer;
  }

  stats(): SchedulerStats {
    return {
      slots: this.slots.length,
      busySlots: this.slots.filter((s) => s.job).length,
      pausedSlots: this.slots.filter((s) => s.job?.paused).length,
      queueDepth: this.queue.length,
      ...this.counters,
      requests: { ...this.counters.requests },
    };
  }

  /**
   * Admit a request. Throws InferenceError at once (never queues) when the request can't fit a slot,
   * the queue is full or the scheduler is closed. The returned stream ends with one "done" event;
   * leaving it early (return()) cancels the request.
   */
  submit(req: InferenceRequest): AsyncIterable<TokenEvent> {
    const limit = this.engine.slotContextSize;
    if (req.promptTokens.length === 0) throw new InferenceError("invalid_request", "the prompt is empty");
    if (req.promptTokens.length + req.maxTokens > limit) {
      throw new InferenceError(
        "context_exceeded",
        `prompt (${req.promptTokens.length} tokens) + max_tokens (${req.maxTokens}) exceeds the context size of ${limit} tokens per slot`,
      );
    }
    if (this.closed) throw new InferenceError("shutting_down", "the server is shutting down");
    const job: Job = {
      req,
      channel: null as unknown as Channel<TokenEvent>,
      submittedAt: this.now(),
      startedAt: 0,
      firstTokenAt: 0,
      lastTokenAt: 0,
      cancelled: false,
      paused: false,
      pending: [],
      nextToken: -1,
      generated: 0,
      cachedTokens: 0,
    };
    job.channel = new Channel<TokenEvent>(() => this.cancel(job), () => this.caughtUp(job));
    if (req.signal?.aborted) throw new InferenceError("invalid_request", "the request was aborted before it started");
    if (!this.queue.offer(job, this.freeSlots())) {
      this.counters.rejected++;
      throw new InferenceError("queue_full", `all ${this.slots.length} slots are busy and the queue is full (${this.queue.capacity} waiting)`);
    }
    if (req.queueTimeoutMs) job.queueTimer = setTimeout(() => this.expireQueued(job), req.queueTimeoutMs);
    if (req.signal) {
      job.onAbort = () => this.cancel(job);
      req.signal.addEventListener("abort", job.onAbort, { once: true });
    }
    this.kick();
    return job.channel;
  }

  /** Refuse new work from now on; resolves when all admitted work has finished. */
  close(): Promise<void> {
    this.closed = true;
    return this.whenIdle();
  }

  whenIdle(): Promise<void> {
    if (!this.running && this.queue.length === 0 && this.hasNoWork()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** No slot holds a request (a paused one still counts as work). */
  private hasNoWork(): boolean {
    return this.slots.every((s) => !s.job);
  }

  private hasFreeSlot(): boolean {
    return this.slots.some((s) => !s.job);
  }

  private freeSlots(): number {
    let n = 0;
    for (const s of this.slots) if (!s.job) n++;
    return n;
  }

  private cancel(job: Job): void {
    if (job.cancelled) return;
    job.cancelled = true;
    // A queued job is dropped at once; a running one is finished by the loop at the next token
    // boundary, which may have stopped while this job was paused.
    if (this.queue.remove(job)) this.finish(job, undefined, "cancelled");
    else this.kick();
  }

  /** The reader took an event: a paused job resumes once it has caught up halfway. */
  private caughtUp(job: Job): void {
    if (!job.paused || job.channel.backlog > INFERENCE_MAX_UNREAD_EVENTS / 2) return;
    job.paused = false;
    this.kick();
  }

  private expireQueued(job: Job): void {
    if (!this.queue.remove(job)) return;
    this.finish(job, undefined, "error", `waited in the queue longer than ${job.req.queueTimeoutMs} ms`);
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    queueMicrotask(() => void this.loop());
  }

  private async loop(): Promise<void> {
    try {
      for (;;) {
        this.reapCancelled();
        this.admit();
        const items = this.buildBatch();
        if (items.length === 0) break;
        await this.decode(items);
      }
    } finally {
      this.running = false;
      // With every busy slot paused the loop rests; a reader catching up, a cancel or a submit wakes it.
      if (this.queue.length === 0 && this.hasNoWork()) for (const w of this.idleWaiters.splice(0)) w();
      else if (this.queue.length > 0 && this.hasFreeSlot()) this.kick();
    }
  }

  private reapCancelled(): void {
    for (const slot of this.slots) if (slot.job?.cancelled) this.finish(slot.job, slot, "cancelled");
  }

  /** Move queued jobs into free slots, preferring the slot whose cached tokens share the longest prefix. */
  private admit(): void {
    for (let job = this.queue.peek(); job && this.hasFreeSlot(); job = this.queue.peek()) {
      this.queue.shift();
      if (job.queueTimer) clearTimeout(job.queueTimer);
      const prompt = job.req.promptTokens;
      let best: Slot | undefined;
      let bestCommon = -1;
      for (const slot of this.slots) {
        if (slot.job) continue;
        // Keep at least one prompt token to evaluate: its logits give the first sampled token.
        const common = Math.min(commonPrefix(slot.kv, prompt), prompt.length - 1);
        if (common > bestCommon || (common === bestCommon && best && slot.lastUsed < best.lastUsed)) {
          best = slot;
          bestCommon = common;
        }
      }
      this.start(job, best!, bestCommon);
    }
  }

  private start(job: Job, slot: Slot, common: number): void {
    if (slot.kv.length > common) this.engine.clearSlot(slot.id, common);
    slot.kv.length = common;
    slot.job = job;
    slot.state = SlotState.Prompt;
    const req = job.req;
    job.startedAt = this.now();
    job.cachedTokens = common;
    job.pending = req.promptTokens.slice(common);
    job.sampler = this.engine.createSampler(req.sampling, req.promptTokens, req.grammar);
    job.text = new TextStream(this.engine, req.stop, req.promptTokens, req.lazyGrammar?.triggers);
    this.counters.promptTokens += req.promptTokens.length;
    this.counters.cachedPromptTokens += common;
    job.channel.push({ type: "started", slot: slot.id, queuedMs: job.startedAt - job.submittedAt, cachedTokens: common });
  }

  private buildBatch(): BatchItem[] {
    const items: BatchItem[] = [];
    let budget = this.engine.batchSize;
    for (const slot of this.slots) {
      if (slot.state !== SlotState.Generating) continue;
      const job = slot.job!;
      if (job.channel.backlog >= INFERENCE_MAX_UNREAD_EVENTS) {
        job.paused = true;
        continue;
      }
      items.push({ slot: slot.id, pos: slot.kv.length, tokens: [job.nextToken], sampler: job.sampler });
      budget--;
    }
    const prompting = this.slots.filter((s) => s.state === SlotState.Prompt).sort((a, b) => a.job!.startedAt - b.job!.startedAt);
    for (const slot of prompting) {
      if (budget <= 0) break;
      const job = slot.job!;
      const n = Math.min(budget, job.pending.length);
      const last = n === job.pending.length;
      items.push({ slot: slot.id, pos: slot.kv.length, tokens: job.pending.slice(0, n), sampler: last ? job.sampler : undefined });
      budget -= n;
    }
    return items;
  }

  private async decode(items: BatchItem[]): Promise<void> {
    let sampled: Array<number | undefined>;
    this.counters.decodeCalls++;
    const t0 = this.now();
    try {
      sampled = await this.engine.decode(items);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      for (const item of items) {
        const slot = this.slots[item.slot]!;
        if (slot.job) this.finish(slot.job, slot, "error", `decode failed: ${message}`);
      }
      return;
    } finally {
      this.counters.decodeMs += this.now() - t0;
    }
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      const slot = this.slots[item.slot]!;
      const job = slot.job;
      this.counters.decodedTokens += item.tokens.length;
      for (const t of item.tokens) slot.kv.push(t);
      if (!job) continue;
      if (slot.state === SlotState.Prompt) {
        job.pending = job.pending.slice(item.tokens.length);
        if (job.pending.length > 0) continue;
        slot.state = SlotState.Generating;
      }
      const token = sampled[i];
      if (token === undefined || token < 0) {
        this.finish(job, slot, "error", "the sampler produced no token");
        continue;
      }
      this.onToken(job, slot, token);
    }
  }

  private onToken(job: Job, slot: Slot, token: number): void {
    const t = this.now();
    if (job.generated === 0) {
      job.firstTokenAt = t;
      this.observer.firstToken?.(t - job.startedAt);
    } else this.observer.tokenGap?.(t - job.lastTokenAt);
    job.lastTokenAt = t;
    job.generated++;
    this.counters.generatedTokens++;
    if (job.cancelled) return this.finish(job, slot, "cancelled");
    if (!job.req.ignoreEos && this.engine.isEndOfGeneration(token)) return this.finish(job, slot, "stop");
    const out = job.text!.push(token);
    let text = out.text;
    if (out.trigger && job.req.lazyGrammar) {
      // The call's opening is written: the grammar runs the rest (text it does not take is dropped).
      const took = this.engine.engageGrammar(job.sampler!, job.req.lazyGrammar.grammar, out.trigger.leftover);
      text += out.trigger.leftover.slice(0, took);
    }
    if (text.length > 0 || out.stopped) job.channel.push({ type: "text", text, tokens: job.generated });
    if (out.stopped) return this.finish(job, slot, "stop", undefined, out.stop);
    if (job.generated >= job.req.maxTokens) return this.finish(job, slot, "length");
    job.nextToken = token;
  }

  private finish(job: Job, slot: Slot | undefined, reason: FinishReason, error?: string, stopString?: string): void {
    if (job.queueTimer) clearTimeout(job.queueTimer);
    if (job.onAbort) job.req.signal?.removeEventListener("abort", job.onAbort);
    if (reason === "length" || reason === "stop") {
      const rest = job.text?.flush() ?? "";
      if (rest.length > 0) job.channel.push({ type: "text", text: rest, tokens: job.generated });
    }
    job.sampler?.dispose();
    job.sampler = undefined;
    if (slot) {
      slot.job = undefined;
      slot.state = SlotState.Idle;
      slot.lastUsed = this.now();
      // A cancelled or failed request's cells may be half-written: forget them rather than reuse them.
      if (reason === "cancelled" || reason === "error") {
        this.engine.clearSlot(slot.id, 0);
        slot.kv.length = 0;
      }
    }
    this.counters.requests[reason]++;
    this.observer.finished?.(reason);
    const end = this.now();
    const started = job.startedAt || end;
    job.channel.push({
      type: "done",
      finishReason: reason,
      usage: { promptTokens: job.req.promptTokens.length, completionTokens: job.generated, cachedTokens: job.cachedTokens },
      timings: {
        queuedMs: started - job.submittedAt,
        timeToFirstTokenMs: job.firstTokenAt ? job.firstTokenAt - started : 0,
        totalMs: end - job.submittedAt,
      },
      ...(error ? { error } : {}),
      ...(stopString !== undefined ? { stopString } : {}),
    });
    job.channel.close();
  }
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
