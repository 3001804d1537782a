// A non-streamed answer's choices: text, finish reason and log-probability entries of each, from the
// scheduler's events (with n > 1 the choices' events interleave, told apart by their index).
import type { FinishReason, TokenEvent, TokenLogprobs } from "../../inference/types.ts";
import { ApiError } from "../errors.ts";

type Done = Extract<TokenEvent, { type: "done" }>;

export interface ChoiceResult {
  text: string;
  finishReason: FinishReason;
  logprobs: TokenLogprobs[];
}

export async function runChoices(events: AsyncIterable<TokenEvent>, n: number): Promise<{ choices: ChoiceResult[]; done: Done }> {
  const choices: ChoiceResult[] = Array.from({ length: n }, () => ({ text: "", finishReason: "stop", logprobs: [] }));
  for await (const ev of events) {
    if (ev.type === "text") {
      const c = choices[ev.index ?? 0]!;
      c.text += ev.text;
      if (ev.logprobs) for (const e of ev.logprobs) c.logprobs.push(e);
    } else if (ev.type === "finish") choices[ev.index]!.finishReason = ev.finishReason;
    else if (ev.type === "done") {
      // A single choice gets no "finish" event: its reason is the request's.
      if (n === 1) choices[0]!.finishReason = ev.finishReason;
      return { choices, done: ev };
    }
  }
  throw new ApiError(500, "internal_error", "generation ended without a result");
}
