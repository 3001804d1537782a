// The bare lockstep decode loop behind the decode ceilings (ceiling.ts, batching.ts): every slot
// evaluates its prompt in one batch, then all slots generate one greedy token per engine.decode.
import type { BatchItem, Engine } from "../../src/inference/engine.ts";

export const GREEDY = { temperature: 0, topK: 0, topP: 1, minP: 0, repeatPenalty: 1, presencePenalty: 0, frequencyPenalty: 0, penaltyLastN: 64 };

interface LockstepRun {
  /** Tokens generated, all slots together (the prompt batch yields each slot's first one). */
  generated: number;
  /** Wall time of the whole run, prompt batch included. */
  ms: number;
  /** Decode calls after the prompt batch, and the time spent in them. */
  steps: number;
  stepMs: number;
  /** The tokens slot 0 generated (to check another driver of the same model against). */
  slot0: number[];
}

/** Slot i runs prompts[i]; `tokens` per slot. The slots' cells are cleared before and after. */
export async function lockstepDecode(engine: Engine, prompts: readonly number[][], tokens: number): Promise<LockstepRun> {
  const samplers = prompts.map((p) => engine.createSampler(GREEDY, p));
  for (let s = 0; s < prompts.length; s++) engine.clearSlot(s, 0);
  const t0 = performance.now();
  const tokensOf = (sampled: { token: number }[][]) => sampled.map((r) => r[0]!.token);
  let next = tokensOf(await engine.decode(prompts.map((p, slot) => ({ slot, pos: 0, tokens: p, sampler: samplers[slot] }))));
  const slot0 = [next[0]!];
  let stepMs = 0;
  for (let i = 1; i < tokens; i++) {
    const items: BatchItem[] = prompts.map((p, slot) => ({ slot, pos: p.length + i - 1, tokens: [next[slot]!], sampler: samplers[slot] }));
    const s0 = performance.now();
    next = tokensOf(await engine.decode(items));
    stepMs += performance.now() - s0;
    slot0.push(next[0]!);
  }
  const ms = performance.now() - t0;
  for (const s of samplers) s.dispose();
  for (let s = 0; s < prompts.length; s++) engine.clearSlot(s, 0);
  return { generated: tokens * prompts.length, ms, steps: Math.max(0, tokens - 1), stepMs, slot0 };
}
