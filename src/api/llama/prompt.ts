// Prompts the way llama-server reads them (tools/server/server-common.cpp):
//   - a string, or a list mixing token ids and strings, is one prompt; BOS is prepended (when the
//     model wants one) if it is a string or starts with one, and text is tokenized with special
//     tokens parsed (so "<|im_start|>" in a prompt is the control token);
//   - any other list is several prompts, each answered on its own.
// /infill's prompt is built from FIM tokens as format_prompt_infill builds it.
import type { Engine } from "../../inference/engine.ts";
import { ApiError } from "../errors.ts";
import { checkTokenIds } from "../tokenize.ts";
import { LLAMA_MAX_PROMPTS } from "./schema.ts";

type Piece = string | number;
type PromptInput = string | ReadonlyArray<Piece | readonly Piece[] | Record<string, unknown>> | Record<string, unknown>;

const invalid = (param: string, message: string) => new ApiError(400, "invalid_request", `${param}: ${message}`, param);

/** A list of ids and strings with at least one id: one prompt. */
const isMixed = (a: readonly unknown[]): boolean => a.some((x) => typeof x === "number") && a.every((x) => typeof x === "number" || typeof x === "string");

/** Each prompt's tokens; throws 400 for empty prompts, multimodal objects and ids outside the vocabulary. */
export function promptsOf(engine: Engine, prompt: PromptInput): number[][] {
  const list = typeof prompt === "string" || (Array.isArray(prompt) && isMixed(prompt)) ? [prompt] : Array.isArray(prompt) ? prompt : [prompt];
  if (list.length === 0) throw invalid("prompt", "must not be an empty list");
  if (list.length > LLAMA_MAX_PROMPTS) throw invalid("prompt", `at most ${LLAMA_MAX_PROMPTS} prompts in one request; got ${list.length}`);
  return list.map((p, i) => {
    const param = list.length > 1 ? `prompt[${i}]` : "prompt";
    if (typeof p !== "string" && !Array.isArray(p)) throw new ApiError(400, "unsupported_parameter", `${param}: multimodal prompts are not supported (this server has no multimodal projector)`, param);
    const tokens = tokenizeMixed(engine, p as string | readonly Piece[], true, true, param);
    if (tokens.length === 0) throw invalid(param, "is empty");
    return tokens;
  });
}

/** llama-server's tokenize_mixed: BOS only when asked and the input is, or starts with, text. */
export function tokenizeMixed(engine: Engine, input: string | readonly Piece[], addBos: boolean, special: boolean, param: string): number[] {
  const pieces = typeof input === "string" ? [input] : input;
  const out: number[] = [];
  pieces.forEach((piece, i) => {
    if (typeof piece === "number") out.push(piece);
    else if (typeof piece === "string") out.push(...engine.tokenize(piece, addBos && i === 0, special));
    else throw invalid(param, "a prompt is a string or a list of token ids and strings");
  });
  checkTokenIds(engine, out, param);
  return out;
}

interface InfillInput {
  prefix: string | readonly Piece[];
  suffix: string | readonly Piece[];
  extra: ReadonlyArray<{ text: string; filename?: string | null }>;
  prompt: string;
  /** The server's default n_predict (-1: none), which llama-server uses here rather than the request's. */
  nPredict: number;
}

/**
 * format_prompt_infill: [extra context] [BOS] <PRE> prefix <SUF> suffix <MID> prompt, cutting the
 * prefix (kept: its last 3/4 of a batch) and the suffix (1/4 of a batch, less the prompt) as
 * llama-server does, and filling what the context has left with the extra chunks (repo-level
 * FIM when the model has repo and file-separator tokens).
 */
export function infillTokens(engine: Engine, fim: NonNullable<Engine["info"]["fim"]>, input: InfillInput): number[] {
  const batch = engine.batchSize;
  const plain = (text: string) => engine.tokenize(text, false, false);
  const prefix = tokenizeMixed(engine, input.prefix, false, false, "input_prefix");
  const suffix = tokenizeMixed(engine, input.suffix, false, false, "input_suffix");
  const prompt = engine.tokenize(input.prompt, false, true);
  const extra: number[] = [];
  if (fim.repo !== undefined) extra.push(fim.repo, ...plain("myproject\n"));
  for (const chunk of input.extra) {
    // The chunk separator is "\n\n--- snippet ---\n\n" when there is no file-separator token.
    if (fim.separator !== undefined) extra.push(fim.separator, ...plain(`${chunk.filename ?? "tmp"}\n`));
    else extra.push(...plain("\n\n--- snippet ---\n\n"));
    extra.push(...plain(chunk.text));
  }
  if (fim.separator !== undefined) extra.push(fim.separator, ...plain("filename\n"));
  const prefixTake = Math.min(prefix.length, 3 * Math.floor(batch / 4));
  const suffixTake = Math.min(suffix.length, Math.max(0, Math.floor(batch / 4) - (2 + prompt.length)));
  const extraTake = Math.min(Math.max(0, engine.slotContextSize - batch - 2 * input.nPredict), extra.length);
  const head = [fim.prefix, ...prefix.slice(prefix.length - prefixTake), ...prompt];
  const bos = engine.info.addBos && engine.info.bosToken !== undefined ? [engine.info.bosToken] : [];
  return [...extra.slice(extra.length - extraTake), ...bos, ...head, fim.suffix, ...suffix.slice(0, suffixTake), fim.middle];
}
