// Admission: what a request must satisfy before it may queue, and which free slot it takes.
import { isFree, type Slot } from "./jobs.ts";
import { InferenceError, type InferenceRequest } from "./types.ts";

/**
 * Throws InferenceError when the request can never run here: an empty prompt, a prompt and
 * max_tokens beyond one slot's context, or more choices than slots.
 */
export function checkFits(req: InferenceRequest, slotContextSize: number, slotCount: number): void {
  if (req.promptTokens.length === 0) throw new InferenceError("invalid_request", "the prompt is empty");
  if (req.promptTokens.length + req.maxTokens > slotContextSize) {
    throw new InferenceError(
      "context_exceeded",
      `prompt (${req.promptTokens.length} tokens) + max_tokens (${req.maxTokens}) exceeds the context size of ${slotContextSize} tokens per slot`,
    );
  }
  const n = req.choices ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > slotCount) {
    throw new InferenceError("invalid_request", `n (${n}) must be between 1 and the slot count (${slotCount})`);
  }
  if (req.maxTokens === 0 && n > 1) throw new InferenceError("invalid_request", "max_tokens 0 (evaluate the prompt only) takes one choice");
  if (req.slot !== undefined && (!Number.isInteger(req.slot) || req.slot < 0 || req.slot >= slotCount || n > 1)) {
    throw new InferenceError("invalid_request", `slot ${req.slot}: a request may name one of slots 0 to ${slotCount - 1}, with one choice`);
  }
}

/**
 * The free slot whose cached tokens share the longest prefix with the prompt (ties: the least
 * recently used), and how many of its cells can be kept; only the request's own slot when it names
 * one. With cachePrompt false nothing is kept. Undefined when no such slot is free.
 */
export function bestSlot(slots: readonly Slot[], req: Pick<InferenceRequest, "promptTokens" | "slot" | "cachePrompt">): { slot: Slot; common: number } | undefined {
  const prompt = req.promptTokens;
  let best: Slot | undefined;
  let bestCommon = -1;
  for (const slot of slots) {
    if (!isFree(slot) || (req.slot !== undefined && slot.id !== req.slot)) continue;
    // Keep at least one prompt token to evaluate: its logits give the first sampled token.
    const common = req.cachePrompt === false ? 0 : Math.min(commonPrefix(slot.kv, prompt), prompt.length - 1);
    if (common > bestCommon || (common === bestCommon && best && slot.lastUsed < best.lastUsed)) {
      best = slot;
      bestCommon = common;
    }
  }
  return best && { slot: best, common: bestCommon };
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
