// llama-server's `timings` object and `system_fingerprint`, which its answers carry on every API
// (its own routes and OpenAI's): clients and dashboards written for it read them.
import pkg from "../../package.json" with { type: "json" };
import type { Timings, Usage } from "../inference/types.ts";

/** llama-server's build_info ("b<build>-<commit>"): here, Warren and its version. */
export const BUILD_INFO = `warren-${pkg.version}`;

/** llama-server's timings: the prompt from the slot's start to the first token, generation after it. */
export function timingsJson(timings: Timings, usage: Usage) {
  const promptN = usage.promptTokens - usage.cachedTokens;
  const promptMs = timings.timeToFirstTokenMs;
  const predictedMs = Math.max(0, timings.totalMs - timings.queuedMs - timings.timeToFirstTokenMs);
  // The first token comes from the prompt's last decode: generation's own steps are one fewer.
  const steps = Math.max(0, usage.completionTokens - 1);
  return {
    cache_n: usage.cachedTokens,
    prompt_n: promptN,
    prompt_ms: promptMs,
    prompt_per_token_ms: promptN > 0 ? promptMs / promptN : 0,
    prompt_per_second: promptMs > 0 ? (1000 * promptN) / promptMs : 0,
    predicted_n: usage.completionTokens,
    predicted_ms: predictedMs,
    predicted_per_token_ms: steps > 0 ? predictedMs / steps : 0,
    predicted_per_second: predictedMs > 0 ? (1000 * steps) / predictedMs : 0,
  };
}

