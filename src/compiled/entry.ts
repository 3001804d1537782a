// Entry point of the compiled executable (scripts/build.ts builds dist/warren from it);
// `bun src/main.ts` never runs this file.
//
// Order matters: main.ts is imported dynamically, and only after the binding-probe check and
// --cache-dir, because it pulls in (through llama/engine.ts) node-llama-cpp's replacement module,
// whose evaluation unpacks the runtime into the cache directory (src/compiled/runtime.ts). The
// probe child must never get that far.
import { resolve } from "node:path";
import { bindingProbeFile, runBindingProbe } from "./probe.ts";

const CACHE_HELP = `
Compiled binary (any command):
  --cache-dir <dir>            Where the embedded runtime (node-llama-cpp, CPU backend) is unpacked on first run [WARREN_CACHE_DIR] (default: $XDG_CACHE_HOME/warren, else ~/.cache/warren)`;

class UsageError extends Error {}

/** Removes --cache-dir DIR / --cache-dir=DIR (anywhere: it applies to every command). */
export function takeCacheDir(args: readonly string[]): { args: string[]; cacheDir: string | undefined } {
  const rest: string[] = [];
  let cacheDir: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--cache-dir") {
      const v = args[++i];
      if (v === undefined || v === "") throw new UsageError("--cache-dir needs a directory");
      cacheDir = v;
    } else if (a.startsWith("--cache-dir=")) {
      cacheDir = a.slice("--cache-dir=".length);
      if (cacheDir === "") throw new UsageError("--cache-dir needs a directory");
    } else {
      rest.push(a);
    }
  }
  return { args: rest, cacheDir };
}

async function run(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof takeCacheDir>;
  try {
    parsed = takeCacheDir(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`warren: ${err.message}`);
    return 2;
  }
  // --cache-dir stands for WARREN_CACHE_DIR from here on: the runtime unpack and the model store
  // (main.ts) both resolve the cache directory from the environment.
  if (parsed.cacheDir) process.env.WARREN_CACHE_DIR = resolve(parsed.cacheDir);
  const { main } = await import("../main.ts");
  const code = await main(parsed.args);
  const first = parsed.args[0];
  if (code === 0 && (first === "--help" || first === "-h" || first === "help")) console.log(CACHE_HELP);
  return code;
}

if (import.meta.main) {
  const probe = bindingProbeFile(process.argv, process.env, typeof process.send === "function");
  if (probe !== null) {
    await runBindingProbe(probe);
  } else {
    // Same exit behaviour as main.ts's own `import.meta.main` block, which the bundler turns off here.
    run(process.argv.slice(2)).then(
      (code) => {
        if (code !== undefined && code !== 0) process.exit(code);
      },
      (err) => {
        console.error(`warren: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
      },
    );
  }
}
