// A model registry over fake engines, for tests: every model answers with its own name, loads
// take as long as a test lets them, and each engine checks that nothing uses it after it is freed
// and that it is never freed under a request.
import { Catalogue, type ModelSettings } from "../../src/inference/catalogue.ts";
import type { BatchItem, Sampled } from "../../src/inference/engine.ts";
import { FakeEngine } from "../../src/inference/engine-fake.ts";
import { ModelRegistry } from "../../src/inference/registry.ts";
import { Scheduler } from "../../src/inference/scheduler.ts";

/** A FakeEngine that fails loudly when used after dispose(). */
class CheckedEngine extends FakeEngine {
  disposed = false;
  override async decode(items: readonly BatchItem[]): Promise<Sampled[][]> {
    if (this.disposed) throw new Error(`${this.info.name}: decode after dispose`);
    return super.decode(items);
  }
  override tokenize(text: string, addBos: boolean): number[] {
    if (this.disposed) throw new Error(`${this.info.name}: tokenize after dispose`);
    return super.tokenize(text, addBos);
  }
  override async dispose(): Promise<void> {
    this.disposed = true;
  }
}

export const SETTINGS: ModelSettings = {
  parallel: 2,
  ctxSize: 256,
  batchSize: 64,
  threads: 1,
  mmap: false,
  flashAttention: "auto",
  engine: "auto",
  chatTemplate: "",
  maxQueue: 8,
  keepAliveMs: Infinity,
};

interface HarnessOptions {
  /** Bytes each model needs (default 10). */
  bytes?: Record<string, number>;
  budget?: number;
  maxLoaded?: number;
  roomWaitMs?: number;
  decodeDelayMs?: number;
  settings?: Partial<ModelSettings>;
  /** The reply of each model's engine (default: "I am NAME."). */
  reply?: (name: string) => string;
  hostProblem?: (bytes: number) => string | undefined;
}

export interface Harness {
  registry: ModelRegistry;
  /** Model names in load order, and in unload order. */
  loads: string[];
  disposed: string[];
  engines: Map<string, CheckedEngine>;
  /** Loads of these names fail with "broken file". */
  broken: Set<string>;
  /** While set, loads wait for this promise. */
  gate?: Promise<void>;
  /** Anything the engines saw that must never happen (a model freed while held or busy). */
  violations: string[];
  plans: number;
}

/** A registry over models `names` (served by NAME=path --model values, so the catalogue needs no files). */
export function harness(names: string[], o: HarnessOptions = {}): Harness {
  const catalogue = new Catalogue({ models: names.map((n) => `${n}=/nowhere/${n}.gguf`), defaults: { ...SETTINGS, ...o.settings } });
  const h: Harness = { loads: [], disposed: [], engines: new Map(), broken: new Set(), violations: [], plans: 0 } as unknown as Harness;
  h.registry = new ModelRegistry({
    catalogue,
    budget: { bytes: o.budget ?? 1000, text: "the test's budget" },
    maxLoaded: o.maxLoaded ?? 0,
    roomWaitMs: o.roomWaitMs ?? 2000,
    hostProblem: o.hostProblem,
    async plan(spec) {
      h.plans++;
      await Bun.sleep(1);
      if (h.broken.has(spec.name)) throw new Error("broken file");
      return o.bytes?.[spec.name] ?? 10;
    },
    async load(spec) {
      await (h.gate ?? Bun.sleep(2));
      const s = spec.settings;
      const engine = new CheckedEngine({ slots: s.parallel, slotContextSize: s.ctxSize, batchSize: s.batchSize, decodeDelayMs: o.decodeDelayMs ?? 1, reply: o.reply?.(spec.name) ?? `I am ${spec.name}.` });
      (engine.info as { name: string }).name = spec.name;
      const scheduler = new Scheduler({ engine, maxQueue: s.maxQueue });
      h.loads.push(spec.name);
      h.engines.set(spec.name, engine);
      return {
        scheduler,
        async dispose() {
          const view = h.registry.find(spec.name);
          const stats = scheduler.stats();
          if (view.holds > 0) h.violations.push(`${spec.name} freed with ${view.holds} holds`);
          if (stats.busySlots > 0 || stats.queueDepth > 0) h.violations.push(`${spec.name} freed with work in its scheduler`);
          await engine.dispose();
          h.disposed.push(spec.name);
        },
      };
    },
  });
  return h;
}

/** Status of every model, by name. */
export const statuses = (h: Harness): Record<string, string> => Object.fromEntries(h.registry.list(false).map((v) => [v.name, v.status]));
