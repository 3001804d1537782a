// StepPlan, the step bookkeeping the decode thread and LockstepPipeline share: what each step
// decodes, and which slots go on by themselves.
import { describe, expect, test } from "bun:test";
import { StepPlan, type Piece } from "../../src/inference/pipeline.ts";

const EOG = 2;
const isEog = (t: number) => t === EOG;
const work = (slot: number, pos: number, tokens: number[], over: { sample?: string; ahead?: number; stopAtEog?: boolean } = {}) => ({
  slot,
  pos,
  tokens,
  sample: "sample" in over ? over.sample : `s${slot}`,
  ahead: over.ahead ?? 0,
  stopAtEog: over.stopAtEog ?? true,
});
const shape = (pieces: Piece<string>[]) => pieces.map((p) => `${p.slot}@${p.pos}x${p.tokens.length}${p.sample && !p.rest ? "s" : ""}${p.rest ? "+" : ""}`);

describe("StepPlan", () => {
  test("single tokens go first, then prompts in the order they came, split to the batch size", () => {
    const plan = new StepPlan<string>(8);
    plan.submit(work(0, 0, [1, 2, 3, 4, 5, 6]));
    plan.submit(work(1, 0, [1, 2, 3, 4, 5]));
    plan.submit(work(2, 9, [7]));
    expect(shape(plan.take())).toEqual(["2@9x1s", "0@0x6s", "1@0x1+"]);
    expect(shape(plan.take())).toEqual(["1@1x4s"]);
    expect(plan.idle).toBe(true);
  });

  test("only a work item's last piece samples; the rest is marked as more to come", () => {
    const plan = new StepPlan<string>(4);
    plan.submit(work(0, 0, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], { ahead: 5 }));
    const first = plan.take();
    expect(shape(first)).toEqual(["0@0x4+"]);
    expect(first[0]!.ahead).toBe(0);
    expect(plan.advance(first, [-1], isEog)).toEqual([true]);
    expect(shape(plan.take())).toEqual(["0@4x4+"]);
    const last = plan.take();
    expect(shape(last)).toEqual(["0@8x2s"]);
    expect(last[0]!.ahead).toBe(5);
  });

  test("a slot with ahead left goes on with the token it sampled, one fewer each step", () => {
    const plan = new StepPlan<string>(8);
    plan.submit(work(0, 3, [10], { ahead: 2 }));
    let pieces = plan.take();
    expect(plan.advance(pieces, [11], isEog)).toEqual([true]);
    pieces = plan.take();
    expect(pieces.map((p) => [p.pos, [...p.tokens], p.ahead, p.sample])).toEqual([[4, [11], 1, "s0"]]);
    expect(plan.advance(pieces, [12], isEog)).toEqual([true]);
    pieces = plan.take();
    expect(pieces.map((p) => [p.pos, [...p.tokens], p.ahead])).toEqual([[5, [12], 0]]);
    // No ahead left: the last token is the scheduler's to hand back.
    expect(plan.advance(pieces, [13], isEog)).toEqual([false]);
    expect(plan.idle).toBe(true);
  });

  test("going ahead stops at an end-of-generation token unless the work ignores it, and at a failed draw", () => {
    const plan = new StepPlan<string>(8);
    plan.submit(work(0, 0, [5], { ahead: 9 }));
    plan.submit(work(1, 0, [5], { ahead: 9, stopAtEog: false }));
    plan.submit(work(2, 0, [5], { ahead: 9 }));
    plan.submit(work(3, 0, [5], { ahead: 9, sample: undefined }));
    const pieces = plan.take();
    expect(plan.advance(pieces, [EOG, EOG, -1, -1], isEog)).toEqual([false, true, false, false]);
    expect(shape(plan.take())).toEqual(["1@1x1s"]);
  });

  test("reset forgets a slot's waiting work and stops it going ahead; other slots go on", () => {
    const plan = new StepPlan<string>(4);
    plan.submit(work(0, 0, [5], { ahead: 9 }));
    plan.submit(work(1, 0, [1, 2, 3, 4, 5, 6]));
    const pieces = plan.take();
    expect(shape(pieces)).toEqual(["0@0x1s", "1@0x3+"]);
    plan.advance(pieces, [7, -1], isEog);
    plan.reset(0);
    plan.reset(1);
    expect(plan.idle).toBe(true);
    plan.submit(work(2, 0, [5], { ahead: 1 }));
    plan.submit(work(3, 0, [5], { ahead: 1 }));
    plan.advance(plan.take(), [7, 8], isEog);
    plan.reset(2);
    expect(shape(plan.take())).toEqual(["3@1x1s"]);
  });

  test("one piece per slot per step: later work for a slot waits for the next step", () => {
    const plan = new StepPlan<string>(16);
    plan.submit(work(0, 0, [1, 2, 3], { sample: undefined }));
    plan.submit(work(0, 3, [4]));
    plan.submit(work(1, 0, [1, 2]));
    const small = new StepPlan<string>(2);
    small.submit(work(0, 0, [1, 2, 3], { sample: undefined }));
    small.submit(work(0, 3, [4]));
    expect(shape(small.take())).toEqual(["0@0x2+"]);
    expect(shape(small.take())).toEqual(["0@2x1"]);
    expect(shape(small.take())).toEqual(["0@3x1s"]);
    expect(shape(plan.take())).toEqual(["0@0x3", "1@0x2s"]);
    expect(shape(plan.take())).toEqual(["0@3x1s"]);
  });

  test("slots going ahead take their tokens out of the batch first", () => {
    const plan = new StepPlan<string>(4);
    plan.submit(work(0, 0, [9], { ahead: 5 }));
    plan.submit(work(1, 0, [9], { ahead: 5 }));
    plan.advance(plan.take(), [7, 7], isEog);
    plan.submit(work(2, 0, [1, 2, 3, 4]));
    expect(plan.aheadCount).toBe(2);
    expect(shape(plan.take())).toEqual(["0@1x1s", "1@1x1s", "2@0x2+"]);
  });
});
