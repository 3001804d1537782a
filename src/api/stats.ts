// GET /v1/stats: the numbers of /metrics as one JSON object, for the web console's dashboard and
// for scripts that would rather not parse Prometheus text. Both read the same registry, so every
// number here is the one its /metrics line shows at the same moment. Counters are totals since
// start; rates and percentiles over a window are the reader's to compute from two readings
// (uptime_s dates each reading on the server's clock).
import { Elysia } from "elysia";
import type { Metrics } from "./metrics.ts";
import type { ApiDeps } from "./state.ts";

type Labels = Partial<Record<string, string | number>>;
interface Sample {
  value: number;
  labels: Labels;
  metricName?: string;
}

/** A Prometheus histogram: cumulative counts at each finite upper bound; `count` is the +Inf bucket. */
interface Histogram {
  bounds: number[];
  cumulative: number[];
  sum: number;
  count: number;
}

function histogram(samples: readonly Sample[], name: string): Histogram {
  const h: Histogram = { bounds: [], cumulative: [], sum: 0, count: 0 };
  for (const s of samples) {
    if (s.metricName === `${name}_sum`) h.sum = s.value;
    else if (s.metricName === `${name}_count`) h.count = s.value;
    else if (s.metricName === `${name}_bucket` && s.labels.le !== "+Inf") {
      h.bounds.push(Number(s.labels.le));
      h.cumulative.push(s.value);
    }
  }
  return h;
}

/** Reads one registry snapshot by metric name. */
function reader(metrics: Array<{ name: string; values: Sample[] }>) {
  const byName = new Map(metrics.map((m) => [m.name, m.values]));
  const samples = (name: string): Sample[] => byName.get(name) ?? [];
  return {
    samples,
    /** The unlabelled value, or null for a metric this server does not have. */
    value: (name: string): number | null => samples(name)[0]?.value ?? null,
    /** label value -> sample value, for a metric with one label. */
    byLabel: (name: string, label: string): Record<string, number> => Object.fromEntries(samples(name).map((s) => [String(s.labels[label]), s.value])),
  };
}

async function snapshot(metrics: Metrics, deps: ApiDeps) {
  const r = reader((await metrics.registry.getMetricsAsJSON()) as Array<{ name: string; values: Sample[] }>);
  const n = (name: string): number => r.value(name) ?? 0;
  return {
    object: "stats" as const,
    uptime_s: performance.now() / 1000,
    model: deps.state.modelName ?? null,
    ready: n("warren_model_ready") === 1,
    slots: { total: n("warren_slots"), busy: n("warren_slots_busy"), paused: n("warren_slots_paused") },
    queue_depth: n("warren_queue_depth"),
    threads: n("warren_threads"),
    open_connections: r.value("warren_open_connections"),
    tokens: { prompt: n("warren_prompt_tokens_total"), prompt_cached: n("warren_prompt_tokens_cached_total"), generated: n("warren_generated_tokens_total") },
    decode: { calls: n("warren_decode_calls_total"), tokens: n("warren_decoded_tokens_total"), seconds: n("warren_decode_seconds_total") },
    requests: {
      answered: r.samples("warren_http_requests_total").map((s) => ({ route: String(s.labels.route), status: Number(s.labels.status), count: s.value })),
      finished: r.byLabel("warren_requests_finished_total", "reason"),
      rejected: n("warren_requests_rejected_total"),
    },
    latency: {
      time_to_first_token_seconds: histogram(r.samples("warren_time_to_first_token_seconds"), "warren_time_to_first_token_seconds"),
      inter_token_latency_seconds: histogram(r.samples("warren_inter_token_latency_seconds"), "warren_inter_token_latency_seconds"),
    },
    embedding: { inputs: n("warren_embedding_inputs_total"), tokens: n("warren_embedding_tokens_total"), queue_depth: n("warren_embedding_queue_depth") },
    memory: { resident_bytes: n("process_resident_memory_bytes") },
  };
}

export function statsRoutes(metrics: Metrics, deps: ApiDeps) {
  return new Elysia({ name: "stats" }).get(
    "/v1/stats",
    async () => {
      metrics.watch(deps.state.scheduler);
      return await snapshot(metrics, deps);
    },
    { detail: { summary: "The /metrics numbers as JSON (what the web console's dashboard reads)", tags: ["operations"] } },
  );
}
