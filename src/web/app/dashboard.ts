// The dashboard: /v1/stats read every second (the same numbers as /metrics, as JSON), kept for the
// last minutes in the page, and drawn as small charts. Readings go on while another tab is shown,
// so the charts have their history when the dashboard is opened; they pause while the browser
// tab is hidden. Each reading is one request in the server's access log.
import type { Api } from "./api.ts";
import { Chart, type ChartSpec } from "./chart.ts";
import { byId } from "./dom.ts";
import { PERCENTILE_WINDOW_S, pointAt, type Point, type Stats } from "./series.ts";

const POLL_MS = 1000;
/** How far back the charts reach, in seconds; until that much is read, they span what there is (in steps of 30 s). */
const SPAN_S = 300;
const MIN_SPAN_S = 30;

const BLUE = "#2563eb";
const ORANGE = "#ea580c";
const RED = "#dc2626";

const CHARTS: ChartSpec[] = [
  { id: "slots", title: "Slots", unit: "busy / paused", series: [{ key: "busy", label: "busy", color: BLUE }, { key: "paused", label: "paused", color: ORANGE }] },
  { id: "queue", title: "Queue depth", unit: "requests waiting", series: [{ key: "queue", label: "waiting", color: BLUE }] },
  { id: "tokens", title: "Generation", unit: "tokens/s", series: [{ key: "tokens", label: "tokens/s", color: BLUE }], digits: 1 },
  { id: "ttft", title: "Time to first token", unit: `ms over ${PERCENTILE_WINDOW_S} s`, series: [{ key: "ttft50", label: "p50", color: BLUE }, { key: "ttft95", label: "p95", color: ORANGE }], digits: 1 },
  { id: "itl", title: "Inter-token latency", unit: `ms over ${PERCENTILE_WINDOW_S} s`, series: [{ key: "itl50", label: "p50", color: BLUE }, { key: "itl95", label: "p95", color: ORANGE }], digits: 2 },
  { id: "connections", title: "Open connections", unit: "", series: [{ key: "connections", label: "open", color: BLUE }] },
  {
    id: "requests",
    title: "Requests by status",
    unit: "per s, not counting the console's",
    series: [{ key: "2xx", label: "2xx", color: BLUE }, { key: "4xx", label: "4xx", color: ORANGE }, { key: "5xx", label: "5xx", color: RED }],
    digits: 1,
  },
  { id: "memory", title: "Memory", unit: "MiB resident", series: [{ key: "memory", label: "RSS", color: BLUE }], digits: 1 },
];

export class Dashboard {
  private readonly readings: Stats[] = [];
  private readonly points: Point[] = [];
  private readonly charts = CHARTS.map((spec) => new Chart(spec));
  private visible = false;

  constructor(
    private readonly api: Api,
    /** Each reading (or the error that took its place), for the page's status line. */
    private readonly onReading: (s: Stats | undefined, error?: string) => void,
  ) {
    byId("dash-charts", HTMLDivElement).append(...this.charts.map((c) => c.el));
    window.addEventListener("resize", () => this.draw());
  }

  start(): void {
    const tick = async () => {
      if (!document.hidden) await this.poll();
      setTimeout(tick, POLL_MS);
    };
    void tick();
  }

  show(visible: boolean): void {
    this.visible = visible;
    this.draw();
  }

  private async poll(): Promise<void> {
    let s: Stats;
    try {
      s = await this.api.getJson<Stats>("/v1/stats");
    } catch (err) {
      this.onReading(undefined, (err as Error).message);
      return;
    }
    const prev = this.readings[this.readings.length - 1];
    const windowStart = this.readings.find((r) => r.uptime_s >= s.uptime_s - PERCENTILE_WINDOW_S) ?? prev;
    this.readings.push(s);
    this.points.push(pointAt(s, prev, windowStart));
    while (this.readings.length > 0 && this.readings[0]!.uptime_s < s.uptime_s - SPAN_S) this.readings.shift();
    while (this.points.length > 0 && this.points[0]!.t < s.uptime_s - SPAN_S) this.points.shift();
    this.onReading(s);
    this.draw();
  }

  private draw(): void {
    if (!this.visible) return;
    const first = this.points[0];
    const last = this.points[this.points.length - 1];
    const span = first && last ? Math.min(SPAN_S, Math.max(MIN_SPAN_S, Math.ceil((last.t - first.t) / MIN_SPAN_S) * MIN_SPAN_S)) : MIN_SPAN_S;
    for (const c of this.charts) c.draw(this.points, span);
  }
}
