// What machine a result came from, for reports that will be pasted next to other machines' numbers.

import { readFileSync } from "node:fs";
import { cpus, release } from "node:os";

export interface MachineInfo {
  readonly cores: number;
  readonly cpuModel: string;
  readonly kernel: string;
  readonly bun: string;
  readonly node: string | null;
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (m) return m[1]!.trim();
  } catch {
    // not Linux: fall back to what the runtime says
  }
  return cpus()[0]?.model ?? "unknown CPU";
}

function nodeVersion(): string | null {
  const node = Bun.which("node");
  if (!node) return null;
  const r = Bun.spawnSync([node, "--version"]);
  return r.exitCode === 0 ? r.stdout.toString().trim() : null;
}

export function machineInfo(): MachineInfo {
  return { cores: cpus().length, cpuModel: cpuModel(), kernel: `Linux ${release()}`, bun: Bun.version, node: nodeVersion() };
}

export function describeMachine(m: MachineInfo): string {
  return `${m.cores} cores, ${m.cpuModel}, ${m.kernel}, Bun ${m.bun}, Node ${m.node ?? "not installed"}`;
}
