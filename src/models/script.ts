// Scripted replies: a generated model that answers every prompt with the same pieces of text, for
// end-to-end tests of what the server makes of a model's output (tool calls, thoughts) through the
// real engine, token by token.
//
// How: each piece becomes one token of its own. Attention and feed-forward outputs are zero, so the
// hidden state at every position is just the current token's embedding, and the logits depend on
// that token alone. Every token outside the script shares one embedding, whose best next token is
// the first piece; piece i's embedding points the output at piece i+1, and the last piece's at
// end-of-text. Embeddings are random normal vectors in nEmbd dimensions: a vector's dot product
// with itself (~nEmbd) dwarfs its products with the others (~sqrt(nEmbd)), so greedy and sampled
// decoding alike follow the script. The pieces are new vocabulary entries that no merge of the
// tokenizer reaches, so prompts never contain them and the script always starts from the top.
import { Xoshiro128, fillNormalish, hashString } from "./rng.ts";
import { EOS_ID, SPACE_MARK } from "./vocab.ts";

/** Most pieces in a script (each takes a vocabulary slot). */
const MAX_SCRIPT_PIECES = 256;
/** Logit scale of scripted transitions (in units of the embedding's squared norm over nEmbd). */
const GAIN = 4;

/** Pieces as SentencePiece vocabulary entries (spaces written as its word-boundary mark). */
export function scriptPieces(pieces: readonly string[]): string[] {
  if (pieces.length === 0 || pieces.length > MAX_SCRIPT_PIECES) throw new Error(`a script has 1 to ${MAX_SCRIPT_PIECES} pieces, got ${pieces.length}`);
  const seen = new Set<string>();
  return pieces.map((p, i) => {
    if (typeof p !== "string" || p.length === 0) throw new Error(`script piece ${i} must be a non-empty string`);
    if (seen.has(p)) throw new Error(`script piece ${i} (${JSON.stringify(p)}) appears twice: every piece must be unique, each one names the next`);
    seen.add(p);
    return p.replaceAll(" ", SPACE_MARK);
  });
}

interface ScriptWeights {
  tokenEmbd: Float32Array;
  output: Float32Array;
}

/**
 * token_embd and output ([nEmbd, nVocab]: one row of nEmbd values per token) for `ids`, the
 * token ids of the pieces in order.
 */
export function scriptWeights(nEmbd: number, nVocab: number, ids: readonly number[], seed: number): ScriptWeights {
  const rng = new Xoshiro128(seed, hashString("script"));
  const row = () => {
    const v = new Float32Array(nEmbd);
    fillNormalish(rng, v, 1);
    return v;
  };
  const rest = row();
  const tokenEmbd = new Float32Array(nEmbd * nVocab);
  for (let t = 0; t < nVocab; t++) tokenEmbd.set(rest, t * nEmbd);
  const own = ids.map(() => row());
  ids.forEach((id, i) => tokenEmbd.set(own[i]!, id * nEmbd));
  // Small random outputs for every other token: they never win, but sampling sees a real distribution.
  const output = new Float32Array(nEmbd * nVocab);
  fillNormalish(rng, output, 0.5 / Math.sqrt(nEmbd));
  const point = (target: number, from: Float32Array) => {
    for (let k = 0; k < nEmbd; k++) output[target * nEmbd + k] = (from[k]! * GAIN) / Math.sqrt(nEmbd);
  };
  point(ids[0]!, rest);
  for (let i = 0; i + 1 < ids.length; i++) point(ids[i + 1]!, own[i]!);
  point(EOS_ID, own[own.length - 1]!);
  return { tokenEmbd, output };
}
