// The cache directory: the compiled binary's unpacked runtime and the model store live under it.
import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";

/**
 * --cache-dir, else WARREN_CACHE_DIR, else $XDG_CACHE_HOME/warren, else ~/.cache/warren.
 * The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
 */
export function resolveCacheDir(flag: string | undefined, env: Record<string, string | undefined>): string {
  if (flag) return resolve(flag);
  if (env.WARREN_CACHE_DIR) return resolve(env.WARREN_CACHE_DIR);
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, "warren");
  return join(homedir(), ".cache", "warren");
}
