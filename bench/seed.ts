// The seed's benchmark against a Warren started here: `warren serve --threads 1 --parallel 8` with
// the generated tiny model, then `warren bench load --preset seed`. Prints the load tool's report.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { makeModel } from "../src/models/presets.ts";
import { runBenchCli } from "../src/loadtest/cli.ts";
import { spawnWarren } from "./soak/server.ts";

const model = resolve(import.meta.dir, "../models/tiny.gguf");
if (!existsSync(model)) await makeModel({ preset: "tiny", out: model });
const w = await spawnWarren(["--threads", "1", "--parallel", "8", "--log-level", "info"], model);
try {
  process.exitCode = await runBenchCli(["load", "--preset", "seed", "--url", w.url, "--no-progress"]);
} finally {
  await w.stop();
}
