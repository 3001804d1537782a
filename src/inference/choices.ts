// Requests with n > 1 choices: one job per choice, each in its own slot, sharing one event channel.
//
// The first job (the leader) is queued and admitted like any request, and evaluates the prompt in
// its slot. The others (followers) take free slots at the same time and wait there. When the
// prompt's last chunk is decoded, every choice draws its first token from those same logits (the
// followers' samplers ride the leader's batch item as forks); then, before the next decode, the
// leader's cells are copied into the followers' slots and every choice generates on its own.
// The prompt is thus evaluated once, whatever n is.
//
// The request ends when its last choice does. A choice that fails or is cancelled takes the others
// down with it: they are marked cancelled and the scheduler reaps them at the next token boundary.
import type { Engine } from "./engine.ts";
import { ChoiceGroup, isFree, newJob, SlotState, type Job, type Slot } from "./jobs.ts";
import { TextStream } from "./text.ts";
import type { SamplingParams } from "./types.ts";

/** Give a leader (choice 0, channel set) its n - 1 followers. */
export function createGroup(leader: Job, n: number): ChoiceGroup {
  const group = new ChoiceGroup();
  const baseSeed = leader.req.sampling.seed ?? randomSeed();
  group.jobs.push(leader);
  for (let i = 1; i < n; i++) {
    const follower = newJob({ ...leader.req, sampling: choiceSampling(leader.req.sampling, i, baseSeed) }, i, leader.submittedAt);
    follower.channel = leader.channel;
    group.jobs.push(follower);
  }
  for (const j of group.jobs) j.group = group;
  return group;
}

/**
 * Sampling of choice `index`. Choice 0 keeps the request's own seed, so its tokens are those of the
 * same request with n = 1; the others get seeds mixed from it and their index. An unseeded request
 * draws one base seed, so its choices still differ from each other.
 */
function choiceSampling(s: SamplingParams, index: number, baseSeed: number): SamplingParams {
  if (index === 0) return s;
  let h = Math.imul(baseSeed ^ Math.imul(index, 0x9e3779b9), 0x85ebca6b);
  h ^= h >>> 13;
  return { ...s, seed: Math.imul(h, 0xc2b2ae35) >>> 0 };
}

const randomSeed = (): number => (Math.random() * 0x1_0000_0000) >>> 0;

/** Right after the leader took its slot: the followers take free slots, least recently used first. */
export function reserveFollowers(engine: Engine, slots: readonly Slot[], group: ChoiceGroup): void {
  const free = slots.filter(isFree).sort((a, b) => a.lastUsed - b.lastUsed);
  for (const job of group.followers) {
    const slot = free.shift()!;
    // Its cells will be replaced by the copy; empty now, so a cancel before then leaves nothing stale.
    engine.clearSlot(slot.id, 0);
    slot.kv.length = 0;
    slot.job = job;
    slot.state = SlotState.Waiting;
    job.startedAt = group.leader.startedAt;
    job.sampler = engine.createSampler(job.req.sampling, job.req.promptTokens, job.req.grammar);
    job.text = new TextStream(engine, job.req.stop, job.req.promptTokens, job.req.lazyGrammar?.triggers);
  }
}

/**
 * Between decodes: copy the leader's prompt cells from `from` into the followers' slots, which then
 * generate. Returns each choice's slot by index. A cancelled request is not copied (its followers
 * stay Waiting). Throws when the engine's copy fails.
 */
export async function copyPrompt(engine: Engine, group: ChoiceGroup, from: Slot, slots: readonly Slot[]): Promise<Array<Slot | undefined>> {
  const targets = group.followers.map((j) => slots.find((s) => s.job === j));
  if (group.leader.cancelled) return [from, ...targets];
  if (targets.some((s) => s === undefined)) throw new Error("a choice lost its slot before the copy");
  await engine.copySlot(from.id, targets.map((s) => s!.id));
  for (const slot of targets) {
    slot!.kv = from.kv.slice();
    slot!.state = SlotState.Generating;
  }
  return [from, ...targets];
}
