// `warren bench ...`: the load tool (`load`) and the fake generation server to try it on (`stub`).
// src/main.ts passes the arguments after `bench`.
// Exit codes: 0 done; 1 the run could not be done (server unreachable, nothing succeeded, the stub
// cannot listen); 2 bad arguments (usage errors never print a stack trace).

import { ArgError, formatFlagHelp, getNumber, parseArgs, type FlagSpec } from "../cli/args.ts";
import { shellJoin } from "../cli/format.ts";
import { processIo, type Io } from "../cli/io.ts";
import { runLoadCommand } from "./command.ts";
import { LOAD_FLAGS } from "./options.ts";
import { startStub } from "./stub-server.ts";

const STUB_FLAGS: readonly FlagSpec[] = [
  { name: "port", type: "int", help: "port to listen on, 127.0.0.1 only (default 8080; 0 = any free port)" },
  { name: "token-delay-ms", type: "number", arg: "MS", help: "delay before each generated token (default 5)" },
  { name: "eos-after", type: "int", help: "stop after N tokens unless the request says ignore_eos" },
];

/** The project's own benchmarks, once `warren bench` commands; they run from a source checkout. */
const PROJECT_BENCHMARKS = new Set(["http", "fuzz", "soak"]);

function usage(): string {
  return `Usage: warren bench <command> [options]

Commands:
  load    load-test a generation server (Warren's native API or any OpenAI-compatible one)
  stub    serve a fake generation server (native and OpenAI routes) for trying out 'load'

warren bench load [options]
${formatFlagHelp(LOAD_FLAGS)}

warren bench stub [options]
${formatFlagHelp(STUB_FLAGS)}

Exit codes: 0 done, 1 run failed (e.g. server unreachable, no request succeeded), 2 bad arguments.
The project's own benchmarks (http, fuzz, soak) run from a source checkout: bun bench/cli.ts --help
`;
}

export async function runBenchCli(argv: string[], io: Io = processIo): Promise<number> {
  const [cmd, ...rest] = argv;
  const commandLine = shellJoin(["warren", "bench", ...redactSecrets(argv)]);
  try {
    if (cmd === undefined || cmd === "help" || cmd === "--help" || cmd === "-h") {
      io.out(usage());
      return cmd === undefined ? 2 : 0;
    }
    if (PROJECT_BENCHMARKS.has(cmd)) {
      io.err(`warren bench ${cmd}: not part of warren; from a source checkout run: bun bench/cli.ts ${cmd}\n`);
      return 2;
    }
    if (rest.includes("--help") || rest.includes("-h")) {
      io.out(usage());
      return 0;
    }
    if (cmd === "load") return await runLoadCommand(rest, io, commandLine);
    if (cmd === "stub") return await runStub(rest, io);
    throw new ArgError(`unknown command "${cmd}" (expected load or stub)`);
  } catch (e) {
    if (e instanceof ArgError) {
      io.err(`warren bench: ${e.message}\nRun 'warren bench --help' for usage.\n`);
      return 2;
    }
    // Anything else is a bug or an environment problem: one line, not a stack trace.
    io.err(`warren bench: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

/** The command line goes into reports that get shared; API keys must not. */
function redactSecrets(argv: readonly string[]): string[] {
  return argv.map((a, i) => (argv[i - 1] === "--api-key" ? "REDACTED" : a.startsWith("--api-key=") ? "--api-key=REDACTED" : a));
}

async function runStub(argv: readonly string[], io: Io): Promise<number> {
  const p = parseArgs(argv, STUB_FLAGS);
  const port = getNumber(p, "port") ?? 8080;
  let stub;
  try {
    stub = startStub({ port, tokenDelayMs: getNumber(p, "token-delay-ms") ?? 5, eosAfter: getNumber(p, "eos-after") });
  } catch (e) {
    io.err(`warren bench stub: cannot listen on 127.0.0.1:${port}: ${(e as Error).message}\n`);
    return 1;
  }
  io.err(`stub generation server on ${stub.url} (POST /generate, /v1/completions, /v1/chat/completions); Ctrl-C stops\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await stub.stop();
  return 0;
}
