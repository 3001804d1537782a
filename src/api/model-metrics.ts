// Metrics by model, for a server with a model registry: one series per catalogue model, labelled
// `model` (names come from the catalogue, so the label's values are bounded by it). Read at scrape
// time like the scheduler's own, so serving pays nothing for them.
import { Counter, Gauge, type Registry } from "prom-client";
import type { ModelRegistry, ModelView } from "../inference/registry.ts";

const REASONS = ["room", "idle", "request"] as const;

export function modelMetrics(registry: Registry, models: () => ModelRegistry | undefined): void {
  const views = (): ModelView[] => models()?.list(false) ?? [];
  const family = (kind: "gauge" | "counter", name: string, help: string, read: (v: ModelView) => number) => {
    const Metric = kind === "gauge" ? Gauge : Counter;
    new Metric({
      name,
      help,
      labelNames: ["model"],
      registers: [registry],
      collect(this: Gauge | Counter) {
        this.reset();
        for (const v of views()) {
          if (this instanceof Gauge) this.set({ model: v.name }, read(v));
          else this.inc({ model: v.name }, read(v));
        }
      },
    });
  };
  family("gauge", "warren_model_loaded", "1 while the model is loaded, else 0", (v) => (v.status === "loaded" ? 1 : 0));
  family("gauge", "warren_model_failed", "1 while the model's last load failed, else 0", (v) => (v.status === "failed" ? 1 : 0));
  family("gauge", "warren_model_memory_bytes", "Memory counted against the budget for the model (weights + KV cache), while loading or loaded", (v) => v.bytes);
  family("gauge", "warren_model_in_flight", "Requests holding the model: waiting for its load, running or streaming", (v) => v.holds);
  family("gauge", "warren_model_slots_busy", "The model's slots running a request", (v) => v.totals.scheduler.busySlots);
  family("gauge", "warren_model_queue_depth", "Requests waiting for one of the model's slots", (v) => v.totals.scheduler.queueDepth);
  family("counter", "warren_model_prompt_tokens_total", "Prompt tokens of requests the model admitted", (v) => v.totals.scheduler.promptTokens);
  family("counter", "warren_model_generated_tokens_total", "Tokens the model generated", (v) => v.totals.scheduler.generatedTokens);
  family("counter", "warren_model_loads_total", "Loads of the model that succeeded", (v) => v.totals.loads);
  family("counter", "warren_model_load_seconds_total", "Time those loads took, from the request to ready", (v) => v.totals.loadMs / 1000);
  family("counter", "warren_model_load_failures_total", "Loads of the model that failed (file, engine or memory budget)", (v) => v.totals.failures);
  new Counter({
    name: "warren_model_evictions_total",
    help: "Unloads of the model, by reason: room (for another model), idle (keep-alive ran out), request (POST /models/unload)",
    labelNames: ["model", "reason"],
    registers: [registry],
    collect() {
      this.reset();
      for (const v of views()) for (const reason of REASONS) this.inc({ model: v.name, reason }, v.totals.unloads[reason]);
    },
  });
  new Gauge({
    name: "warren_models_memory_budget_bytes",
    help: "Memory all loaded models together may take (--memory-share of what was available at start)",
    registers: [registry],
    collect() {
      this.set(models()?.budgetBytes ?? 0);
    },
  });
}
