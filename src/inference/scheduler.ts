// Continuous batching over the engine's slots.
//
// One loop runs while any slot is busy: each turn it admits queued requests into free slots, hands
// the pipeline (pipeline.ts) the work of every slot with nothing under way (the next token of a
// generating slot, the rest of a prompt), then reads one step's outputs and gives each sampled
// token to its request. The pipeline packs work into batches (generating slots first, then prompt
// chunks in admission order, up to the batch size), and may go ahead with a slot's tokens while
// this thread reads the previous step: a request that ends meanwhile is reset, and what was
// decoded past its end is dropped. Requests join and leave at token boundaries, so a long
// generation never holds up a short one once a slot is free. Cancellation is checked every turn.
// A request with n > 1 choices runs one job per choice in n slots (see choices.ts). What may queue
// and which slot a request takes are in admission.ts; what each turn submits, in batch.ts.
import type { Engine, PipeEvent, Pipeline, Sampled } from "./engine.ts";
import { LockstepPipeline } from "./pipeline.ts";
import { Channel } from "./channel.ts";
import { bestSlot, checkFits } from "./admission.ts";
import { buildWork } from "./batch.ts";
import { copyPrompt, createGroup, reserveFollowers } from "./choices.ts";
import { isFree, newJob, releaseTokens, SlotState, slotView, type ChoiceGroup, type Job, type Slot, type SlotView } from "./jobs.ts";

export type { SlotView };
import { tokenLogprobs } from "./logprobs.ts";
import { BoundedQueue } from "./queue.ts";
import { TextStream } from "./text.ts";
import { InferenceError, type FinishReason, type InferenceRequest, type TokenEvent } from "./types.ts";
import { INFERENCE_MAX_UNREAD_EVENTS } from "../limits.ts";
import { emptyCounters, type SchedulerObserver, type SchedulerStats } from "./scheduler-stats.ts";

export interface SchedulerOptions {
  engine: Engine;
  maxQueue: number;
  now?: () => number;
}

export class Scheduler {
  readonly engine: Engine;
  private readonly pipe: Pipeline;
  private readonly slots: Slot[];
  private readonly queue: BoundedQueue<Job>;
  private readonly now: () => number;
  private running = false;
  private closed = false;
  private idleWaiters: Array<() => void> = [];
  private observer: SchedulerObserver = {};
  private readonly counters = emptyCounters();

  constructor(opts: SchedulerOptions) {
    this.engine = opts.engine;
    this.queue = new BoundedQueue(opts.maxQueue);
    this.now = opts.now ?? (() => performance.now());
    if (this.engine.batchSize < this.engine.slots) throw new Error("batch size must be at least the slot count");
    this.slots = Array.from({ length: this.engine.slots }, (_, id) => ({ id, state: SlotState.Idle, kv: [], lastUsed: 0, inFlight: false, resetting: 0 }));
    this.pipe = this.engine.openPipeline?.() ?? new LockstepPipeline(this.engine);
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

  /** Each slot's state and request, in slot order. */
  slotViews(): SlotView[] {
    return this.slots.map(slotView);
  }

  /**
   * Admit a request. Throws InferenceError at once (never queues) when the request can't fit a slot,
   * the queue is full or the scheduler is closed. The returned stream ends with one "done" event;
   * leaving it early (return()) cancels the request.
   */
  submit(req: InferenceRequest): AsyncIterable<TokenEvent> {
    checkFits(req, this.engine.slotContextSize, this.slots.length);
    const n = req.choices ?? 1;
    if (this.closed) throw new InferenceError("shutting_down", "the server is shutting down");
    const job = newJob(req, 0, this.now());
    job.channel = new Channel<TokenEvent>(() => this.cancel(job), () => this.caughtUp(job));
    if (n > 1) createGroup(job, n);
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

  /** No slot holds a request (a paused one still counts as work) or has work under way in the engine. */
  private hasNoWork(): boolean {
    return this.slots.every((s) => !s.job && !s.inFlight);
  }

  /** The head of the queue fits in the free slots (a request with n choices needs n). */
  private canAdmit(): boolean {
    const head = this.queue.peek();
    if (head === undefined || this.freeSlots() < (head.group?.jobs.length ?? 1)) return false;
    return head.req.slot === undefined || isFree(this.slots[head.req.slot]!);
  }

  private freeSlots(): number {
    let n = 0;
    for (const s of this.slots) if (isFree(s)) n++;
    return n;
  }

  private cancel(job: Job): void {
    if (job.cancelled) return;
    const jobs = job.group?.jobs ?? [job];
    for (const j of jobs) j.cancelled = true;
    // A queued job is dropped at once; a running one is finished by the loop at the next token
    // boundary, which may have stopped while this job was paused.
    if (this.queue.remove(job)) for (const j of jobs) this.finish(j, undefined, "cancelled");
    else this.kick();
  }

  /** The reader took an event: a paused job resumes once it has caught up halfway. */
  private caughtUp(job: Job): void {
    if (!job.paused || job.channel.backlog > INFERENCE_MAX_UNREAD_EVENTS / 2) return;
    for (const j of job.group?.jobs ?? [job]) j.paused = false;
    this.kick();
  }

  private expireQueued(job: Job): void {
    if (!this.queue.remove(job)) return;
    const error = `waited in the queue longer than ${job.req.queueTimeoutMs} ms`;
    for (const j of job.group?.jobs ?? [job]) this.finish(j, undefined, "error", error);
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
        for (const work of buildWork(this.slots)) {
          this.slots[work.slot]!.inFlight = true;
          this.pipe.submit(work);
        }
        if (!this.pipe.busy) break;
        await this.step();
      }
    } finally {
      this.running = false;
      // With every busy slot paused the loop rests; a reader catching up, a cancel or a submit wakes it.
      if (this.queue.length === 0 && this.hasNoWork()) for (const w of this.idleWaiters.splice(0)) w();
      else if (this.canAdmit()) this.kick();
    }
  }

  private reapCancelled(): void {
    for (const slot of this.slots) {
      const job = slot.job;
      if (job?.cancelled) this.finish(job, slot, job.group?.failure !== undefined ? "error" : "cancelled", job.group?.failure);
    }
  }

  /**
   * Move queued jobs into free slots, preferring the slot whose cached tokens share the longest
   * prefix. A request with n choices waits at the head of the queue until n slots are free.
   */
  private admit(): void {
    while (this.canAdmit()) {
      const job = this.queue.shift()!;
      if (job.queueTimer) clearTimeout(job.queueTimer);
      // canAdmit saw a free slot for every choice.
      const { slot, common } = bestSlot(this.slots, job.req)!;
      this.start(job, slot, common);
      if (job.group) reserveFollowers(this.engine, this.slots, job.group);
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

  /** Waits for the pipeline's next event and applies it. */
  private async step(): Promise<void> {
    let event: PipeEvent;
    try {
      event = await this.pipe.next();
    } catch (err) {
      // The engine cannot go on (its decode thread is gone): everything under way fails.
      event = { type: "failed", slots: this.slots.filter((s) => s.inFlight).map((s) => s.id), message: err instanceof Error ? err.message : String(err) };
      for (const slot of this.slots) slot.resetting = 0;
    }
    if (event.type === "reset") {
      const slot = this.slots[event.slot]!;
      if (--slot.resetting === 0) slot.inFlight = false;
      return;
    }
    if (event.type === "failed") {
      for (const id of event.slots) {
        const slot = this.slots[id]!;
        if (slot.resetting > 0) continue; // its reset is still to be acknowledged
        slot.inFlight = false;
        if (slot.job) this.finish(slot.job, slot, "error", `decode failed: ${event.message}`);
      }
      return;
    }
    this.counters.decodeCalls++;
    this.counters.decodeMs += event.ms;
    const forked: Array<{ job: Job; slot: Slot; sampled: Sampled[] }> = [];
    for (const out of event.outputs) {
      const slot = this.slots[out.slot]!;
      this.counters.decodedTokens += out.count;
      if (slot.resetting === 0) slot.inFlight = out.more;
      const job = slot.job;
      // A job that ended while the engine went ahead: these cells are being removed.
      if (!job) continue;
      for (let i = 0; i < out.count; i++) slot.kv.push(slot.state === SlotState.Prompt ? job.pending[i]! : job.nextToken);
      if (slot.state === SlotState.Prompt) {
        job.pending = job.pending.slice(out.count);
        if (job.pending.length > 0) continue;
        slot.state = SlotState.Generating;
        // max_tokens 0: the prompt is in the cache now; its first token is not wanted.
        if (job.req.maxTokens === 0) {
          this.finish(job, slot, "length");
          continue;
        }
      }
      // The leader's first token waits until its cells are copied: finishing it first could clear them.
      if (job.group && out.sampled.length > 1) forked.push({ job, slot, sampled: out.sampled });
      else this.onSampled(job, slot, out.sampled[0]);
      // A reader that fell behind stops the slot going ahead; it resumes from the last token read.
      if (slot.job === job && slot.inFlight && slot.resetting === 0 && job.channel.backlog >= INFERENCE_MAX_UNREAD_EVENTS) {
        job.paused = true;
        this.reset(slot, Infinity);
      }
    }
    for (const f of forked) await this.fork(f.job.group!, f.slot, f.sampled);
  }

  /** Stops the pipeline's work for the slot; until that is acknowledged, the slot stays in flight. */
  private reset(slot: Slot, keepBelow: number): void {
    slot.resetting++;
    this.pipe.reset(slot.id, keepBelow);
  }

  /** The prompt is in the leader's slot and every choice has its first token: copy, then go on separately. */
  private async fork(group: ChoiceGroup, from: Slot, sampled: Sampled[]): Promise<void> {
    const t0 = this.now();
    let slots: Array<Slot | undefined>;
    try {
      slots = await copyPrompt(this.engine, group, from, this.slots);
    } catch (err) {
      // The followers are cancelled by the failure; the loop reaps them with this error.
      return this.finish(group.leader, from, "error", `copying the prompt to the other choices failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.counters.copyMs += this.now() - t0;
    }
    group.jobs.forEach((job, i) => {
      const slot = slots[i];
      if (i > 0 && slot?.state === SlotState.Generating) this.counters.slotCopies++;
      // After a cancel the followers' cells were never copied: they stay Waiting, for the reaper.
      if (slot?.state === SlotState.Generating && slot.job === job) this.onSampled(job, slot, sampled[i]);
    });
  }

  private onSampled(job: Job, slot: Slot, sampled: Sampled | undefined): void {
    if (!sampled || sampled.token < 0) return this.finish(job, slot, "error", "the sampler produced no token");
    this.onToken(job, slot, sampled.token, sampled.probabilities);
  }

  private onToken(job: Job, slot: Slot, token: number, probabilities?: readonly number[]): void {
    const t = this.now();
    if (job.generated === 0) {
      job.firstTokenAt = t;
      this.observer.firstToken?.(t - job.startedAt);
    } else this.observer.tokenGap?.(t - job.lastTokenAt);
    job.lastTokenAt = t;
    job.generated++;
    this.counters.generatedTokens++;
    if (job.cancelled) return this.finish(job, slot, "cancelled");
    if (job.req.tokenIds) (job.ids ??= []).push(token);
    if (!job.req.ignoreEos && this.engine.isEndOfGeneration(token)) return this.finish(job, slot, "stop");
    // An entry per token keeps entries and text in step (an engine always gives probabilities when asked).
    if (job.req.logprobs !== undefined) (job.logprobs ??= []).push(tokenLogprobs(token, probabilities ?? [], job.req.logprobs));
    const out = job.text!.push(token);
    let text = out.text;
    if (out.trigger && job.req.lazyGrammar) {
      // The call's opening is written: the grammar runs the rest (text it does not take is dropped).
      const took = this.engine.engageGrammar(job.sampler!, job.req.lazyGrammar.grammar, out.trigger.leftover);
      text += out.trigger.leftover.slice(0, took);
    }
    // Tokens wholly inside a stop string are never sent, so their records are dropped with them.
    const released = releaseTokens(job, out.released, out.stopped);
    if (text.length > 0 || out.stopped || released.logprobs?.length || released.ids?.length) job.channel.push(this.textEvent(job, text, released));
    if (out.stopped) return this.finish(job, slot, "stop", undefined, out.stop);
    if (job.generated >= job.req.maxTokens) return this.finish(job, slot, "length");
    job.nextToken = token;
  }

  private finish(job: Job, slot: Slot | undefined, reason: FinishReason, error?: string, stopString?: string): void {
    if (job.queueTimer) clearTimeout(job.queueTimer);
    if (reason === "length" || reason === "stop") {
      const rest = job.text?.flush() ?? "";
      const released = releaseTokens(job, Infinity);
      if (rest.length > 0 || released.logprobs?.length || released.ids?.length) job.channel.push(this.textEvent(job, rest, released));
    }
    if (slot) {
      slot.job = undefined;
      slot.state = SlotState.Idle;
      slot.lastUsed = this.now();
      // A cancelled or failed request's cells may be half-written: forget them rather than reuse them.
      const keep = reason === "cancelled" || reason === "error" ? 0 : slot.kv.length;
      // The engine may be going ahead with it: stop that and drop the cells it wrote past the end.
      if (slot.inFlight) this.reset(slot, keep);
      else if (keep === 0) this.engine.clearSlot(slot.id, 0);
      slot.kv.length = keep;
    }
    // After the reset: a decode thread frees the sampler only once nothing it will decode uses it.
    job.sampler?.dispose();
    job.sampler = undefined;
    let completionTokens = job.generated;
    const group = job.group;
    if (group) {
      // Each choice ends on its own; the request (its abort listener, counters, "done") with the last.
      job.channel.push({ type: "finish", index: job.index, finishReason: reason, completionTokens: job.generated });
      if (!group.end(job, reason, error)) return;
      ({ reason, error, completionTokens } = group.outcome());
      job = group.leader;
    }
    if (job.onAbort) job.req.signal?.removeEventListener("abort", job.onAbort);
    this.counters.requests[reason]++;
    this.observer.finished?.(reason);
    const end = this.now();
    const started = job.startedAt || end;
    job.channel.push({
      type: "done",
      finishReason: reason,
      usage: { promptTokens: job.req.promptTokens.length, completionTokens, cachedTokens: job.cachedTokens },
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

  private textEvent(job: Job, text: string, released: ReturnType<typeof releaseTokens>): TokenEvent {
    const ev: TokenEvent = { type: "text", text, tokens: job.generated, index: job.index };
    if (released.logprobs?.length) ev.logprobs = released.logprobs;
    if (released.ids?.length) ev.ids = released.ids;
    return ev;
  }
}
