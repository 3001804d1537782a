// The C API engine's pipeline (see pipeline.ts): work goes to the decode thread, which turns it into
// steps by itself and posts each; this side turns the posted tokens back into Sampled lists, keeps
// the events in order for the scheduler, and tells the decode thread how far it has read.
import type { PipeEvent, Pipeline, Sampled, Sampling, StepOutput, Work } from "../../engine.ts";
import { CONTROL_READ, CONTROL_WAITING, type FromDecodeThread, type SampleJob, type ToDecodeThread, type WorkItem } from "./protocol.ts";

type PipelineMessage = Extract<FromDecodeThread, { type: "step" | "reset" | "failed" }>;

export class CapiPipeline implements Pipeline {
  private readonly events: PipeEvent[] = [];
  private waiter: { resolve(e: PipeEvent): void; reject(err: Error): void } | null = null;
  /** Slots with work under way, and resets not yet acknowledged. */
  private readonly live = new Set<number>();
  private resets: number[] = [];
  private stepsRead = 0;
  private failure: string | null = null;
  /** Each slot's sampling, to turn a step's tokens back into Sampled lists. */
  private readonly sampling = new Map<number, Sampling>();

  constructor(
    /** Sends to the decode thread, in order with everything else sent to it (CapiContext.send). */
    private readonly send: (m: ToDecodeThread) => void,
    private readonly control: Int32Array,
    private readonly jobsOf: (s: Sampling) => SampleJob[],
  ) {}

  get busy(): boolean {
    return this.events.length > 0 || this.live.size > 0 || this.resets.length > 0;
  }

  submit(work: Work<Sampling>): void {
    if (this.failure !== null) {
      this.events.push({ type: "failed", slots: [work.slot], message: this.failure });
      return;
    }
    this.live.add(work.slot);
    if (work.sample) this.sampling.set(work.slot, work.sample);
    const jobs = work.sample ? this.jobsOf(work.sample) : [];
    const item: WorkItem = { slot: work.slot, pos: work.pos, tokens: Int32Array.from(work.tokens), jobs, ahead: work.ahead, stopAtEog: work.stopAtEog };
    this.send({ type: "work", work: [item] });
  }

  reset(slot: number, keepBelow: number): void {
    if (this.failure !== null) {
      this.events.push({ type: "reset", slot });
      return;
    }
    this.resets.push(slot);
    this.send({ type: "reset", slot, keepBelow: keepBelow === Infinity ? -1 : keepBelow });
  }

  next(): Promise<PipeEvent> {
    const event = this.events.shift();
    if (event) return Promise.resolve(this.read(event));
    if (this.failure !== null) return Promise.reject(new Error(this.failure));
    if (!this.busy) return Promise.reject(new Error("next() with nothing under way"));
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  /** A step handed to the scheduler counts as read: a decode thread waiting for that goes on. */
  private read(event: PipeEvent): PipeEvent {
    if (event.type !== "step") return event;
    Atomics.store(this.control, CONTROL_READ, ++this.stepsRead);
    if (Atomics.compareExchange(this.control, CONTROL_WAITING, 1, 0) === 1) this.send({ type: "go" });
    return event;
  }

  /** A message from the decode thread for the pipeline. */
  receive(m: PipelineMessage): void {
    if (m.type === "step") {
      const outputs: StepOutput[] = m.outputs.map((o) => {
        if (!o.more) this.live.delete(o.slot);
        return { slot: o.slot, pos: o.pos, count: o.count, more: o.more, sampled: o.first < 0 ? [] : sampledOf(this.sampling.get(o.slot)!, m.tokens, m.probabilities, o.first) };
      });
      this.events.push({ type: "step", ms: m.ms, outputs });
    } else if (m.type === "reset") {
      this.resets.splice(this.resets.indexOf(m.slot), 1);
      this.live.delete(m.slot);
      this.events.push(m);
    } else {
      const slots = m.slots ?? [];
      for (const s of slots) this.live.delete(s);
      this.events.push({ type: "failed", slots, message: m.message });
    }
    this.wake();
  }

  private wake(): void {
    const waiter = this.waiter;
    if (waiter === null || this.events.length === 0) return;
    this.waiter = null;
    waiter.resolve(this.read(this.events.shift()!));
  }

  /** The decode thread is gone: what was under way fails, resets are done, later work fails at once. */
  fail(why: string): void {
    if (this.failure !== null) return;
    this.failure = why;
    if (this.live.size > 0) this.events.push({ type: "failed", slots: [...this.live], message: why });
    for (const slot of this.resets) this.events.push({ type: "reset", slot });
    this.live.clear();
    this.resets = [];
    this.wake();
  }
}

/**
 * The sampler's token, then its forks', from the jobs CapiContext's jobsOf made for `s` starting
 * at `first` (a probe's job follows its sampler's when the model's own distribution is wanted).
 */
export function sampledOf(s: Sampling, tokens: Int32Array, probabilities: (number[] | null)[], first: number): Sampled[] {
  const model = s.probabilities === true && s.modelProbabilities === true;
  const out: Sampled[] = [];
  let j = first;
  for (let n = 0; n <= (s.forks?.length ?? 0); n++) {
    const token = tokens[j]!;
    out.push(s.probabilities ? { token, probabilities: probabilities[model ? j + 1 : j] ?? [] } : { token });
    j += model ? 2 : 1;
  }
  return out;
}

/** How many jobs jobsOf made for `s`. */
export const jobCount = (s: Sampling): number => (1 + (s.forks?.length ?? 0)) * (s.probabilities === true && s.modelProbabilities === true ? 2 : 1);
