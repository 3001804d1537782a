// One turn's batch: one token per generating slot first, then prompt chunks in admission order, up
// to the engine's batch size (in tokens, across all slots).
import type { BatchItem } from "./engine.ts";
import { SlotState, type Job, type Slot } from "./jobs.ts";
import { INFERENCE_MAX_UNREAD_EVENTS } from "../limits.ts";

/**
 * The items of the next decode. A generating job whose reader is INFERENCE_MAX_UNREAD_EVENTS behind
 * is marked paused and left out. A prompt's last chunk carries its sampler (and, for n > 1, the
 * followers' samplers as forks), so the first token comes from the same decode.
 */
export function buildBatch(slots: readonly Slot[], batchSize: number): BatchItem[] {
  const items: BatchItem[] = [];
  let budget = batchSize;
  for (const slot of slots) {
    if (slot.state !== SlotState.Generating) continue;
    const job = slot.job!;
    if (job.channel.backlog >= INFERENCE_MAX_UNREAD_EVENTS) {
      job.paused = true;
      continue;
    }
    const item: BatchItem = { slot: slot.id, pos: slot.kv.length, tokens: [job.nextToken], sampler: job.sampler };
    askProbabilities(item, job);
    items.push(item);
    budget--;
  }
  const prompting = slots.filter((s) => s.state === SlotState.Prompt).sort((a, b) => a.job!.startedAt - b.job!.startedAt);
  for (const slot of prompting) {
    if (budget <= 0) break;
    const job = slot.job!;
    const n = Math.min(budget, job.pending.length);
    const last = n === job.pending.length;
    const item: BatchItem = { slot: slot.id, pos: slot.kv.length, tokens: job.pending.slice(0, n) };
    if (last) {
      item.sampler = job.sampler;
      askProbabilities(item, job);
      if (job.group) item.forks = job.group.followers.map((f) => f.sampler!);
    }
    items.push(item);
    budget -= n;
  }
  return items;
}

/** Probabilities only for requests that want logprobs: they cost a sort per token. */
function askProbabilities(item: BatchItem, job: Job): void {
  if (job.req.logprobs === undefined) return;
  item.probabilities = true;
  if (job.req.logprobsFrom === "model") item.modelProbabilities = true;
}
