// A small line chart on a canvas: a few series over the last minutes, a y axis from 0 to a round
// number, gaps where a value is missing, and the latest values as text above it (which the
// browser tests read through data-value).
import { h } from "./dom.ts";
import type { Point } from "./series.ts";

interface SeriesSpec {
  key: string;
  label: string;
  color: string;
}

export interface ChartSpec {
  id: string;
  title: string;
  unit: string;
  series: SeriesSpec[];
  digits?: number;
}

const HEIGHT_PX = 110;
const PAD = { left: 40, right: 8, top: 8, bottom: 16 };

/** The smallest 1, 2 or 5 times a power of ten at or above `v` (at least `floor`). */
function niceMax(v: number, floor: number): number {
  const x = Math.max(v, floor);
  const p = 10 ** Math.floor(Math.log10(x));
  return [1, 2, 5, 10].map((m) => m * p).find((c) => c >= x) ?? 10 * p;
}

export class Chart {
  readonly el: HTMLElement;
  private readonly canvas = h("canvas", { height: HEIGHT_PX });
  private readonly values = new Map<string, HTMLSpanElement>();

  constructor(private readonly spec: ChartSpec) {
    const legend = spec.series.map((s) => {
      const v = h("span", { class: "value", "data-series": s.key }, "–");
      this.values.set(s.key, v);
      return h("span", { class: "legend" }, h("i", { class: "swatch", "data-color": s.color }), `${s.label} `, v);
    });
    this.el = h("section", { class: "chart", "data-metric": spec.id }, h("header", {}, h("h3", {}, spec.title, h("small", {}, spec.unit)), h("div", { class: "legends" }, ...legend)), this.canvas);
    // Swatch colours are set through CSSOM: the CSP forbids style attributes in markup, not this.
    for (const [i, s] of spec.series.entries()) (legend[i]!.firstChild as HTMLElement).style.background = s.color;
  }

  /** Redraws with `points` (oldest first) over the `spanS` seconds ending at the last one. */
  draw(points: readonly Point[], spanS: number): void {
    const latest = points[points.length - 1];
    for (const s of this.spec.series) {
      const v = latest?.[s.key] ?? null;
      const span = this.values.get(s.key)!;
      span.textContent = v === null ? "–" : v.toFixed(this.spec.digits ?? 0);
      span.dataset.value = v === null ? "" : String(v);
    }
    const dpr = window.devicePixelRatio || 1;
    const width = this.canvas.clientWidth || 300;
    this.canvas.width = Math.round(width * dpr);
    this.canvas.height = Math.round(HEIGHT_PX * dpr);
    const ctx = this.canvas.getContext("2d");
    if (!ctx || !latest) return;
    ctx.scale(dpr, dpr);
    const tEnd = latest.t;
    const shown = points.filter((p) => p.t >= tEnd - spanS);
    const top = niceMax(Math.max(0, ...shown.flatMap((p) => this.spec.series.map((s) => p[s.key] ?? 0))), 1);
    const x = (t: number) => PAD.left + ((t - (tEnd - spanS)) / spanS) * (width - PAD.left - PAD.right);
    const y = (v: number) => PAD.top + (1 - v / top) * (HEIGHT_PX - PAD.top - PAD.bottom);
    this.grid(ctx, width, top, y, spanS);
    for (const s of this.spec.series) {
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 1.5;
      ctx.fillStyle = s.color;
      ctx.beginPath();
      shown.forEach((p, i) => {
        const v = p[s.key];
        if (v === null || v === undefined) return;
        const before = shown[i - 1]?.[s.key];
        const after = shown[i + 1]?.[s.key];
        if (before === null || before === undefined) {
          ctx.moveTo(x(p.t), y(v));
          // A value with gaps on both sides would be a line of no length: a dot shows it.
          if (after === null || after === undefined) ctx.fillRect(x(p.t) - 1.5, y(v) - 1.5, 3, 3);
        } else {
          ctx.lineTo(x(p.t), y(v));
        }
      });
      ctx.stroke();
    }
  }

  private grid(ctx: CanvasRenderingContext2D, width: number, top: number, y: (v: number) => number, spanS: number): void {
    ctx.font = "10px system-ui, sans-serif";
    ctx.fillStyle = "#6b7280";
    ctx.strokeStyle = "#e5e7eb";
    ctx.lineWidth = 1;
    for (const f of [0, 0.5, 1]) {
      const v = top * f;
      ctx.beginPath();
      ctx.moveTo(PAD.left, Math.round(y(v)) + 0.5);
      ctx.lineTo(width - PAD.right, Math.round(y(v)) + 0.5);
      ctx.stroke();
      ctx.fillText(v >= 1000 ? `${v / 1000}k` : String(+v.toPrecision(3)), 4, y(v) + 3);
    }
    ctx.fillText(spanS >= 120 ? `−${Math.round(spanS / 60)} min` : `−${Math.round(spanS)} s`, PAD.left, HEIGHT_PX - 3);
    ctx.fillText("now", width - PAD.right - 18, HEIGHT_PX - 3);
  }
}
