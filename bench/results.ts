// Regenerates bench/RESULTS.md in one command: runs every benchmark in turn and writes its output,
// with the command that produced it, under a header naming the date and the machine.
//   bun bench/results.ts [--out bench/RESULTS.md] [--quick]
// --quick shortens every run (fewer rounds) for a smoke check of the pipeline; its numbers are noisier.
import { spawn } from "bun";
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { describeMachine, machineInfo } from "./lib/machine.ts";

const ROOT = resolve(import.meta.dir, "..");
const { values } = parseArgs({ options: { out: { type: "string", default: resolve(ROOT, "bench/RESULTS.md") }, quick: { type: "boolean", default: false } } });
const quick = values.quick!;
const bun = process.execPath;

interface Section {
  title: string;
  /** Command as written in the report (relative to the repo root). */
  cmd: string[];
  /** What the numbers mean and the target they answer. */
  about: string;
  /** Only lines that belong in the report (tables, notes); everything when absent. */
  keep?: (line: string) => boolean;
}

const tableLines = (l: string) => l.startsWith("|") || l.startsWith("- ") || l.startsWith("### ");

const sections: Section[] = [
  {
    title: "HTTP layer: GET /health",
    cmd: ["bench/cli.ts", "http", "--rounds", quick ? "1" : "3", "--duration", quick ? "1" : "3", "--markdown", ...(quick ? ["--idle-connections", "1000"] : [])],
    about: "Targets (requests per server CPU-second vs Elysia on Bun.serve): plain keep-alive >= 1.0x, pipelined x16 >= 3x; <= 3 KB RSS per idle keep-alive connection. The Warren row is the shipped server: `warren serve` with its default flags (access log on, to a file) and --keep-alive-timeout-ms 240000 for the idle-memory figure. Two harness rows are not the product: Warren's engine with a one-route Elysia app (no access log), and Warren's engine with bare Bun.serve's handler (the transports alone).",
    keep: tableLines,
  },
  {
    title: "Inference scheduler over HTTP vs a naive node-llama-cpp loop",
    cmd: ["bench/scheduler/run.ts", "--rounds", quick ? "1" : "5"],
    about:
      "stories260K, 1 thread, 128 tokens per request (EOS ignored). Warren: `warren serve --threads 1 --parallel 8 --ctx-per-slot 512` (access log on), streaming /generate over real sockets, client in the bench process. Naive: node-llama-cpp in-process, one sequence per request. " +
      "Decode ceiling: the engine's batched decode in a bare lockstep loop in-process (no scheduler, no HTTP, no client), the most any server on this llama.cpp build can get. Target: >= 1.35x the naive loop at 8 concurrent.",
    keep: tableLines,
  },
  {
    title: "Against llama-server: stories260K, 1 thread",
    cmd: ["bench/llama-server.ts", "--no-build", "--rounds", quick ? "1" : "3", "--variant=--engine binding", "--variant=--cpus 0", ...(quick ? ["--requests", "64", "--warmup", "8"] : [])],
    about:
      "`warren serve --threads 1 --parallel 8 --ctx-per-slot 512` (default logging) against llama-server built from the llama.cpp source node-llama-cpp bundles (`-t 1 -np 8 -c 4096`), each started afresh per round, loaded by `warren bench load --api openai` (streaming /v1/completions, fresh connection per request, 128 tokens, EOS ignored) after the same warm-up. Targets: >= 1.0x llama-server's aggregate tok/s at 8 streams, inter-token p99 no worse. Two more rows of the same server, in the same rotation: `warren --engine binding` (node-llama-cpp's binding drives llama.cpp instead of its C API; docs/operations.md, Engine) and `warren --cpus 0` (confined to one CPU, an opt-in flag; docs/operations.md, Threads). Skipped, saying so, until llama-server is built (`bun bench/llama-server.ts --build-only`).",
    keep: tableLines,
  },
  {
    title: "Against llama-server: the 100M bench preset, 2 threads",
    cmd: ["bench/llama-server.ts", "--no-build", "--model", "bench", "--threads", "2", "--requests", quick ? "16" : "32", "--warmup", "8", "--max-tokens", "64", "--rounds", quick ? "1" : "3", "--variant=--engine binding"],
    about: "As above with `warren serve --model models/bench.gguf --threads 2 --parallel 8 --ctx-per-slot 512` against llama-server's `-t 2 -np 8 -c 4096`: the generated 100M preset (Q8_0) at 2 threads, the count `--threads auto` picks for it on 2 cores; the row `warren --engine binding` as above.",
    keep: tableLines,
  },
  {
    title: "The decode loop: node-llama-cpp's binding against llama.cpp's C API",
    cmd: ["bench/scheduler/c-api.ts", "--rounds", quick ? "1" : "3"],
    about:
      "The same prebuilt llama.cpp libraries in the same bare lockstep loop (8 streams, greedy, in-process, no scheduler or HTTP), a fresh process per row and round, rows alternated: through node-llama-cpp's binding (LlamaEngine.decode with --engine binding), and through llama.cpp's C API from bun:ffi with the decode and sampling on the calling thread, with and without a ggml thread pool attached. Every row must generate the same tokens. Not the product: the measurement behind --engine c-api.",
    keep: tableLines,
  },
  {
    title: "Batching on a compute-bound model",
    cmd: ["bench/scheduler/batching.ts", "--rounds", quick ? "1" : "3"],
    about:
      "The generated bench preset (100M params, Q8_0), 1 thread, 64 tokens per stream, in-process through the scheduler, and the same engine driven by a bare lockstep decode loop (the ceiling for the ratio). Target: 8 streams >= 1.9x one stream.",
    keep: tableLines,
  },
  {
    title: "Flash attention on vs off (--flash-attention)",
    cmd: ["bench/scheduler/flash-attention.ts", "--rounds", quick ? "1" : "3"],
    about: "The decode ceiling (bench/scheduler/ceiling.ts) at 1 and 8 streams, 1 thread, with flash attention on and off, alternating. `auto` means on for these models.",
    keep: tableLines,
  },
  {
    title: "Seed scenario",
    cmd: ["bench/seed.ts"],
    about: "The seed's benchmark (40 requests, concurrency 8, max_tokens 50, its prompt) against `warren serve --threads 1 --parallel 8` with the generated tiny model.",
  },
  {
    title: "Parser and server fuzzing",
    cmd: ["bench/cli.ts", "fuzz", "--seed", "20261127", ...(quick ? ["--parser-cases", "20000", "--live-connections", "500", "--cli-connections", "200"] : [])],
    about: "Mutated HTTP byte streams into the parser and into live servers; findings become spec-table rows.",
  },
  {
    title: "Soak",
    cmd: ["bench/cli.ts", "soak", ...(quick ? ["--requests", "2000", "--warmup", "500"] : [])],
    about: "Mixed traffic (short, streamed, cancelled, invalid, OpenAI, operations) against one server. Target: no failures except the deliberate ones; RSS after the run within 10% of RSS after the warm-up (the first 2,000 requests).",
  },
];

/** Markdown needs a blank line between a table and the text around it. */
function spaceTables(lines: string[]): string[] {
  const out: string[] = [];
  for (const line of lines) {
    const prev = out[out.length - 1];
    if (prev !== undefined && prev !== "" && prev.startsWith("|") !== line.startsWith("|")) out.push("");
    out.push(line);
  }
  return out;
}

async function run(s: Section): Promise<string> {
  const proc = spawn({ cmd: [bun, ...s.cmd], cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const code = await proc.exited;
  const body = s.keep ? spaceTables(out.split("\n").filter(s.keep)).join("\n") : "```\n" + out.trim() + "\n```";
  const failed = code === 0 ? "" : `\n\n**The command exited ${code}.** Last lines of its stderr:\n\n\`\`\`\n${err.trim().split("\n").slice(-8).join("\n")}\n\`\`\``;
  return `## ${s.title}\n\nCommand: \`bun ${s.cmd.join(" ")}\`\n\n${s.about}\n\n${body}${failed}\n`;
}

const parts: string[] = [];
for (const s of sections) {
  console.error(`running: bun ${s.cmd.join(" ")}`);
  parts.push(await run(s));
}
const header =
  `# Benchmark results\n\nRegenerated by \`bun bench/results.ts${quick ? " --quick" : ""}\` on ${new Date().toISOString().slice(0, 10)}.\n` +
  `Machine: ${describeMachine(machineInfo())}.\n\n` +
  "The machine may be shared and noisy: every table compares contenders measured alternately in the same run, " +
  "with medians and min-max. Numbers from different tables are not comparable.\n\n";
writeFileSync(values.out!, header + parts.join("\n"));
console.error(`wrote ${values.out}`);
