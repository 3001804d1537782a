// Turns generated tokens into text that is safe to send: never half a UTF-8 character, never any
// part of a stop string. Stop strings may be split across tokens, so text that could still become
// a stop string is held back until it can't. Triggers (the opening of a tool call) are watched the
// same way: the first one ends the watching, and from there on the text is passed through as it
// comes (a grammar now decides the rest; stop strings no longer apply).
//
// It also counts which tokens' text has gone out, so per-token data (log-probabilities) can be sent
// with the text it belongs to: a token is released with the text that completes it. When a stop
// string ends generation, a token whose text was partly sent before the stop string is released
// with that last text; tokens whose text lies wholly inside the stop string never are.

interface Detokenizer {
  detokenize(tokens: readonly number[], context?: readonly number[]): string;
}

interface PushResult {
  /** Text that can be sent now (may be ""). */
  text: string;
  /** A stop string was completed; generation must end. `text` holds everything before it. */
  stopped: boolean;
  /** Tokens (pushed earlier or now, in push order) whose text this result completes. */
  released: number;
  /** The stop string that was completed, when `stopped`. */
  stop?: string;
  /** A trigger was completed: `text` ends with it, and `leftover` is what was generated past it (not in `text`). */
  trigger?: { leftover: string };
}

/** Tokens whose text is (partly) held, as offsets into `held`; start < 0 when part of it went out already. */
interface Unit {
  tokens: number;
  start: number;
  end: number;
}

/** Pieces whose text ends in U+FFFD are held: the next token usually completes the character. */
const REPLACEMENT = "\uFFFD";
/** Give up waiting for a UTF-8 continuation after this many tokens (the model emitted invalid bytes). */
const MAX_PENDING_TOKENS = 8;
const CONTEXT_TOKENS = 4;

export class TextStream {
  /** Tokens not yet turned into text (incomplete UTF-8). */
  private pending: number[] = [];
  /** Tokens already turned into text, last few kept as detokenizer context. */
  private context: number[];
  /** Decoded text held back because it may be the start of a stop string or a trigger. */
  private held = "";
  private units: Unit[] = [];
  /** A trigger was seen: no more stops, triggers or holding back. */
  private triggered = false;
  private readonly markers: readonly string[];

  constructor(
    private readonly detok: Detokenizer,
    private readonly stops: readonly string[],
    promptTail: readonly number[],
    private readonly triggers: readonly string[] = [],
  ) {
    this.context = promptTail.slice(-CONTEXT_TOKENS);
    this.markers = [...stops, ...triggers];
  }

  push(token: number): PushResult {
    this.pending.push(token);
    const piece = this.detok.detokenize(this.pending, this.context);
    if (piece.endsWith(REPLACEMENT) && this.pending.length < MAX_PENDING_TOKENS) return { text: "", stopped: false, released: 0 };
    const tokens = this.pending.length;
    this.context = [...this.context, ...this.pending].slice(-CONTEXT_TOKENS);
    this.pending = [];
    return this.append(piece, tokens);
  }

  /** End of generation (not by a stop string): release everything held; every token is then released. */
  flush(): string {
    let rest = this.held;
    if (this.pending.length > 0) rest += this.detok.detokenize(this.pending, this.context);
    this.held = "";
    this.units = [];
    this.pending = [];
    return rest;
  }

  /** `piece` is the text of the last `tokens` tokens together. */
  private append(piece: string, tokens: number): PushResult {
    if (this.triggered || this.markers.length === 0) return { text: piece, stopped: false, released: tokens };
    const held = this.held + piece;
    this.units.push({ tokens, start: this.held.length, end: held.length });
    const stop = earliest(held, this.stops);
    const trigger = earliest(held, this.triggers);
    if (trigger && (!stop || trigger.at < stop.at)) {
      // Everything held goes out with the trigger; what follows it is the caller's (the grammar's).
      let released = 0;
      for (const u of this.units) released += u.tokens;
      this.held = "";
      this.units = [];
      this.triggered = true;
      const end = trigger.at + trigger.marker.length;
      return { text: held.slice(0, end), stopped: false, released, trigger: { leftover: held.slice(end) } };
    }
    if (stop) {
      const cut = stop.at;
      let released = 0;
      for (const u of this.units) if (u.start < cut || u.end <= cut) released += u.tokens;
      this.held = "";
      this.units = [];
      return { text: held.slice(0, cut), stopped: true, released, stop: stop.marker };
    }
    const sent = held.length - longestStopPrefixSuffix(held, this.markers);
    this.held = held.slice(sent);
    let released = 0;
    let done = 0;
    while (done < this.units.length && this.units[done]!.end <= sent) released += this.units[done++]!.tokens;
    this.units.splice(0, done);
    for (const u of this.units) {
      u.start -= sent;
      u.end -= sent;
    }
    return { text: held.slice(0, sent), stopped: false, released };
  }
}

function earliest(text: string, markers: readonly string[]): { at: number; marker: string } | undefined {
  let best: { at: number; marker: string } | undefined;
  for (const marker of markers) {
    const at = text.indexOf(marker);
    if (at !== -1 && (!best || at < best.at)) best = { at, marker };
  }
  return best;
}

/** Length of the longest suffix of `text` that is a proper prefix of some stop string. */
export function longestStopPrefixSuffix(text: string, stops: readonly string[]): number {
  let best = 0;
  for (const stop of stops) {
    const max = Math.min(stop.length - 1, text.length);
    for (let n = max; n > best; n--) {
      if (text.endsWith(stop.slice(0, n))) {
        best = n;
        break;
      }
    }
  }
  return best;
}
