// Reads a text/event-stream body as it arrives. The event stream grammar (CR, LF and CRLF line
// ends, a CRLF split across reads, comments, multi-line data, the BOM) is eventsource-parser's;
// this adapter adds what a load test needs on top: bytes in (UTF-8 split across reads is held back
// by TextDecoder's stream mode), events out per read, and at the end whether an event was cut off.

import { createParser, type EventSourceParser } from "eventsource-parser";

export interface SseEvent {
  /** "message" unless an `event:` field named it. */
  readonly event: string;
  /** The `data:` lines joined by "\n". */
  readonly data: string;
  readonly id: string | null;
}

export class SseParser {
  private readonly decoder = new TextDecoder("utf-8");
  private readonly parser: EventSourceParser;
  /** Events completed by the text fed so far, handed out by push() and end(). */
  private ready: SseEvent[] = [];
  /** The last event ID seen; like EventSource's, it lasts until the stream sets another. */
  private lastId: string | null = null;
  /** Comment lines seen (servers send `: ...` as keep-alives). */
  comments = 0;

  constructor() {
    this.parser = createParser({
      onEvent: (m) => {
        if (m.id !== undefined) this.lastId = m.id;
        this.ready.push({ event: m.event ?? "message", data: m.data, id: this.lastId });
      },
      onComment: () => void this.comments++,
    });
  }

  push(bytes: Uint8Array): SseEvent[] {
    const text = this.decoder.decode(bytes, { stream: true });
    if (text !== "") this.parser.feed(text);
    return this.take();
  }

  /**
   * End of stream. Per the spec an event not terminated by a blank line is discarded;
   * `pendingData` tells the caller whether that happened (a truncated stream).
   */
  end(): { events: SseEvent[]; pendingData: boolean } {
    const tail = this.decoder.decode();
    if (tail !== "") this.parser.feed(tail);
    const events = this.take();
    // Two line ends complete whatever the stream left unterminated (the first ends a cut line or
    // is swallowed by a CR the stream ended on, the second is the blank line): any event they
    // release was cut off.
    this.parser.feed("\n\n");
    const pendingData = this.take().length > 0;
    this.parser.reset();
    return { events, pendingData };
  }

  private take(): SseEvent[] {
    const out = this.ready;
    this.ready = [];
    return out;
  }
}
