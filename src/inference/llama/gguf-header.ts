// A model file's GGUF header (metadata and tensor infos), read with node-llama-cpp's GGUF parser for
// the startup model check. Only the header is read, never the weights: the parser reads the file in
// 4 MiB steps as far as the tensor infos reach.
import { readGgufFileInfo } from "node-llama-cpp";

interface HeaderTensor {
  name: string;
  /** GGUF order: dims[0] is the row length. */
  dims: readonly number[];
  /** ggml_type number. */
  type: number;
  /** Relative to the start of the data section. */
  offset: number;
}

export interface ModelHeader {
  /** Flat GGUF keys ("llama.block_count"); integers that fit a double are numbers. */
  metadata: ReadonlyMap<string, unknown>;
  tensors: readonly HeaderTensor[];
  /** Byte where the header (the last tensor info) ends. Past the file's end means a cut header. */
  headerEnd: number;
  /** Byte where tensor data begins (headerEnd aligned up to general.alignment). */
  dataOffset: number;
}

/**
 * The big tokenizer arrays: the parser still walks them (it must, to find what follows), but they
 * are not kept, which saves tens of MB of strings on 150k-token vocabularies.
 */
const UNUSED_KEYS = ["tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.merges"];

/**
 * Quirks the caller must cover, as node-llama-cpp 3.21.1 reads files: bytes past the end of the file
 * read as zeros (so a cut header parses; compare headerEnd with the file size), and an unknown
 * version is read as version 3 (check the version first). A corrupt length field is allocated
 * before it is read: up to 4 GiB (zero-filled), beyond that it throws at once. Throws on a missing
 * file or bad magic.
 */
export async function readModelHeader(path: string): Promise<ModelHeader> {
  const info = await readGgufFileInfo(path, {
    // A path that looks like a URL or an "hf:" URI is still a file here: the check never fetches.
    sourceType: "filesystem",
    // The check sizes this file alone, not the other parts of a split model.
    spliceSplitFiles: false,
    // Its warnings are console lines outside our log; what matters comes back as errors.
    logWarnings: false,
    ignoreKeys: UNUSED_KEYS,
  });
  const tensors = (info.tensorInfo ?? []).map((t) => ({ name: t.name, dims: t.dimensions.map(Number), type: t.ggmlType, offset: Number(t.offset) }));
  return {
    metadata: flatten(info.metadata as object),
    tensors,
    headerEnd: info.metadataSize + (info.tensorInfoSize ?? 0),
    dataOffset: info.infoEndOffset ?? info.metadataSize,
  };
}

/** node-llama-cpp nests metadata by dotted key ({llama: {block_count}}); back to flat keys. */
function flatten(nested: object, prefix = "", out = new Map<string, unknown>()): Map<string, unknown> {
  for (const [key, value] of Object.entries(nested)) {
    const flat = prefix + key;
    if (value !== null && typeof value === "object" && !Array.isArray(value)) flatten(value, flat + ".", out);
    else out.set(flat, typeof value === "bigint" && Number.isSafeInteger(Number(value)) ? Number(value) : value);
  }
  return out;
}
