// The seed's benchmark against a Warren started here: `warren serve --threads 1 --parallel 8` with
// the generated tiny model, then `warren bench load --preset seed`. Prints the load tool's report.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { makeModel } from "../src/models/presets.ts";
import { runBenchCli } from "./cli.ts";
import { startWarren } from "../test/helpers/warren-process.ts";

const model = resolve(import.meta.dir, "../models/tiny.gguf");
if (!existsSync(model)) await makeModel({ preset: "tiny", out: model });
const w = await startWarren(["--model", model, "--threads", "1", "--parallel", "8", "--log-level", "info"]);
try {
  process.exitCode = await runBenchCli(["load", "--preset", "seed", "--url", w.url, "--no-progress"]);
} finally {
  await w.stop("SIGTERM");
}
