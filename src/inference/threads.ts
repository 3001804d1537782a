// --threads auto: the best thread count depends on the model. ggml's workers busy-wait at every
// barrier, so on a tiny model (steps of microseconds) one thread beats two, while a model whose
// steps take milliseconds gains from every core (bench/threads.ts shows both; figures in
// docs/benchmarks.md). So the count is measured at load: for each candidate, a few decode steps at
// batch 1 and with every slot generating, and the count with the best aggregate rate (all slots
// busy, what a loaded server does) wins, by a margin (below), if it does not lose with one sequence.
import type { BatchItem, Engine, EngineSampler } from "./engine.ts";
import type { SamplingParams } from "./types.ts";

/** What the tuner needs of an engine: decoding, and changing its thread count in place. */
type TunableEngine = Pick<Engine, "slots" | "batchSize" | "slotContextSize" | "decode" | "clearSlot" | "createSampler" | "tokenize"> & {
  setThreads(threads: number): void;
};

interface ThreadRate {
  threads: number;
  /** Tokens per second with one sequence generating. */
  single: number;
  /** Tokens per second with every slot generating (one token each per step). */
  batch: number;
}

interface TuneResult {
  threads: number;
  rates: ThreadRate[];
  ms: number;
}

/** Time spent measuring one candidate at one batch size, after its warm-up step. */
export const TUNE_BUDGET_MS = 60;
/** Steps per measurement at most (a tiny model takes microseconds each). */
const TUNE_MAX_STEPS = 48;
/** A larger count must beat a smaller one by this much to win: fewer threads leave the JS thread more room. */
const TUNE_MARGIN = 1.05;
/**
 * ...and by this much when it takes every core. The measurement runs with nothing else busy; under
 * load the JavaScript thread (HTTP, SSE) and any client share those cores with ggml's workers, whose
 * barriers stall whenever one of them is preempted. On stories260K at 2 threads on 2 cores the
 * measurement said +3% to +29%, and under load it gave 5-6% more tokens/s for 43% more CPU per token
 * and a 40% higher inter-token p99; the 100M preset gains 1.6-1.9x and still picks 2.
 */
const TUNE_MARGIN_ALL_CORES = 1.25;
const PROMPT = "Once upon a time";

const GREEDY: SamplingParams = { temperature: 0, topK: 0, topP: 1, minP: 0, repeatPenalty: 1, presencePenalty: 0, frequencyPenalty: 0, penaltyLastN: 0 };

/** 1, 2, 4, ... up to the cores, and the cores themselves: a handful of runs even on a large machine. */
export function threadCandidates(cores: number): number[] {
  const out = new Set<number>();
  for (let t = 1; t <= cores; t *= 2) out.add(t);
  out.add(Math.max(1, cores - 1));
  out.add(Math.max(1, cores));
  return [...out].sort((a, b) => a - b);
}

/**
 * Measures each candidate and leaves the engine on the best. Every slot's cells are cleared after.
 * Bounded: per candidate, two warm-up steps and two measurements of at most TUNE_BUDGET_MS (plus one
 * step past it), so a few hundred ms on 2 cores.
 */
export async function tuneThreads(engine: TunableEngine, candidates: readonly number[], now: () => number = () => performance.now()): Promise<TuneResult> {
  const t0 = now();
  const rates: ThreadRate[] = [];
  for (const threads of candidates) {
    engine.setThreads(threads);
    rates.push({ threads, single: await rate(engine, 1, now), batch: await rate(engine, engine.slots, now) });
  }
  const allCores = Math.max(...candidates);
  let best = rates[0]!;
  for (const r of rates) {
    const margin = r.threads === allCores && r.threads > 1 ? TUNE_MARGIN_ALL_CORES : TUNE_MARGIN;
    // It must not lose with one sequence either: a short step is mostly synchronisation.
    if (r.batch > best.batch * margin && r.single >= best.single) best = r;
  }
  engine.setThreads(best.threads);
  return { threads: best.threads, rates, ms: now() - t0 };
}

/** Tokens per second generating one token per step in `width` slots (prompt evaluated first, untimed). */
async function rate(engine: TunableEngine, width: number, now: () => number): Promise<number> {
  const slots = Math.min(width, engine.slots, engine.batchSize);
  const prompt = engine.tokenize(PROMPT, true).slice(0, Math.max(1, Math.floor(engine.batchSize / slots)));
  const samplers: EngineSampler[] = [];
  try {
    for (let s = 0; s < slots; s++) samplers.push(engine.createSampler(GREEDY, prompt));
    const pos = Array.from({ length: slots }, () => 0);
    const step = async (tokens: (slot: number) => number[]) => {
      const items: BatchItem[] = samplers.map((sampler, slot) => ({ slot, pos: pos[slot]!, tokens: tokens(slot), sampler }));
      const out = await engine.decode(items);
      items.forEach((item, slot) => (pos[slot]! += item.tokens.length));
      return out.map((o) => o[0]?.token ?? 0);
    };
    let next = await step(() => prompt);
    // The first generating step also pays for graph set-up; it is not timed.
    next = await step((slot) => [next[slot]!]);
    let steps = 0;
    const maxSteps = Math.min(TUNE_MAX_STEPS, engine.slotContextSize - prompt.length - 2);
    const start = now();
    while (steps < maxSteps && now() - start < TUNE_BUDGET_MS) {
      next = await step((slot) => [next[slot]!]);
      steps++;
    }
    const seconds = (now() - start) / 1000;
    return seconds > 0 ? (steps * slots) / seconds : 0;
  } finally {
    for (const s of samplers) s.dispose();
    for (let s = 0; s < slots; s++) engine.clearSlot(s, 0);
  }
}
