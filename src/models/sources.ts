// What `--model` may name besides a file: a model URI (hf:USER/REPO:QUANT, hf:USER/REPO/FILE.gguf,
// an https URL), pulled into the model store first when it is not there, or a model in the store by
// name. Each is turned into the file it stands for before the catalogue is built, so the rest of
// the server only ever sees files.
import { existsSync } from "node:fs";
import { resolveCacheDir } from "../cache-dir.ts";
import { isRemoteModel, resolveEndpoint, resolveHfToken } from "./hub.ts";
import { formatBytes } from "./pull-progress.ts";
import { defaultModelsDir, findInStore } from "./store.ts";

interface SourceOptions {
  /** --models-dir ("" = the store under the cache directory). */
  modelsDir: string;
  /** --hf-endpoint ("" = the environment's, else the hub). */
  hfEndpoint: string;
  offline: boolean;
  env: Record<string, string | undefined>;
  info(line: string): void;
}

/** A --model argument's source turned into a file, or unchanged when it is one. Throws with a one-line reason. */
export async function resolveSource(source: string, opts: SourceOptions): Promise<string> {
  const store = () => ({ dir: opts.modelsDir || defaultModelsDir(resolveCacheDir(undefined, opts.env)), endpoint: resolveEndpoint(opts.hfEndpoint || undefined, opts.env) });
  if (isRemoteModel(source)) return pull(source, store(), opts);
  if (existsSync(source)) return source;
  const { dir, endpoint } = store();
  const entry = findInStore(dir, source, endpoint);
  if (entry) {
    opts.info(`serving ${entry.name} from the model store (${entry.files[0]})`);
    return entry.files[0]!;
  }
  if (!/[\\/]/.test(source)) throw new Error(`no such file, and no model of that name in the store ${dir} (\`warren models\` lists what is there)`);
  return source;
}

/** From the store, or pulled into it first (progress lines go to `info`). */
async function pull(source: string, store: { dir: string; endpoint: string }, opts: SourceOptions): Promise<string> {
  const { ensurePulled } = await import("./pull.ts");
  const started = performance.now();
  const r = await ensurePulled({
    source,
    ...store,
    token: resolveHfToken(opts.env),
    offline: opts.offline,
    sink: { tty: false, write: (text) => opts.info(text.trimEnd()) },
  });
  const secs = ((performance.now() - started) / 1000).toFixed(1);
  if (r.downloaded) opts.info(`pulled ${source} into the model store in ${secs} s: ${r.entry.name} (${formatBytes(r.entry.bytes)}, ${r.entry.files[0]})`);
  else opts.info(`serving ${source} from the model store: ${r.entry.name} (${r.entry.files[0]})`);
  return r.entry.files[0]!;
}
