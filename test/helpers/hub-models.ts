// The models the fixture hub serves (test/helpers/hub.ts): generated ones (src/models, as
// `warren model make` writes them), a real split GGUF, and stories260K where it is available.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeGguf, kv, type GgufMetadata } from "../../src/models/gguf-writer.ts";
import { llamaMetadata, llamaTensors } from "../../src/models/llama.ts";
import { makeModel, PRESETS } from "../../src/models/presets.ts";
import type { HubRepo } from "./hub.ts";
import { REPO_ROOT, STORIES_MODEL } from "./models.ts";

const QWEN_TEMPLATE = join(REPO_ROOT, "test/fixtures/qwen-tools.jinja");
/** Above ipull's 5 MiB chunk: a pull cut past the first chunks resumes from a saved chunk boundary. */
export const BIG_BYTES = 12 * 1024 * 1024;
export const MIB = 1024 * 1024;

export interface HubModels {
  /** tiny-q8 with a Qwen-style template (tools and reasoning). */
  chatQ8: Uint8Array;
  chatF16: Uint8Array;
  /** tiny (F32) written as two llama.cpp split shards. */
  split: [Uint8Array, Uint8Array];
  /** chatQ8 padded with zeros to BIG_BYTES (trailing bytes after the data section are ignored). */
  big: Uint8Array;
  stories?: Uint8Array;
}

export async function makeHubModels(dir: string): Promise<HubModels> {
  const template = readFileSync(QWEN_TEMPLATE, "utf8");
  const chatQ8 = await makeModel({ preset: "tiny-q8", out: join(dir, "chat-q8.gguf"), chatTemplate: template });
  const chatF16 = await makeModel({ preset: "tiny-f16", out: join(dir, "chat-f16.gguf"), chatTemplate: template });
  const split = await writeSplit(dir);
  const q8 = new Uint8Array(readFileSync(chatQ8.path));
  const big = new Uint8Array(BIG_BYTES);
  big.set(q8);
  return {
    chatQ8: q8,
    chatF16: new Uint8Array(readFileSync(chatF16.path)),
    split,
    big,
    stories: existsSync(STORIES_MODEL) ? new Uint8Array(readFileSync(STORIES_MODEL)) : undefined,
  };
}

/**
 * The tiny preset as llama.cpp's gguf-split writes a model: the first shard holds all metadata
 * and the first tensors, the second only its tensors; every shard carries split.no (u16),
 * split.count (u16) and split.tensors.count (i32), types llama.cpp checks.
 */
async function writeSplit(dir: string): Promise<[Uint8Array, Uint8Array]> {
  const preset = PRESETS.tiny;
  const tensors = llamaTensors(preset, 1);
  const half = Math.ceil(tensors.length / 2);
  const shards = [tensors.slice(0, half), tensors.slice(half)];
  const out: Uint8Array[] = [];
  for (const [i, shard] of shards.entries()) {
    const split: GgufMetadata = [
      ["split.no", kv.u16(i)],
      ["split.count", kv.u16(shards.length)],
      ["split.tensors.count", kv.i32(tensors.length)],
    ];
    const meta = i === 0 ? [...llamaMetadata("tiny", preset, 1), ...split] : split;
    const path = join(dir, `split-${i + 1}.gguf`);
    await writeGguf(path, meta, shard);
    out.push(new Uint8Array(readFileSync(path)));
  }
  return [out[0]!, out[1]!];
}

const html = new TextEncoder().encode("<!doctype html><html><body>Sign in to continue</body></html>\n");

/**
 * The repos every pull test uses:
 *   warren-test/tiny-chat-GGUF    Q8_0, F16, and F32 split in two parts (plus a README)
 *   warren-test/stories260K-GGUF  F32 (when stories260K is available)
 *   warren-test/gated-GGUF        gated: needs the hub's token
 *   warren-test/big-GGUF          Q8_0 of BIG_BYTES, for resumes
 *   warren-test/broken-GGUF       Q8_0 listed 100 bytes too big, Q4_0 with a wrong SHA-256,
 *                                 Q2_K listed at 1 PiB, F16 that is an HTML page
 */
export function hubRepos(m: HubModels): HubRepo[] {
  const repos: HubRepo[] = [
    {
      id: "warren-test/tiny-chat-GGUF",
      files: [
        { path: "README.md", data: new TextEncoder().encode("# tiny-chat\n") },
        { path: "tiny-chat-Q8_0.gguf", data: m.chatQ8 },
        { path: "tiny-chat-F16.gguf", data: m.chatF16 },
        { path: "tiny-chat-F32-00001-of-00002.gguf", data: m.split[0] },
        { path: "tiny-chat-F32-00002-of-00002.gguf", data: m.split[1] },
      ],
    },
    { id: "warren-test/gated-GGUF", gated: true, files: [{ path: "gated-Q8_0.gguf", data: m.chatQ8 }] },
    { id: "warren-test/big-GGUF", files: [{ path: "big-Q8_0.gguf", data: m.big }] },
    {
      id: "warren-test/broken-GGUF",
      files: [
        { path: "broken-Q8_0.gguf", data: m.chatQ8, listedSize: m.chatQ8.length + 100 },
        { path: "broken-Q4_0.gguf", data: m.chatQ8, listedSha256: "0".repeat(64) },
        { path: "broken-Q2_K.gguf", data: m.chatQ8, listedSize: 2 ** 50 },
        { path: "broken-F16.gguf", data: html },
      ],
    },
  ];
  if (m.stories) repos.push({ id: "warren-test/stories260K-GGUF", files: [{ path: "stories260K-F32.gguf", data: m.stories }] });
  return repos;
}
