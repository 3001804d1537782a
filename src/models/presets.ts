// Public entry for generated models: makeModel / ensureModel, deterministic by (preset, seed)
// and published atomically. The preset table itself lives in shapes.ts.
import { randomUUID } from "node:crypto";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { writeGguf } from "./gguf-writer.ts";
import { llamaMetadata, llamaTensors, type ModelExtras } from "./llama.ts";
import { PRESETS, type PresetName, isPresetName, paramCount } from "./shapes.ts";

export { PRESETS, PRESET_NAMES, type PresetName, isPresetName, paramCount } from "./shapes.ts";

export interface MadeModel {
  path: string;
  bytes: number;
  params: number;
  sha256: string;
}

export const DEFAULT_SEED = 1;

/**
 * Writes preset `preset` with `seed` to `out`. The file is written under a temporary name in
 * the same directory and renamed into place, so readers never see a partial file.
 */
export async function makeModel(opts: { preset: PresetName; out: string; seed?: number } & ModelExtras): Promise<MadeModel> {
  const seed = opts.seed ?? DEFAULT_SEED;
  if (!isPresetName(opts.preset)) throw new Error(`unknown preset "${String(opts.preset)}"`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new Error(`seed must be an integer in [0, 4294967295], got ${seed}`);
  }
  const preset = PRESETS[opts.preset];
  const dir = dirname(opts.out);
  await mkdir(dir, { recursive: true });
  // Same directory as the target: rename(2) is only atomic within one filesystem.
  const tmp = join(dir, `.${basename(opts.out)}.${process.pid}.${randomUUID()}.tmp`);
  try {
    const extras: ModelExtras = { chatTemplate: opts.chatTemplate, script: opts.script };
    const { bytes, sha256 } = await writeGguf(tmp, llamaMetadata(opts.preset, preset, seed, extras), llamaTensors(preset, seed, opts.script));
    await rename(tmp, opts.out);
    return { path: opts.out, bytes, params: paramCount(preset.shape), sha256 };
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Generates `path` from `preset` (seed 1) if no file is there. Concurrent callers may both
 * generate, but each renames a complete, byte-identical file into place.
 */
export async function ensureModel(path: string, preset: PresetName = "tiny"): Promise<{ created: boolean }> {
  if (await isFile(path)) return { created: false };
  await makeModel({ preset, out: path });
  return { created: true };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
}
