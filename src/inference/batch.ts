// The work each turn hands the pipeline (pipeline.ts): the next token of every generating slot with
// nothing in flight, then the rest of every prompt, in admission order. The pipeline packs them into
// steps of at most the batch size, generating slots first, and may go ahead with a slot's tokens.
import type { Sampling, Work } from "./engine.ts";
import { SlotState, type Job, type Slot } from "./jobs.ts";
import { INFERENCE_MAX_UNREAD_EVENTS } from "../limits.ts";

/**
 * The work to submit now. A generating job whose reader is INFERENCE_MAX_UNREAD_EVENTS behind is
 * marked paused and left out. A prompt's work samples its first token (and, for n > 1, the
 * followers' first tokens as forks) from the logits after its last token.
 */
export function buildWork(slots: readonly Slot[]): Work<Sampling>[] {
  const out: Work<Sampling>[] = [];
  for (const slot of slots) {
    if (slot.state !== SlotState.Generating || slot.inFlight) continue;
    const job = slot.job!;
    if (job.channel.backlog >= INFERENCE_MAX_UNREAD_EVENTS) {
      job.paused = true;
      continue;
    }
    out.push({ slot: slot.id, pos: slot.kv.length, tokens: [job.nextToken], sample: sampling(job), ahead: aheadOf(job), stopAtEog: !job.req.ignoreEos });
  }
  const prompting = slots.filter((s) => s.state === SlotState.Prompt && !s.inFlight).sort((a, b) => a.job!.startedAt - b.job!.startedAt);
  for (const slot of prompting) {
    const job = slot.job!;
    const sample = sampling(job);
    if (job.group) sample.forks = job.group.followers.map((f) => f.sampler!);
    // The choices of n > 1 part after the first token (their cells are copied then): no going ahead.
    out.push({ slot: slot.id, pos: slot.kv.length, tokens: job.pending, sample, ahead: job.group ? 0 : aheadOf(job), stopAtEog: !job.req.ignoreEos });
  }
  return out;
}

/**
 * How many tokens the engine may generate for the job by itself after the next one: up to
 * max_tokens, and none for a lazy grammar, whose trigger (seen only here, in the text) must
 * constrain the very next token.
 */
function aheadOf(job: Job): number {
  if (job.req.lazyGrammar) return 0;
  return Math.max(0, job.req.maxTokens - job.generated - 1);
}

/** Probabilities only for requests that want logprobs: they cost a sort per token. */
function sampling(job: Job): Sampling {
  const s: Sampling = { sampler: job.sampler! };
  if (job.req.logprobs === undefined) return s;
  s.probabilities = true;
  if (job.req.logprobsFrom === "model") s.modelProbabilities = true;
  return s;
}
