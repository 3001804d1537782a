// `bun bench/cli.ts soak`: the full soak. Starts `warren serve` on the tiny model (or uses
// --url/--pid), sends mixed requests, and fails (exit 1) on any unexpected answer or when RSS at the
// end is more than --max-growth above RSS after the warm-up.
import { getNumber, getString, parseArgs, requireRange, type FlagSpec } from "../../src/cli/args.ts";
import type { Io } from "../../src/cli/io.ts";
import { runSoak } from "./run.ts";
import { spawnWarren } from "./server.ts";

export const SOAK_FLAGS: readonly FlagSpec[] = [
  { name: "requests", type: "int", help: "requests in all (default 20000)" },
  { name: "warmup", type: "int", help: "RSS is compared with RSS after this many requests (default 2000)" },
  { name: "concurrency", type: "int", help: "requests in flight (default 8)" },
  { name: "seed", type: "int", help: "seed of the request mix (default 1)" },
  { name: "max-growth", type: "number", arg: "FRACTION", help: "largest RSS growth after the warm-up that passes (default 0.10)" },
  { name: "parallel", type: "int", help: "--parallel of the started server (default 4)" },
  { name: "model", type: "string", arg: "PATH", help: "model for the started server (default: the tiny generated model)" },
  { name: "url", type: "string", arg: "URL", help: "soak a running server instead of starting one (RSS needs --pid)" },
  { name: "pid", type: "int", help: "pid of the server at --url, for RSS" },
];

const mib = (b: number | undefined) => (b === undefined ? "-" : `${(b / 2 ** 20).toFixed(1)} MiB`);

export async function runSoakCommand(argv: readonly string[], io: Io, commandLine: string): Promise<number> {
  const p = parseArgs(argv, SOAK_FLAGS);
  const requests = requireRange("requests", getNumber(p, "requests") ?? 20_000, 1);
  const warmup = requireRange("warmup", getNumber(p, "warmup") ?? 2000, 0, requests - 1);
  const maxGrowth = getNumber(p, "max-growth") ?? 0.1;
  const url = getString(p, "url");
  const server = url === undefined ? await spawnWarren(["--threads", "1", "--parallel", String(getNumber(p, "parallel") ?? 4)], getString(p, "model")) : undefined;
  try {
    const pid = server?.pid ?? getNumber(p, "pid");
    const sampleEvery = Math.max(1, Math.floor(requests / 50));
    const r = await runSoak({
      url: server?.url ?? url!, pid, requests, warmup, sampleEvery, seed: getNumber(p, "seed") ?? 1,
      concurrency: requireRange("concurrency", getNumber(p, "concurrency") ?? 8, 1, 1024),
      onProgress: (done, rss) => io.err(`  ${done}/${requests} requests, RSS ${mib(rss)}\n`),
    });
    const kinds = Object.entries(r.byKind).map(([k, v]) => `${k} ${v.count}${v.failed ? ` (${v.failed} failed)` : ""}`).join(", ");
    io.out(`${commandLine}\n`);
    io.out(`requests: ${r.requests} in ${(r.ms / 1000).toFixed(1)} s (${(r.requests / (r.ms / 1000)).toFixed(0)}/s): ${kinds}\n`);
    io.out(`failures: ${r.failed}${r.failures.length ? "\n  " + r.failures.join("\n  ") : ""}\n`);
    io.out(`RSS: ${mib(r.rssAfterWarmup)} after ${warmup} requests, ${mib(r.rssEnd)} at the end, ` +
      `growth ${r.rssGrowth === undefined ? "-" : (r.rssGrowth * 100).toFixed(1) + "%"} (limit ${(maxGrowth * 100).toFixed(0)}%)\n`);
    io.out(`RSS samples (requests:MiB): ${r.rss.map(([d, b]) => `${d}:${(b / 2 ** 20).toFixed(0)}`).join(" ")}\n`);
    const grewTooMuch = r.rssGrowth !== undefined && r.rssGrowth > maxGrowth;
    return r.failed > 0 || grewTooMuch ? 1 : 0;
  } finally {
    await server?.stop();
  }
}
