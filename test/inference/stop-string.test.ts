// Which stop string ended a request: TextStream names it, and the scheduler's done event carries
// it (stopString), so an API can report it (Anthropic's stop_sequence). An end by end-of-generation
// or by max_tokens carries none.
import { describe, expect, test } from "bun:test";
import { FakeEngine } from "../../src/inference/engine-fake.ts";
import { Scheduler } from "../../src/inference/scheduler.ts";
import { TextStream } from "../../src/inference/text.ts";
import { collect, request } from "../helpers/inference.ts";

const bytes = { detokenize: (tokens: readonly number[]) => new TextDecoder().decode(Uint8Array.from(tokens)) };

describe("the stop string that matched", () => {
  test("TextStream: the first one completed, even when split across tokens and listed last", () => {
    const ts = new TextStream(bytes, ["zzz", "lo w", "world"], []);
    let hit: { stopped: boolean; stop?: string } = { stopped: false };
    for (const t of new TextEncoder().encode("hello world")) {
      hit = ts.push(t);
      if (hit.stopped) break;
    }
    expect(hit).toMatchObject({ stopped: true, stop: "lo w" });
  });

  test("scheduler: done.stopString names it; other ends have none", async () => {
    const engine = new FakeEngine({ reply: "one two three" });
    const s = new Scheduler({ engine, maxQueue: 4 });
    const prompt = engine.tokenize("go", true);
    const stopped = await collect(s.submit(request(prompt, { maxTokens: 40, stop: ["three", "two"] })));
    expect(stopped.text).toBe("one ");
    expect(stopped.done).toMatchObject({ finishReason: "stop", stopString: "two" });
    const eos = await collect(s.submit(request(prompt, { maxTokens: 40, stop: ["four"] })));
    expect(eos.done.finishReason).toBe("stop");
    expect(eos.done.stopString).toBeUndefined();
    const length = await collect(s.submit(request(prompt, { maxTokens: 3, stop: ["two"] })));
    expect(length.done.finishReason).toBe("length");
    expect(length.done.stopString).toBeUndefined();
  });
});
