// Reads a chat answer as it streams: plain text becomes content, a thought segment becomes
// reasoning, and from the call trigger on, tool calls in the template's syntax.
//
// The syntax comes from the template (node-llama-cpp extracts it); this module only matches its
// delimiters. Text that could be the start of a delimiter is held back until it cannot, so a
// client never sees half of "<think>" as content. Once the trigger appears, the scheduler runs
// the rest of the answer under the call grammar (grammar.ts), so what follows the trigger is the
// canonical syntax; anything else (a grammar-less engine) is handed back as content rather than
// returned as a broken call.
import { callTrigger } from "./grammar.ts";
import type { ChatEvent, ChatSyntax } from "./types.ts";

type Out = Extract<ChatEvent, { type: "reasoning" | "content" | "tool_call" }>;

export interface ParserOptions {
  syntax: ChatSyntax;
  /** Split thoughts out as reasoning. */
  reasoning: boolean;
  /** The answer starts inside a thought (the template opened it). */
  thoughtOpen: boolean;
  /** Tool names calls may use; none: calls are not parsed. */
  tools: readonly string[];
}

const WS = /\s/;

export class ChatParser {
  private mode: "content" | "thought" | "calls";
  private buf = "";
  /** Trailing whitespace not yet sent: dropped if a delimiter follows. */
  private pendingWs = "";
  /** Leading whitespace of the current segment is dropped (after a delimiter). */
  private trimStart: boolean;
  private readonly thought?: { open: string; close: string };
  private readonly trigger?: string;
  private readonly calls?: CallReader;
  /** Whitespace dropped before the trigger, given back if what follows is not a call. */
  private wsBeforeCall = "";
  /** The text after a trigger was not a call: calls are no longer looked for. */
  private callsFailed = false;
  callCount = 0;

  constructor(opts: ParserOptions) {
    this.thought = opts.reasoning ? opts.syntax.thought : undefined;
    const calls = opts.syntax.calls;
    if (calls && opts.tools.length > 0) {
      const { trigger, rest } = callTrigger(opts.syntax);
      this.trigger = trigger;
      this.calls = new CallReader(calls, opts.tools, rest);
    }
    this.mode = this.thought && opts.thoughtOpen ? "thought" : "content";
    this.trimStart = this.mode === "thought";
  }

  /** The answer ended (or is now) inside a call that is not complete: it is never returned. */
  get inCall(): boolean {
    return this.mode === "calls" && !this.calls!.complete;
  }

  push(text: string): Out[] {
    const out: Out[] = [];
    this.buf += text;
    this.scan(out);
    return out;
  }

  /** End of the answer: release what was held (a partial delimiter is just text). */
  end(): Out[] {
    const out: Out[] = [];
    if (this.mode !== "calls") this.emitText(out, this.mode === "thought" ? "reasoning" : "content", this.buf, true);
    this.buf = "";
    return out;
  }

  private scan(out: Out[]): void {
    for (;;) {
      if (this.mode === "calls") {
        const r = this.calls!.push(this.buf);
        this.buf = "";
        for (const c of r.calls) out.push({ type: "tool_call", index: this.callCount++, name: c.name, arguments: c.arguments });
        if (r.failed === undefined) return;
        // Not the syntax the grammar guarantees: the text goes back as content, never as a broken call.
        this.callsFailed = true;
        this.mode = "content";
        this.trimStart = false;
        this.emitText(out, "content", this.wsBeforeCall + this.trigger! + r.failed);
        continue;
      }
      const markers = this.markers();
      let at = -1;
      let marker = "";
      for (const m of markers) {
        const i = this.buf.indexOf(m);
        if (i !== -1 && (at === -1 || i < at)) {
          at = i;
          marker = m;
        }
      }
      const kind = this.mode === "thought" ? "reasoning" : "content";
      if (at === -1) {
        const keep = heldPrefix(this.buf, markers);
        this.emitText(out, kind, this.buf.slice(0, this.buf.length - keep));
        this.buf = this.buf.slice(this.buf.length - keep);
        return;
      }
      this.emitText(out, kind, this.buf.slice(0, at));
      this.wsBeforeCall = this.pendingWs;
      this.pendingWs = "";
      this.buf = this.buf.slice(at + marker.length);
      if (marker === this.trigger) this.mode = "calls";
      else if (this.mode === "content") this.mode = "thought";
      else this.mode = "content";
      this.trimStart = true;
    }
  }

  private markers(): string[] {
    const m: string[] = [];
    if (this.thought) {
      const m0 = this.mode === "thought" ? this.thought.close : this.thought.open;
      if (m0) m.push(m0);
    }
    if (this.trigger && !this.callsFailed) m.push(this.trigger);
    return m;
  }

  /** Sends text, dropping a segment's leading whitespace and holding its trailing whitespace. */
  private emitText(out: Out[], kind: "reasoning" | "content", text: string, final = false): void {
    if (this.trimStart) {
      const start = text.search(/\S/);
      if (start === -1 && !final) return;
      text = start === -1 ? "" : text.slice(start);
      if (start !== -1) this.trimStart = false;
    }
    // Only where a delimiter may follow: a plain answer keeps its whitespace exactly.
    const holdWs = !final && (kind === "reasoning" || this.trigger !== undefined || this.thought !== undefined);
    let body = this.pendingWs + text;
    this.pendingWs = "";
    if (holdWs) {
      let end = body.length;
      while (end > 0 && WS.test(body[end - 1]!)) end--;
      this.pendingWs = body.slice(end);
      body = body.slice(0, end);
    }
    if (body.length === 0) return;
    const last = out[out.length - 1];
    if (last && last.type === kind) last.text += body;
    else out.push({ type: kind, text: body });
  }
}

/** Length of the longest suffix of `text` that is a proper prefix of a marker. */
function heldPrefix(text: string, markers: readonly string[]): number {
  let best = 0;
  for (const m of markers) {
    for (let n = Math.min(m.length - 1, text.length); n > best; n--) {
      if (text.endsWith(m.slice(0, n))) {
        best = n;
        break;
      }
    }
  }
  return best;
}

type CallSyntax = NonNullable<ChatSyntax["calls"]>;

/**
 * Tool calls after the trigger: `rest-of-start NAME paramsPrefix JSON suffix`, then either
 * `betweenCalls prefix` and another call, or the end. Input arrives in pieces; a call is returned
 * only once its JSON is complete. Parse protocol: `failed` holds all text since the trigger when
 * it is not the syntax.
 */
class CallReader {
  private text = "";
  private pos = 0;
  private state: "start" | "name" | "args" | "suffix" | "next" = "start";
  private name = "";
  private argsStart = 0;
  private readonly scanner = new JsonScanner();
  /** The last call is complete (no call is half-read). */
  complete = false;

  constructor(
    private readonly syntax: CallSyntax,
    private readonly tools: readonly string[],
    private readonly startRest: string,
  ) {}

  push(piece: string): { calls: Array<{ name: string; arguments: string }>; failed?: string } {
    this.text += piece;
    const calls: Array<{ name: string; arguments: string }> = [];
    const failed = () => ({ calls, failed: this.text });
    for (;;) {
      const rest = this.text.slice(this.pos);
      if (this.state === "start" || this.state === "next") {
        const expect = this.state === "start" ? this.startRest : this.syntax.betweenCalls + this.syntax.prefix;
        if (rest.startsWith(expect)) {
          this.pos += expect.length;
          this.state = "name";
          this.complete = false;
          continue;
        }
        // After a complete call, anything else is what ends the calls (section suffix, spaces).
        if (expect.startsWith(rest) || this.state === "next") return { calls };
        return failed();
      }
      if (this.state === "name") {
        const pp = this.syntax.paramsPrefix;
        // Without a delimiter, the name runs up to where the JSON starts.
        const at = pp === "" ? rest.search(/\s*[{[]/) : rest.indexOf(pp);
        if (at === -1) {
          if (this.tools.some((t) => (t + pp).startsWith(rest) || (pp === "" && t.startsWith(rest)))) return { calls };
          return failed();
        }
        const name = rest.slice(0, at);
        if (!this.tools.includes(name)) return failed();
        this.name = name;
        this.pos += at + pp.length;
        this.argsStart = this.pos;
        this.scanner.reset();
        this.state = "args";
        continue;
      }
      if (this.state === "args") {
        const end = this.scanner.feed(rest);
        if (end === -2) return failed();
        if (end === -1) {
          this.pos = this.text.length;
          return { calls };
        }
        this.pos += end;
        this.state = "suffix";
        continue;
      }
      const suffix = this.syntax.suffix.replaceAll("{{functionName}}", this.name);
      if (rest.startsWith(suffix)) {
        const args = this.text.slice(this.argsStart, this.pos).trim();
        if (!parses(args)) return failed();
        calls.push({ name: this.name, arguments: args });
        this.pos += suffix.length;
        this.state = "next";
        this.complete = true;
        continue;
      }
      if (suffix.startsWith(rest)) return { calls };
      return failed();
    }
  }
}

function parses(json: string): boolean {
  try {
    JSON.parse(json);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds where one JSON value ends in text that arrives in pieces. Returns the offset just past
 * the value within the piece, -1 while it continues, -2 when the text cannot be JSON.
 */
export class JsonScanner {
  private depth = 0;
  private inString = false;
  private escaped = false;
  private started = false;
  /** A bare scalar (number, true, false, null) at the top level. */
  private scalar = false;

  reset(): void {
    this.depth = 0;
    this.inString = this.escaped = this.started = this.scalar = false;
  }

  feed(piece: string): number {
    for (let i = 0; i < piece.length; i++) {
      const c = piece[i]!;
      if (!this.started) {
        if (WS.test(c)) continue;
        this.started = true;
        if (c === "{" || c === "[") this.depth = 1;
        else if (c === '"') this.inString = true;
        else if (/[-0-9tfn]/.test(c)) this.scalar = true;
        else return -2;
        continue;
      }
      if (this.scalar) {
        if (/[-+.0-9a-zA-Z]/.test(c)) continue;
        this.scalar = false;
        return i;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === "\\") this.escaped = true;
        else if (c === '"') {
          this.inString = false;
          if (this.depth === 0) return i + 1;
        }
        continue;
      }
      if (c === '"') this.inString = true;
      else if (c === "{" || c === "[") this.depth++;
      else if (c === "}" || c === "]") {
        this.depth--;
        if (this.depth === 0) return i + 1;
        if (this.depth < 0) return -2;
      }
    }
    return -1;
  }
}
