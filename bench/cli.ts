// The project's own benchmarks, run from a source checkout: `bun bench/cli.ts http|fuzz|soak`.
// They are not part of warren (the load tool users run is `warren bench load`, in src/loadtest/).
// Exit codes: 0 done; 1 the run failed (a finding, RSS growth, a contender failed to start);
// 2 bad arguments (usage errors never print a stack trace).

import { ArgError, formatFlagHelp } from "../src/cli/args.ts";
import { shellJoin } from "../src/cli/format.ts";
import { processIo, type Io } from "../src/cli/io.ts";
import { FUZZ_FLAGS, runFuzzCommand } from "./fuzz/command.ts";
import { HTTP_FLAGS, runHttpCommand } from "./http/command.ts";
import { SOAK_FLAGS, runSoakCommand } from "./soak/command.ts";

/** How the commands name themselves in usage, errors and reports. */
const BENCH_CLI = "bun bench/cli.ts";

function usage(): string {
  return `Usage: ${BENCH_CLI} <command> [options]

Commands:
  http    compare HTTP layers on GET /health: warren serve as shipped, Elysia on Bun.serve,
          bare Bun.serve, node:http (each started by the tool on 127.0.0.1)
  fuzz    fuzz the HTTP parser (in process) and live servers with mutated request streams
  soak    many mixed requests against one warren serve; fails on any error or RSS growth

${BENCH_CLI} http [options]
${formatFlagHelp(HTTP_FLAGS)}

${BENCH_CLI} fuzz [options]
${formatFlagHelp(FUZZ_FLAGS)}

${BENCH_CLI} soak [options]
${formatFlagHelp(SOAK_FLAGS)}

Exit codes: 0 done, 1 run failed (a finding, RSS growth, no contender could run), 2 bad arguments.
The load tool is part of warren: warren bench load --help (bun src/main.ts bench load --help).
`;
}

export async function runBenchCli(argv: string[], io: Io = processIo): Promise<number> {
  const [cmd, ...rest] = argv;
  const commandLine = shellJoin([...BENCH_CLI.split(" "), ...argv]);
  try {
    if (cmd === undefined || cmd === "help" || cmd === "--help" || cmd === "-h") {
      io.out(usage());
      return cmd === undefined ? 2 : 0;
    }
    if (rest.includes("--help") || rest.includes("-h")) {
      io.out(usage());
      return 0;
    }
    if (cmd === "http") return await runHttpCommand(rest, io, commandLine);
    if (cmd === "fuzz") return await runFuzzCommand(rest, io, commandLine);
    if (cmd === "soak") return await runSoakCommand(rest, io, commandLine);
    const load = cmd === "load" || cmd === "stub" ? `; the load tool is 'warren bench ${cmd}'` : "";
    throw new ArgError(`unknown command "${cmd}" (expected http, fuzz or soak${load})`);
  } catch (e) {
    if (e instanceof ArgError) {
      io.err(`${BENCH_CLI}: ${e.message}\nRun '${BENCH_CLI} --help' for usage.\n`);
      return 2;
    }
    // Anything else is a bug or an environment problem: one line, not a stack trace.
    io.err(`${BENCH_CLI}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

if (import.meta.main) {
  process.exit(await runBenchCli(process.argv.slice(2)));
}
