// GET /metrics in Prometheus text format, from a registry of our own (prom-client's global one
// would mix in whatever else shares the process). Scheduler counters are read at scrape time, so
// the hot path pays nothing for them; only the latency histograms are fed per token.
import { Elysia } from "elysia";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Scheduler } from "../inference/scheduler.ts";
import { modelMetrics } from "./model-metrics.ts";
import type { ApiDeps, ServiceState } from "./state.ts";

export interface Metrics {
  readonly registry: Registry;
  /** One answered request; `route` is the route pattern (never the raw path: bounded label values). */
  countRequest(route: string, status: number): void;
  /** Hook the latency histograms onto the scheduler once it exists (it appears after model load). */
  watch(scheduler: Scheduler | undefined): void;
}

/** Route label for requests that matched no route. */
export const UNMATCHED_ROUTE = "unmatched";

const TTFT_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const ITL_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

export function createMetrics(deps: ApiDeps): Metrics {
  const registry = new Registry();
  // With several models, the server's figures are every model's together (unloaded ones' counts kept).
  const stats = () => (deps.state.models ? deps.state.models.totals() : deps.state.scheduler?.stats());
  // Counted here and copied in at scrape time: prom-client hashes the label object on every inc,
  // far dearer than these nested maps, and every request is counted.
  const answered = new Map<string, Map<number, { n: number }>>();
  new Counter({
    name: "warren_http_requests_total",
    help: "HTTP requests answered, by route and status",
    labelNames: ["route", "status"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [route, byStatus] of answered) for (const [status, c] of byStatus) this.inc({ route, status: String(status) }, c.n);
    },
  });
  const gauge = (name: string, help: string, read: () => number | undefined) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read() ?? 0);
      },
    });
  // Totals kept by the scheduler, exposed as counters by copying them in at scrape time.
  const total = (name: string, help: string, read: () => number | undefined) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read() ?? 0);
      },
    });
  gauge("warren_queue_depth", "Requests waiting for a slot", () => stats()?.queueDepth);
  gauge("warren_slots_busy", "Slots running a request", () => stats()?.busySlots);
  gauge("warren_slots", "Slots (parallel sequences)", () => stats()?.slots);
  gauge("warren_threads", "Inference threads (with --threads auto: the count measured best at load)", () => deps.state.scheduler?.engine.threads);
  gauge("warren_slots_paused", "Busy slots not generating because their client is not reading", () => stats()?.pausedSlots);
  gauge("warren_model_ready", "1 once the model is loaded and the server takes requests", () => (deps.state.phase === "ready" ? 1 : 0));
  if (deps.connections) gauge("warren_open_connections", "Open client connections", deps.connections);
  // The name and meaning of prom-client's default process metric (the defaults themselves are not
  // collected: most are Node-specific). Reads /proc/self/statm on Linux: cheap at scrape time.
  gauge("process_resident_memory_bytes", "Resident memory size in bytes", () => process.memoryUsage.rss());
  total("warren_prompt_tokens_total", "Prompt tokens of admitted requests", () => stats()?.promptTokens);
  total("warren_prompt_tokens_cached_total", "Prompt tokens reused from a slot's KV cache", () => stats()?.cachedPromptTokens);
  total("warren_generated_tokens_total", "Tokens generated", () => stats()?.generatedTokens);
  total("warren_decode_calls_total", "Engine decode steps (all busy slots together)", () => stats()?.decodeCalls);
  total("warren_decoded_tokens_total", "Tokens evaluated by decode calls (prompt and generated)", () => stats()?.decodedTokens);
  total("warren_decode_seconds_total", "Time the engine spent on decode steps, sampling included", () => (stats()?.decodeMs ?? 0) / 1000);
  total("warren_slot_copies_total", "Slots given a copy of another slot's prompt cells (the choices of n > 1 requests)", () => stats()?.slotCopies);
  total("warren_slot_copy_seconds_total", "Time spent copying prompt cells between slots", () => (stats()?.copyMs ?? 0) / 1000);
  total("warren_requests_rejected_total", "Requests refused because the queue was full", () => stats()?.rejected);
  const embedding = () => (deps.state.models ? embeddingTotals(deps.state.models) : deps.state.embedder?.stats());
  total("warren_embedding_inputs_total", "Embedding inputs and rerank documents evaluated", () => embedding()?.evaluated);
  total("warren_embedding_tokens_total", "Tokens those evaluations took", () => embedding()?.tokens);
  gauge("warren_embedding_queue_depth", "Embedding inputs and rerank documents accepted and not yet evaluated", () => embedding()?.queued);
  new Counter({
    name: "warren_requests_finished_total",
    help: "Inference requests finished, by reason",
    labelNames: ["reason"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(stats()?.requests ?? {})) this.inc({ reason }, n);
    },
  });
  modelMetrics(registry, () => deps.state.models);
  const ttft = new Histogram({ name: "warren_time_to_first_token_seconds", help: "From taking a slot to the first generated token", buckets: TTFT_BUCKETS_S, registers: [registry] });
  const itl = new Histogram({ name: "warren_inter_token_latency_seconds", help: "Between consecutive generated tokens of one request", buckets: ITL_BUCKETS_S, registers: [registry] });

  const observer = { firstToken: (ms: number) => ttft.observe(ms / 1000), tokenGap: (ms: number) => itl.observe(ms / 1000) };
  deps.state.models?.setObserver(observer);
  let watched: Scheduler | undefined;
  const metrics: Metrics = {
    registry,
    countRequest(route, status) {
      let byStatus = answered.get(route);
      if (byStatus === undefined) answered.set(route, (byStatus = new Map()));
      const c = byStatus.get(status);
      if (c === undefined) byStatus.set(status, { n: 1 });
      else c.n++;
    },
    watch(scheduler) {
      if (!scheduler || scheduler === watched) return;
      watched = scheduler;
      scheduler.setObserver(observer);
    },
  };
  return metrics;
}

/** Every model's embedding counts together; queued: what the loaded ones hold now. */
function embeddingTotals(models: NonNullable<ServiceState["models"]>): { evaluated: number; tokens: number; queued: number } {
  const sum = { evaluated: 0, tokens: 0, queued: 0 };
  for (const v of models.list(false)) {
    sum.evaluated += v.totals.embedding.evaluated;
    sum.tokens += v.totals.embedding.tokens;
    sum.queued += v.embedder?.stats().queued ?? 0;
  }
  return sum;
}

export function metricsRoutes(metrics: Metrics, state: ServiceState) {
  return new Elysia({ name: "metrics" }).get(
    "/metrics",
    async () => {
      metrics.watch(state.scheduler);
      return new Response(await metrics.registry.metrics(), { headers: { "content-type": metrics.registry.contentType } });
    },
    { detail: { summary: "Prometheus metrics", tags: ["operations"] } },
  );
}
