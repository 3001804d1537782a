// Download progress: on a terminal, one bar redrawn in place (bytes, rate, time left); elsewhere
// (CI logs, pipes, the server's log) a plain line at each tenth and at least every few seconds.

export interface ProgressSink {
  /** A terminal: redraw one line with \r instead of printing lines. */
  readonly tty: boolean;
  write(text: string): void;
}

/** A bar redraw costs a write; ipull reports progress many times a second. */
const TTY_REDRAW_MS = 100;
/** Plain lines come at each tenth, and at least this often while a download is slow. */
const PLAIN_EVERY_MS = 10_000;
const BAR_WIDTH = 24;

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[u]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const [big, small, unit] = s < 3600 ? [Math.floor(s / 60), s % 60, ["min", "s"]] : [Math.floor(s / 3600), Math.floor((s % 3600) / 60), ["h", "min"]];
  return small > 0 ? `${big} ${unit[0]} ${small} ${unit[1]}` : `${big} ${unit[0]}`;
}

export class PullProgress {
  private readonly t0: number;
  /** Bytes already there when this run started (a resumed download): not part of the rate. */
  private base: number | undefined;
  private lastDraw = -Infinity;
  private lastTenth = -1;
  private drewBar = false;

  constructor(
    private readonly sink: ProgressSink,
    private readonly label: string,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.t0 = now();
  }

  update(done: number, total: number): void {
    this.base ??= done;
    const t = this.now();
    if (this.sink.tty) {
      if (t - this.lastDraw >= TTY_REDRAW_MS) this.bar(done, total, t);
      return;
    }
    const tenth = total > 0 ? Math.floor((done * 10) / total) : -1;
    if (tenth > this.lastTenth || t - this.lastDraw >= PLAIN_EVERY_MS) {
      this.lastTenth = Math.max(this.lastTenth, tenth);
      this.lastDraw = t;
      this.sink.write(`${this.label}: ${this.line(done, total, t)}\n`);
    }
  }

  /** The final state; on a terminal it also ends the bar's line. */
  finish(done: number, total: number): void {
    const t = this.now();
    if (this.sink.tty) {
      this.bar(done, total, t);
      this.sink.write("\n");
    } else if (this.lastTenth < 10) {
      this.sink.write(`${this.label}: ${this.line(done, total, t)}\n`);
    }
  }

  /** Ends a bar left mid-line, so an error message starts on its own line. */
  abandon(): void {
    if (this.sink.tty && this.drewBar) this.sink.write("\n");
  }

  private bar(done: number, total: number, t: number): void {
    this.lastDraw = t;
    this.drewBar = true;
    const frac = total > 0 ? Math.min(1, done / total) : 0;
    const filled = Math.round(frac * BAR_WIDTH);
    // \x1b[K clears what a longer previous line left behind.
    this.sink.write(`\r${this.label} [${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ${this.line(done, total, t)}\x1b[K`);
  }

  /** "45% (12.3 MiB of 27.4 MiB), 6.1 MiB/s, 3 s left". */
  line(done: number, total: number, t: number = this.now()): string {
    const secs = (t - this.t0) / 1000;
    const rate = secs > 0 ? (done - (this.base ?? done)) / secs : 0;
    const parts = total > 0 ? [`${Math.floor((done * 100) / total)}% (${formatBytes(done)} of ${formatBytes(total)})`] : [formatBytes(done)];
    parts.push(`${formatBytes(Math.round(rate))}/s`);
    if (total > 0 && done < total) parts.push(rate > 0 ? `${formatDuration((total - done) / rate)} left` : "time left unknown");
    return parts.join(", ");
  }
}
