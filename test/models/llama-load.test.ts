// The judge of our files is llama.cpp itself: load every tiny preset through node-llama-cpp,
// tokenize, detokenize and generate. Always 1 thread: ggml threads busy-wait, and where the cores
// are shared more threads crawl (docs/architecture.md, runtime quirks).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Llama, LlamaCompletion, LlamaLogLevel, type LlamaModel, getLlama } from "node-llama-cpp";
import { makeModel } from "../../src/models/presets.ts";
import { FIRST_NORMAL_ID, SPACE_MARK, buildVocab } from "../../src/models/vocab.ts";

let dir = "";
let llama: Llama;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "warren-load-"));
  llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
});
afterAll(async () => {
  await llama?.dispose();
  await rm(dir, { recursive: true, force: true });
});

const TEXTS = ["Hello, world! h\u00e9llo \u4f60\u597d", "the quick brown fox", "  two  spaces\nand a newline\t", "\u{1f600} emoji"];

/** Greedy-generates `n` tokens after `prompt` with one thread; returns their ids and text. */
async function greedy(model: LlamaModel, prompt: string, n: number): Promise<{ ids: number[]; text: string }> {
  const ctx = await model.createContext({ contextSize: 256, threads: 1 });
  try {
    const seq = ctx.getSequence();
    const ids: number[] = [];
    const input = [model.tokens.bos!, ...model.tokenize(prompt)];
    for await (const t of seq.evaluate(input, { temperature: 0 })) {
      ids.push(t);
      if (ids.length >= n) break;
    }
    return { ids, text: model.detokenize(ids as never) };
  } finally {
    await ctx.dispose();
  }
}

for (const preset of ["tiny", "tiny-f16", "tiny-q8"] as const) {
  describe(`node-llama-cpp loads ${preset}`, () => {
    let model: LlamaModel;
    beforeAll(async () => {
      const { path } = await makeModel({ preset, out: join(dir, `${preset}.gguf`) });
      model = await llama.loadModel({ modelPath: path });
    });
    afterAll(async () => {
      await model?.dispose();
    });

    test("sees our special tokens and vocabulary", () => {
      expect(model.tokens.bos as number).toBe(1);
      expect(model.tokens.eos as number).toBe(2);
      expect(model.fileInfo.metadata.general.architecture).toBe("llama" as never);
      expect(model.detokenize(model.tokenize("the"))).toBe("the");
      // "the" becomes the single piece "▁the": llama.cpp's SPM merges follow our scores.
      expect(model.tokenize("the").map(Number)).toEqual([buildVocab(768).tokens.indexOf(`${SPACE_MARK}the`)]);
    });

    test("tokenize/detokenize round-trips ASCII and non-ASCII text", () => {
      for (const text of TEXTS) expect(model.detokenize(model.tokenize(text))).toBe(text);
      // Characters outside the vocabulary fall back to their UTF-8 bytes (ids 3..258).
      const ids = model.tokenize("\u4f60").map(Number);
      expect(ids.filter((id) => id >= 3 && id < FIRST_NORMAL_ID).length).toBe(3);
    });

    test("greedy generation is deterministic and never emits special or byte tokens", async () => {
      const a = await greedy(model, "Once upon a time", 24);
      const b = await greedy(model, "Once upon a time", 24);
      expect(a.ids.length).toBe(24);
      expect(b.ids).toEqual(a.ids);
      for (const id of a.ids) expect(id).toBeGreaterThanOrEqual(FIRST_NORMAL_ID);
      expect(a.text.length).toBeGreaterThan(0);
      expect(a.text).not.toContain("\ufffd");
    });

    test("LlamaCompletion generates text with sampling", async () => {
      const ctx = await model.createContext({ contextSize: 128, threads: 1 });
      try {
        const completion = new LlamaCompletion({ contextSequence: ctx.getSequence() });
        const out = await completion.generateCompletion("the", { maxTokens: 12, temperature: 0.8, seed: 3 });
        expect(typeof out).toBe("string");
        expect(out.length).toBeGreaterThan(0);
      } finally {
        await ctx.dispose();
      }
    });
  });
}
