// Public surface of the model generator (presets.ts and cli.ts are the entry points).
export { runModelCli } from "./cli.ts";
export { type GgufFile, readGguf } from "./gguf-reader.ts";
export {
  DEFAULT_SEED,
  type MadeModel,
  PRESETS,
  PRESET_NAMES,
  type PresetName,
  ensureModel,
  isPresetName,
  makeModel,
  paramCount,
} from "./presets.ts";
