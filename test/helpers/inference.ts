// Shared helpers for inference tests.
import type { InferenceRequest, SamplingParams, TokenEvent } from "../../src/inference/types.ts";

export const GREEDY: SamplingParams = {
  temperature: 0,
  topK: 0,
  topP: 1,
  minP: 0,
  repeatPenalty: 1,
  presencePenalty: 0,
  frequencyPenalty: 0,
  penaltyLastN: 64,
};

let nextId = 0;
export function request(promptTokens: number[], over: Partial<InferenceRequest> = {}): InferenceRequest {
  return { id: `r${nextId++}`, promptTokens, maxTokens: 16, sampling: GREEDY, stop: [], ignoreEos: false, ...over };
}

export interface Collected {
  text: string;
  events: TokenEvent[];
  done: Extract<TokenEvent, { type: "done" }>;
}

export async function collect(stream: AsyncIterable<TokenEvent>): Promise<Collected> {
  const events: TokenEvent[] = [];
  let text = "";
  for await (const ev of stream) {
    events.push(ev);
    if (ev.type === "text") text += ev.text;
  }
  const done = events[events.length - 1];
  if (!done || done.type !== "done") throw new Error("stream ended without a done event");
  return { text, events, done };
}
