// Server-sent events from a fetch body (EventSource cannot POST or send an API key): each event's
// data goes to `onData` as it arrives, until the stream ends or sends OpenAI's "[DONE]".
import { createParser } from "eventsource-parser";

/** Resolves when the stream ends; rejects with the fetch's AbortError when its signal fires. */
export async function readSse(body: ReadableStream<Uint8Array>, onData: (data: string) => void): Promise<void> {
  let done = false;
  const parser = createParser({
    onEvent(ev) {
      if (done) return;
      if (ev.data === "[DONE]") done = true;
      else onData(ev.data);
    },
  });
  const reader = body.getReader();
  const decoder = new TextDecoder();
  try {
    while (!done) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      parser.feed(decoder.decode(value, { stream: true }));
    }
  } finally {
    // After [DONE] the server closes the stream itself; cancelling an ended reader is a no-op.
    await reader.cancel().catch(() => {});
  }
}
