// Per-token log-probabilities in OpenAI's two shapes. Chat: choice.logprobs = {content: [{token,
// logprob, bytes, top_logprobs: [{token, logprob, bytes}]}], refusal: null}. Legacy completions:
// {tokens, token_logprobs, top_logprobs: [{token: logprob}], text_offset}. A streamed chunk carries
// the entries of the tokens its text completes (see TextStream), so a stream and a whole answer
// list the same entries.
//
// A token that is only part of a UTF-8 character (a byte-fallback token) is written, as OpenAI
// writes it, "bytes:\xe4" in `token`; `bytes` always has its raw bytes, and the bytes of a
// choice's entries concatenate to its text (plus, after a stop string, the rest of the last token).
import type { Engine } from "../../inference/engine.ts";
import type { TokenLogprob, TokenLogprobs } from "../../inference/types.ts";
import { ApiError } from "../errors.ts";
import { API_MAX_TOP_LOGPROBS, type CommonBody, type Kind } from "./schemas.ts";

const strict = new TextDecoder("utf-8", { fatal: true });

interface Piece {
  token: string;
  bytes: number[];
}

/** A token's text and bytes; the engine caches the bytes (one entry per vocabulary token). */
function pieceOf(engine: Engine, token: number): Piece {
  const raw = engine.tokenBytes(token);
  return { token: pieceText(raw), bytes: Array.from(raw) };
}

function pieceText(bytes: Uint8Array): string {
  try {
    return strict.decode(bytes);
  } catch {
    return "bytes:" + Array.from(bytes, (b) => "\\x" + b.toString(16).padStart(2, "0")).join("");
  }
}

const invalid = (param: string, message: string) => new ApiError(400, "invalid_request", `${param}: ${message}`, param);

/**
 * How many alternatives per token the request asks for, or undefined for no logprobs. Chat takes
 * `logprobs: true` plus `top_logprobs` (0-20); completions take `logprobs: N` (0-20).
 */
export function logprobsRequest(kind: Kind, b: CommonBody): number | undefined {
  if (kind === "text") {
    if (typeof b.logprobs === "boolean") {
      if (!b.logprobs) return undefined;
      throw invalid("logprobs", `for completions, the number of most likely alternatives per token (0-${API_MAX_TOP_LOGPROBS}), not true`);
    }
    if (b.top_logprobs) throw invalid("top_logprobs", "completions take the count in logprobs (an integer)");
    return b.logprobs ?? undefined;
  }
  if (typeof b.logprobs === "number") throw invalid("logprobs", "for chat, true or false; the count goes in top_logprobs");
  if (b.logprobs !== true) {
    if (b.top_logprobs) throw invalid("top_logprobs", "needs logprobs: true");
    return undefined;
  }
  return b.top_logprobs ?? 0;
}

interface ChatEntry {
  token: string;
  logprob: number;
  bytes: number[];
}

interface ChatLogprobs {
  content: Array<ChatEntry & { top_logprobs: ChatEntry[] }>;
  refusal: null;
}

function chatLogprobs(engine: Engine, entries: readonly TokenLogprobs[]): ChatLogprobs {
  const entry = (e: TokenLogprob): ChatEntry => {
    const p = pieceOf(engine, e.token);
    return { token: p.token, logprob: e.logprob, bytes: p.bytes };
  };
  return { content: entries.map((e) => ({ ...entry(e), top_logprobs: e.top.map(entry) })), refusal: null };
}

interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Array<Record<string, number>>;
  text_offset: number[];
}

/**
 * Legacy completions shape for one choice. `text_offset` counts characters (Unicode code points, as
 * OpenAI's offsets do) from the start of the choice's text, so a stream keeps one per choice.
 */
class CompletionOffsets {
  /** Characters completed so far, and continuation bytes still owed by the last one. */
  private chars = 0;
  private owed = 0;

  format(engine: Engine, entries: readonly TokenLogprobs[]): CompletionLogprobs {
    const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
    for (const e of entries) {
      const p = pieceOf(engine, e.token);
      out.tokens.push(p.token);
      out.token_logprobs.push(e.logprob);
      const top: Record<string, number> = {};
      for (const t of e.top) top[pieceOf(engine, t.token).token] ??= t.logprob;
      out.top_logprobs.push(top);
      // A token inside a character (byte-fallback) starts at that character's offset.
      out.text_offset.push(this.chars);
      for (const b of p.bytes) this.advance(b);
    }
    return out;
  }

  private advance(b: number): void {
    if (this.owed > 0 && (b & 0xc0) === 0x80) {
      if (--this.owed === 0) this.chars++;
      return;
    }
    // A lead byte (or a stray continuation byte, which decodes to one U+FFFD).
    if (this.owed > 0) this.chars++;
    this.owed = b >= 0xf0 && b < 0xf8 ? 3 : b >= 0xe0 && b < 0xf0 ? 2 : b >= 0xc0 && b < 0xe0 ? 1 : 0;
    if (this.owed === 0) this.chars++;
  }
}

/** Entries of choice `index` in the request's shape; a completions choice keeps its running text offset. */
export type Logprobs = (index: number, entries: readonly TokenLogprobs[]) => object;

export function logprobsWriter(kind: Kind, engine: Engine, n: number): Logprobs {
  if (kind === "chat") return (_, entries) => chatLogprobs(engine, entries);
  const offsets = Array.from({ length: n }, () => new CompletionOffsets());
  return (index, entries) => offsets[index]!.format(engine, entries);
}
