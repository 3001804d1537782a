// A token's raw bytes (Engine.tokenBytes, for logprobs' `bytes`), by vocabulary type: byte-fallback
// tokens <0xNN>, SentencePiece pieces with U+2581 for a space, GPT-2-style byte-level BPE, control
// tokens as their text. Cached: at most one entry per vocabulary token.
import { LlamaVocabularyType, type LlamaModel, type Token } from "node-llama-cpp";

/** node-llama-cpp's native model (internal in 3.21.1): the piece as the vocabulary stores it. */
export interface AddonModel {
  getTokenString(token: number): string;
}

const utf8 = new TextEncoder();

export class TokenBytes {
  private readonly cache = new Map<number, Uint8Array>();

  constructor(
    private readonly model: LlamaModel,
    private readonly addonModel: AddonModel,
  ) {}

  of(token: number): Uint8Array {
    let bytes = this.cache.get(token);
    if (!bytes) {
      bytes = this.read(token);
      this.cache.set(token, bytes);
    }
    return bytes;
  }

  private read(token: number): Uint8Array {
    const attrs = this.model.getTokenAttributes(token as Token);
    if (attrs.control) return utf8.encode(this.model.detokenize([token as Token], true));
    const raw = this.addonModel.getTokenString(token);
    const type = this.model.vocabularyType;
    if (attrs.byte) {
      const hex = /^<0x([0-9A-Fa-f]{2})>$/.exec(raw);
      if (hex) return Uint8Array.of(parseInt(hex[1]!, 16));
    }
    // SentencePiece marks a word's leading space with U+2581; model.detokenize would drop it at the start.
    if ((type === LlamaVocabularyType.spm || type === LlamaVocabularyType.ugm) && !attrs.unknown) return utf8.encode(raw.replaceAll("\u2581", " "));
    if (type === LlamaVocabularyType.bpe && !attrs.unknown) {
      const bytes = byteLevelDecode(raw);
      if (bytes) return bytes;
    }
    return utf8.encode(this.model.detokenize([token as Token], false));
  }
}

/**
 * Byte-level BPE vocabularies (GPT-2 and its descendants) spell every byte as one printable
 * character: bytes that are printable Latin-1 stand for themselves, the others map to U+0100
 * onwards, in byte order. Undoing that gives the token's bytes; null if a character is outside it.
 */
function byteLevelDecode(piece: string): Uint8Array | null {
  const out = new Uint8Array(piece.length);
  for (let i = 0; i < piece.length; i++) {
    const b = BYTE_LEVEL.get(piece.charCodeAt(i));
    if (b === undefined) return null;
    out[i] = b;
  }
  return out;
}

const BYTE_LEVEL: Map<number, number> = (() => {
  const map = new Map<number, number>();
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let extra = 0;
  for (let b = 0; b < 256; b++) map.set(printable(b) ? b : 0x100 + extra++, b);
  return map;
})();
