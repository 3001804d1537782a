// Fill-in-the-middle tokens. node-llama-cpp reads prefix, suffix and middle from llama.cpp (GGUF
// ids, else found by their text); llama.cpp's repo-level markers, repo and file separator, are not
// bound, so they are found the way llama.cpp finds them: the GGUF id, else a token with a known text.
import type { LlamaModel, Token } from "node-llama-cpp";
import type { ModelInfo } from "../engine.ts";

/** llama.cpp's texts for FIM_REP and FIM_SEP (src/llama-vocab.cpp), in its order. */
const REPO_TEXTS = ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"];
const SEPARATOR_TEXTS = ["<|file_sep|>"];

export function fimTokens(model: LlamaModel): ModelInfo["fim"] {
  const { prefix, suffix, middle } = model.tokens.infill;
  if (prefix == null || suffix == null || middle == null) return undefined;
  const fim: NonNullable<ModelInfo["fim"]> = { prefix, suffix, middle };
  const repo = metadataId(model, "fim_rep_token_id") ?? byText(model, REPO_TEXTS);
  const separator = metadataId(model, "fim_sep_token_id") ?? byText(model, SEPARATOR_TEXTS);
  if (repo !== undefined) fim.repo = repo;
  if (separator !== undefined) fim.separator = separator;
  return fim;
}

function metadataId(model: LlamaModel, key: string): number | undefined {
  const ggml = (model.fileInfo.metadata as unknown as { tokenizer?: { ggml?: Record<string, unknown> } })?.tokenizer?.ggml;
  const id = ggml?.[key];
  return typeof id === "number" && Number.isInteger(id) && id >= 0 ? id : undefined;
}

/** The first text that is one whole token of the vocabulary (special-token parsing on). */
function byText(model: LlamaModel, texts: readonly string[]): number | undefined {
  for (const text of texts) {
    const ids = model.tokenize(text, true);
    if (ids.length === 1 && model.detokenize(ids as Token[], true) === text) return ids[0]!;
  }
  return undefined;
}
