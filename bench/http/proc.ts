// Child processes for `bench http`: CPU pinning, fd limits, /proc accounting, first-line handshakes.

import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import type { Subprocess } from "bun";

export interface Placement {
  /** CPU to pin to with taskset, or null to leave scheduling alone. */
  readonly cpu: number | null;
  /** Raise the soft open-files limit to this (capped at the hard limit) before exec. */
  readonly nofile: number | null;
}

/**
 * Pinning needs taskset and two CPUs this process may use: server on CPU 0, load on CPU 1, so the
 * two never compete for one core and the server's CPU time is its own.
 */
export function pinningAvailable(): boolean {
  if (cpus().length < 2 || !Bun.which("taskset")) return false;
  return Bun.spawnSync(["taskset", "-c", "1", "true"]).exitCode === 0 && Bun.spawnSync(["taskset", "-c", "0", "true"]).exitCode === 0;
}

/** Wraps argv in `sh -c 'ulimit -n ...; exec taskset -c CPU ...'`; exec keeps the PID, so /proc/PID is the server. */
export function placed(argv: readonly string[], p: Placement): string[] {
  let cmd = [...argv];
  if (p.cpu !== null) cmd = ["taskset", "-c", String(p.cpu), ...cmd];
  if (p.nofile !== null) {
    const script = 'ulimit -n "$0" 2>/dev/null || ulimit -n "$(ulimit -H -n)" 2>/dev/null; exec "$@"';
    cmd = ["sh", "-c", script, String(p.nofile), ...cmd];
  }
  return cmd;
}

export function hardNofileLimit(): number | null {
  const r = Bun.spawnSync(["sh", "-c", "ulimit -H -n"]);
  const s = r.stdout.toString().trim();
  if (s === "unlimited") return Number.MAX_SAFE_INTEGER;
  const n = Number(s);
  return Number.isFinite(n) && n > 0 ? n : null;
}

let clkTck: number | null = null;

/** utime + stime of a process in seconds, from /proc/PID/stat (fields 14 and 15, in clock ticks). */
export function cpuSeconds(pid: number): number {
  clkTck ??= Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may contain spaces and parentheses: split after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / clkTck;
}

/** Resident set size in bytes, from VmRSS in /proc/PID/status. */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Line reader over a child's stdout: servers print their port first, helpers print JSON lines. */
export class LineReader {
  private buf = "";
  private readonly lines: string[] = [];
  private waiter: ((line: string | null) => void) | null = null;
  private ended = false;

  constructor(stream: ReadableStream<Uint8Array>) {
    void this.pump(stream);
  }

  private async pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const dec = new TextDecoder();
    try {
      for await (const chunk of stream) {
        this.buf += dec.decode(chunk, { stream: true });
        let nl;
        while ((nl = this.buf.indexOf("\n")) >= 0) {
          this.deliver(this.buf.slice(0, nl));
          this.buf = this.buf.slice(nl + 1);
        }
      }
    } catch {
      // the child went away; treated as end of output
    }
    this.ended = true;
    this.waiter?.(null);
    this.waiter = null;
  }

  private deliver(line: string): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(line);
    } else this.lines.push(line);
  }

  /** Next line, or null at end of output or after timeoutMs. */
  next(timeoutMs: number): Promise<string | null> {
    const ready = this.lines.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        resolve(null);
      }, timeoutMs);
      this.waiter = (line) => {
        clearTimeout(timer);
        resolve(line);
      };
    });
  }
}

export async function stopChild(proc: Subprocess, graceMs = 2_000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill("SIGTERM");
  const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(graceMs).then(() => false)]);
  if (!exited) {
    proc.kill("SIGKILL");
    await proc.exited;
  }
}

export async function stderrText(proc: Subprocess): Promise<string> {
  const s = proc.stderr;
  if (!s || typeof s === "number") return "";
  return (await new Response(s as ReadableStream<Uint8Array>).text()).trim();
}
