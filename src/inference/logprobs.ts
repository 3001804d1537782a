// A sampled token's distribution (Engine's flat [token, p, ...] list, most probable first) reduced
// to what a request asked for: the token's own log-probability and the top few alternatives.
import { LOGPROB_FLOOR, type TokenLogprobs } from "./types.ts";

const ln = (p: number): number => (p > 0 ? Math.max(Math.log(p), LOGPROB_FLOOR) : LOGPROB_FLOOR);

export function tokenLogprobs(token: number, probabilities: readonly number[], top: number): TokenLogprobs {
  let p = 0;
  for (let i = 0; i < probabilities.length; i += 2) {
    if (probabilities[i] === token) {
      p = probabilities[i + 1]!;
      break;
    }
  }
  const alternatives: TokenLogprobs["top"] = [];
  for (let i = 0; i + 1 < probabilities.length && alternatives.length < top; i += 2) {
    alternatives.push({ token: probabilities[i]!, logprob: ln(probabilities[i + 1]!) });
  }
  return { token, logprob: ln(p), top: alternatives };
}
