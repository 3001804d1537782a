// One contract for the Engine interface (src/inference/engine.ts), run against the deterministic
// fake and the node-llama-cpp engine: what the scheduler relies on, so a node-llama-cpp upgrade
// that moves the internals the real engine uses fails here first. The real engine runs
// stories260K: a trained model's greedy choices are clear, where a random-weight model's near-ties
// can tip between a batched and a single decode.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Engine } from "../../src/inference/engine.ts";
import { FakeEngine } from "../../src/inference/engine-fake.ts";
import { LlamaEngine } from "../../src/inference/llama/engine.ts";
import { GREEDY } from "../helpers/inference.ts";
import { requireStories } from "../helpers/models.ts";

/** Greedy continuation of `prompt` in `slot`, `n` tokens, one decode per token. */
async function greedy(engine: Engine, slot: number, prompt: number[], n: number): Promise<number[]> {
  const sampler = engine.createSampler(GREEDY, prompt);
  try {
    let pos = 0;
    let tokens = prompt;
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const [sampled] = await engine.decode([{ slot, pos, tokens, sampler }]);
      pos += tokens.length;
      const t = sampled![0]!.token;
      out.push(t);
      tokens = [t];
    }
    return out;
  } finally {
    sampler.dispose();
  }
}

function contract(name: string, engine: () => Engine) {
  /** Each test starts with every slot empty, whatever the one before it left. */
  const make = () => {
    const e = engine();
    for (let slot = 0; slot < e.slots; slot++) e.clearSlot(slot, 0);
    return e;
  };
  describe(`engine contract: ${name}`, () => {
    test("text survives tokenize and detokenize; BOS only when asked and wanted", () => {
      const e = make();
      const text = "Once upon a time, héllo";
      const plain = e.tokenize(text, false);
      expect(e.detokenize(plain).trimStart()).toBe(text);
      const withBos = e.tokenize(text, true);
      if (e.info.addBos) expect(withBos[0]).toBe(e.info.bosToken!);
      expect(withBos.length).toBeGreaterThanOrEqual(plain.length);
    });

    test("greedy decoding is deterministic, slot-independent, and clearSlot forgets the cells", async () => {
      const e = make();
      const prompt = e.tokenize("Once upon a time", true);
      const a = await greedy(e, 0, prompt, 6);
      e.clearSlot(0, 0);
      const b = await greedy(e, 1, prompt, 6);
      e.clearSlot(1, 0);
      expect(b).toEqual(a);
      expect(await greedy(e, 0, prompt, 6)).toEqual(a);
      e.clearSlot(0, 0);
    });

    test("one batch for several slots gives each its own answer; only items with a sampler sample", async () => {
      const e = make();
      const p1 = e.tokenize("Once upon a time", true);
      const p2 = e.tokenize("The cat", true);
      const alone1 = (await greedy(e, 0, p1, 1))[0];
      const alone2 = (await greedy(e, 1, p2, 1))[0];
      e.clearSlot(0, 0);
      e.clearSlot(1, 0);
      const s = e.createSampler(GREEDY, p1);
      const s2 = e.createSampler(GREEDY, p2);
      const out = await e.decode([
        { slot: 0, pos: 0, tokens: p1, sampler: s },
        { slot: 1, pos: 0, tokens: p2, sampler: s2 },
        { slot: 2, pos: 0, tokens: p2 },
      ]);
      expect(out.map((o) => o[0]?.token)).toEqual([alone1, alone2, undefined]);
      s.dispose();
      s2.dispose();
      for (const slot of [0, 1, 2]) e.clearSlot(slot, 0);
    });

    test("copySlot: the copy continues exactly as the original", async () => {
      const e = make();
      const prompt = e.tokenize("Once upon a time", true);
      const s = e.createSampler(GREEDY, prompt);
      await e.decode([{ slot: 0, pos: 0, tokens: prompt.slice(0, -1) }]);
      await e.copySlot(0, [1]);
      const last = prompt.slice(-1);
      const [a] = await e.decode([{ slot: 0, pos: prompt.length - 1, tokens: last, sampler: s }]);
      const s2 = e.createSampler(GREEDY, prompt);
      const [b] = await e.decode([{ slot: 1, pos: prompt.length - 1, tokens: last, sampler: s2 }]);
      expect(b![0]!.token).toBe(a![0]!.token);
      s.dispose();
      s2.dispose();
      e.clearSlot(0, 0);
      e.clearSlot(1, 0);
    });

    test("probabilities when asked: they sum to 1 and hold the sampled token", async () => {
      const e = make();
      const prompt = e.tokenize("Once upon a time", true);
      const s = e.createSampler(GREEDY, prompt);
      const [out] = await e.decode([{ slot: 0, pos: 0, tokens: prompt, sampler: s, probabilities: true }]);
      const p = out![0]!.probabilities!;
      let sum = 0;
      for (let i = 1; i < p.length; i += 2) sum += p[i]!;
      expect(sum).toBeCloseTo(1, 4);
      expect(p[0]).toBe(out![0]!.token);
      s.dispose();
      e.clearSlot(0, 0);
    });

    test("setThreads changes the count in use; renderChat renders a conversation with the template's stops", () => {
      const e = make();
      const before = e.threads;
      e.setThreads(1);
      expect(e.threads).toBe(1);
      e.setThreads(before);
      const r = e.renderChat({ messages: [{ role: "user", text: "hi" }] });
      expect(r.tokens.length).toBeGreaterThan(2);
      expect(Array.isArray(r.stop)).toBe(true);
      expect(r.template).toBe(e.info.chat.template);
    });
  });
}

contract("fake", () => new FakeEngine({ slots: 3, slotContextSize: 256, batchSize: 64 }));

let real: LlamaEngine | undefined;
beforeAll(async () => {
  real = await LlamaEngine.load({ modelPath: requireStories(), slots: 3, slotContextSize: 256, threads: 1 });
}, 60_000);
afterAll(async () => {
  await real?.dispose();
});
contract("node-llama-cpp", () => real!);
