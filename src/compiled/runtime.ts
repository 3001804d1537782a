// Loads node-llama-cpp inside the compiled binary. scripts/build.ts replaces every
// `import ... from "node-llama-cpp"` with a module that awaits loadNodeLlamaCpp() and re-exports
// its members, so src/inference/llama/engine.ts is the same source in both worlds.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createLogger } from "../log.ts";
import { resolveCacheDir } from "../cache-dir.ts";
import { ensureRuntime } from "./cache.ts";

interface EmbeddedPayload {
  /** Path of the embedded archive inside the executable ($bunfs). */
  path: string;
  /** Its content hash (hex), computed at build time: names the cache directory. */
  hash: string;
}

export async function loadNodeLlamaCpp(payload: EmbeddedPayload): Promise<Record<string, unknown>> {
  const cacheDir = resolveCacheDir(undefined, process.env);
  const started = performance.now();
  const runtime = ensureRuntime(cacheDir, payload.hash, () => readFileSync(payload.path));
  if (runtime.unpacked) {
    createLogger("info").info(`unpacked the embedded runtime (node-llama-cpp, CPU backend) to ${runtime.dir}`, {
      files: runtime.files,
      ms: Math.round(performance.now() - started),
    });
  }
  // An absolute path: resolution of node-llama-cpp's own imports then starts from the unpacked
  // node_modules tree, not from the executable's virtual filesystem.
  return import(join(runtime.dir, "node_modules", "node-llama-cpp", "dist", "index.js"));
}
