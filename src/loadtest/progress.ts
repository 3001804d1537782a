// Progress on stderr: a live bar redrawn in place on a terminal, plain lines otherwise
// (CI logs and pipes must not fill with carriage returns).

import type { Io } from "../cli/io.ts";

interface ProgressCounts {
  readonly done: number;
  readonly failed: number;
  readonly inFlight: number;
}

/** Redraws are throttled: a fast run completes thousands of requests a second. */
const TTY_REDRAW_MS = 100;
/** Plain mode prints at each tenth of the run, and at least this often while it is slow. */
const PLAIN_EVERY_MS = 5_000;
const BAR_WIDTH = 30;

export class Progress {
  private lastDraw = 0;
  private lastTenth = 0;
  private finished = false;
  private readonly t0: number;

  constructor(
    private readonly io: Io,
    private readonly total: number,
    private readonly label: string,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.t0 = now();
    this.lastDraw = this.t0;
  }

  update(c: ProgressCounts): void {
    if (this.finished) return;
    const t = this.now();
    if (this.io.errIsTTY) {
      if (t - this.lastDraw >= TTY_REDRAW_MS || c.done === this.total) this.drawBar(c, t);
      return;
    }
    const tenth = Math.floor((c.done * 10) / Math.max(1, this.total));
    if (tenth > this.lastTenth || t - this.lastDraw >= PLAIN_EVERY_MS) {
      this.lastTenth = tenth;
      this.lastDraw = t;
      this.io.err(`${this.label}: ${this.line(c, t)}\n`);
    }
  }

  /** Ends the bar's line so the report starts on a clean one. */
  finish(c: ProgressCounts): void {
    if (this.finished) return;
    const t = this.now();
    if (this.io.errIsTTY) {
      this.drawBar(c, t);
      this.io.err("\n");
    } else if (this.lastTenth < 10) {
      this.io.err(`${this.label}: ${this.line(c, t)}\n`);
    }
    this.finished = true;
  }

  private drawBar(c: ProgressCounts, t: number): void {
    this.lastDraw = t;
    const frac = Math.min(1, c.done / Math.max(1, this.total));
    const filled = Math.round(frac * BAR_WIDTH);
    const bar = "#".repeat(filled) + "-".repeat(BAR_WIDTH - filled);
    // \x1b[K clears what a longer previous line left behind.
    this.io.err(`\r${this.label} [${bar}] ${this.line(c, t)}\x1b[K`);
  }

  private line(c: ProgressCounts, t: number): string {
    const s = (t - this.t0) / 1000;
    const rate = s > 0 ? c.done / s : 0;
    return `${c.done}/${this.total} done, ${c.failed} failed, ${c.inFlight} in flight, ${rate.toFixed(1)} req/s, ${s.toFixed(1)} s`;
  }
}
