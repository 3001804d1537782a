// The scheduler's bookkeeping: a job is one request (or one choice of an n > 1 request), a group the
// choices of one request, and a slot one sequence of the engine's context. Kept apart so the
// scheduler's modules and choices.ts share them.
import type { Channel } from "./channel.ts";
import type { EngineSampler } from "./engine.ts";
import type { TextStream } from "./text.ts";
import type { FinishReason, InferenceRequest, TokenEvent, TokenLogprobs } from "./types.ts";

export enum SlotState {
  /** No request. The KV cells may still hold the previous request's tokens for prefix reuse. */
  Idle = "idle",
  /** Evaluating the prompt (possibly over several turns when it exceeds the batch budget). */
  Prompt = "prompt",
  /** Sampling one token per turn. */
  Generating = "generating",
  /** Held for a choice of an n > 1 request until its prompt, evaluated in the leader's slot, is copied in. */
  Waiting = "waiting",
}

export interface Job {
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
  /** Choice number (n > 1), 0 otherwise. */
  index: number;
  /** The request's choices when n > 1; they share the prompt, the channel and the cancel flag. */
  group?: ChoiceGroup;
  /** Entries of tokens whose text is not sent yet (req.logprobs set). */
  logprobs?: TokenLogprobs[];
  /** Ids of tokens generated since the last text event (req.tokenIds set). */
  ids?: number[];
}

export interface Slot {
  id: number;
  state: SlotState;
  /** Tokens in this slot's KV cells, position i holds kv[i]. */
  kv: number[];
  lastUsed: number;
  job?: Job;
  /** The pipeline has work for this slot under way: an output (or a reset's acknowledgement) is still to come. */
  inFlight: boolean;
  /** Resets of its work not acknowledged yet; outputs that still come for a job that has ended are dropped. */
  resetting: number;
}

/** A slot a request may take: no request, nothing under way in the engine. */
export function isFree(slot: Slot): boolean {
  return !slot.job && !slot.inFlight;
}

/** What a slot is doing, for monitoring (llama-server's /slots). */
export interface SlotView {
  id: number;
  state: `${SlotState}`;
  /** Tokens in the slot's KV cells (a finished request's stay there for prefix reuse). */
  cells: number;
  /** The request it holds, if any, and how far it got. */
  job?: { req: InferenceRequest; cachedTokens: number; promptEvaluated: number; generated: number };
}

export function slotView(slot: Slot): SlotView {
  const job = slot.job;
  const view: SlotView = { id: slot.id, state: slot.state, cells: slot.kv.length };
  if (job) {
    const promptEvaluated = slot.state === SlotState.Prompt ? job.req.promptTokens.length - job.pending.length : job.req.promptTokens.length;
    view.job = { req: job.req, cachedTokens: job.cachedTokens, promptEvaluated, generated: job.generated };
  }
  return view;
}

/** A job not yet admitted; its channel is set by the caller. */
export function newJob(req: InferenceRequest, index: number, now: number): Job {
  return {
    req,
    channel: null as unknown as Channel<TokenEvent>,
    submittedAt: now,
    startedAt: 0,
    firstTokenAt: 0,
    lastTokenAt: 0,
    cancelled: false,
    paused: false,
    pending: [],
    nextToken: -1,
    generated: 0,
    cachedTokens: 0,
    index,
  };
}

/**
 * What goes out with the next text event: the logprobs entries of the first `n` tokens whose text is
 * not sent yet (`dropRest`: the tokens after them lie wholly inside a stop string and never are), and
 * the ids of every token generated since the last event, whatever became of their text.
 */
export function releaseTokens(job: Job, n: number, dropRest = false): { logprobs?: TokenLogprobs[]; ids?: number[] } {
  const logprobs = job.logprobs?.splice(0, n);
  if (dropRest && job.logprobs) job.logprobs.length = 0;
  return { logprobs, ids: job.ids?.splice(0) };
}

/** The choices of one n > 1 request (see choices.ts). */
export class ChoiceGroup {
  /** Every choice, by index; jobs[0] is the leader. */
  readonly jobs: Job[] = [];
  /** Why the request failed, once a choice has ended in error. */
  failure?: string;
  private ended = 0;
  private completion = 0;
  private reasons: FinishReason[] = [];

  get leader(): Job {
    return this.jobs[0]!;
  }

  get followers(): Job[] {
    return this.jobs.slice(1);
  }

  /** Record that one choice ended; true when it was the last. Failure or cancel ends the others too. */
  end(job: Job, reason: FinishReason, error?: string): boolean {
    this.ended++;
    this.completion += job.generated;
    this.reasons[job.index] = reason;
    if (reason === "error") this.failure ??= error ?? "generation failed";
    if (reason === "error" || reason === "cancelled") for (const j of this.jobs) j.cancelled = true;
    return this.ended === this.jobs.length;
  }

  /** The request's outcome once every choice has ended (see the "done" event). */
  outcome(): { reason: FinishReason; error?: string; completionTokens: number } {
    const reason = this.failure !== undefined ? "error" : this.reasons.includes("cancelled") ? "cancelled" : this.reasons[0]!;
    return { reason, error: this.failure, completionTokens: this.completion };
  }
}
