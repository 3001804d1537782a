// Shared helpers for inference tests.
import type { BatchItem, EngineSampler, Sampled } from "../../src/inference/engine.ts";
import { FakeEngine, type FakeEngineOptions } from "../../src/inference/engine-fake.ts";
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

interface Collected {
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

/**
 * A FakeEngine whose samplers emit `script` (token ids, in a loop) instead of the fake's own picks,
 * each with a two-token distribution {its token: 0.75, 99: 0.25}: for output the fake never writes,
 * such as multi-byte characters split over tokens.
 */
export class ScriptedEngine extends FakeEngine {
  private readonly at = new Map<EngineSampler, number>();
  constructor(
    private readonly script: readonly number[],
    opts: ConstructorParameters<typeof FakeEngine>[0] = {},
  ) {
    super(opts);
  }

  override async decode(items: readonly BatchItem[]): Promise<Sampled[][]> {
    const out = await super.decode(items);
    return out.map((sampled, i) =>
      sampled.map((s, k) => {
        const sampler = k === 0 ? items[i]!.sampler! : items[i]!.forks![k - 1]!;
        const n = this.at.get(sampler) ?? 0;
        this.at.set(sampler, n + 1);
        const token = this.script[n % this.script.length]!;
        return s.probabilities ? { token, probabilities: [token, 0.75, 99, 0.25] } : { token };
      }),
    );
  }
}

/** A fake engine whose decodes fail ("device lost") after the first `okDecodes`. */
export class FailingEngine extends FakeEngine {
  calls = 0;
  constructor(
    opts: FakeEngineOptions = {},
    private readonly okDecodes = 3,
  ) {
    super(opts);
  }
  override async decode(items: Parameters<FakeEngine["decode"]>[0]) {
    if (++this.calls > this.okDecodes) throw new Error("device lost");
    return super.decode(items);
  }
}
