// Model files used by tests. The real TinyStories model lives beside the checkout (../shared), never in it.
import { existsSync } from "node:fs";
import { resolve } from "node:path";

export const REPO_ROOT = resolve(import.meta.dir, "../..");
export const STORIES_MODEL = resolve(REPO_ROOT, "../shared/models/stories260K.gguf");
/** llama.cpp's llama-server, greedy, for "Once upon a time" (from the model's provenance note): exactly 30 tokens. */
export const STORIES_ORACLE = ", there was a little girl named Lily. She loved to play outside in the park. One day,";

export function requireStories(): string {
  if (!existsSync(STORIES_MODEL)) throw new Error(`test model missing: ${STORIES_MODEL} (it is provided beside the checkout in ../shared/models)`);
  return STORIES_MODEL;
}
