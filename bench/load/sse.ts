// Incremental text/event-stream parser (WHATWG HTML "Server-sent events", event stream interpretation).
// Bytes may arrive split anywhere: inside a UTF-8 sequence (TextDecoder's stream mode holds the partial
// sequence back) and between the CR and LF of a CRLF (a trailing CR is remembered, so the LF that may
// follow in the next chunk does not end a second, empty line and dispatch an event early).

export interface SseEvent {
  /** "message" unless an `event:` field named it. */
  readonly event: string;
  /** The `data:` lines joined by "\n". */
  readonly data: string;
  readonly id: string | null;
}

export class SseParser {
  private readonly decoder = new TextDecoder("utf-8");
  /** Text after the last line break, waiting for the rest of its line. */
  private rest = "";
  /** The previous chunk ended in CR: a leading LF in the next chunk belongs to that line break. */
  private skipLf = false;
  private data: string[] = [];
  private eventType = "";
  private lastId: string | null = null;
  /** Comment lines seen (servers send `: ...` as keep-alives). */
  comments = 0;

  push(bytes: Uint8Array): SseEvent[] {
    return this.pushText(this.decoder.decode(bytes, { stream: true }));
  }

  /**
   * End of stream. Per the spec an event not terminated by a blank line is discarded;
   * `pendingData` tells the caller whether that happened (a truncated stream).
   */
  end(): { events: SseEvent[]; pendingData: boolean } {
    const events = this.pushText(this.decoder.decode());
    const pendingData = this.data.length > 0 || this.rest.startsWith("data");
    this.rest = "";
    this.data = [];
    return { events, pendingData };
  }

  pushText(text: string): SseEvent[] {
    if (this.skipLf && text.length > 0) {
      this.skipLf = false;
      if (text.charCodeAt(0) === 10) text = text.slice(1);
    }
    if (text.length === 0) return [];
    const buf = this.rest + text;
    const events: SseEvent[] = [];
    let start = 0;
    for (;;) {
      const brk = nextBreak(buf, start);
      if (brk < 0) break;
      this.line(buf.slice(start, brk), events);
      if (buf.charCodeAt(brk) === 13) {
        if (brk + 1 === buf.length) {
          this.skipLf = true;
          start = brk + 1;
          break;
        }
        start = buf.charCodeAt(brk + 1) === 10 ? brk + 2 : brk + 1;
      } else {
        start = brk + 1;
      }
    }
    this.rest = buf.slice(start);
    return events;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line.length === 0) {
      if (this.data.length > 0) out.push({ event: this.eventType || "message", data: this.data.join("\n"), id: this.lastId });
      this.data = [];
      this.eventType = "";
      return;
    }
    if (line.charCodeAt(0) === 58 /* ':' */) {
      this.comments++;
      return;
    }
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.eventType = value;
    else if (field === "id" && !value.includes("\0")) this.lastId = value;
    // "retry" and unknown fields are ignored, as the spec says.
  }
}

/** Index of the next CR or LF at or after `from`, or -1. */
function nextBreak(s: string, from: number): number {
  const lf = s.indexOf("\n", from);
  const cr = s.indexOf("\r", from);
  if (cr < 0) return lf;
  if (lf < 0) return cr;
  return Math.min(cr, lf);
}
