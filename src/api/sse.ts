// Server-sent events from an async source of frames. Pull-based: the next frame is produced only
// when the transport asks for it, so a slow reader slows generation down instead of piling text up,
// and cancelling the body (client gone) returns the source, which cancels the inference request.
import { API_SSE_KEEPALIVE_MS } from "../limits.ts";

const KEEPALIVE = ": keep-alive\n\n";
const encoder = new TextEncoder();

const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  // nginx buffers proxied responses unless told not to; a token stream must pass through as it comes.
  "x-accel-buffering": "no",
};

export function sseResponse(frames: AsyncIterator<string>, headers: Record<string, string> = {}, keepAliveMs = API_SSE_KEEPALIVE_MS): Response {
  // One interval per stream rather than a timer per frame: frames come per token, keep-alives rarely.
  let sentSinceTick = false;
  let timer: ReturnType<typeof setInterval> | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      timer = setInterval(() => {
        if (!sentSinceTick && (controller.desiredSize ?? 0) > 0) controller.enqueue(encoder.encode(KEEPALIVE));
        sentSinceTick = false;
      }, keepAliveMs);
    },
    async pull(controller) {
      const r = await frames.next();
      sentSinceTick = true;
      if (r.done) {
        clearInterval(timer);
        controller.close();
      } else controller.enqueue(encoder.encode(r.value));
    },
    async cancel() {
      clearInterval(timer);
      await frames.return?.();
    },
  });
  return new Response(body, { status: 200, headers: { ...SSE_HEADERS, ...headers } });
}

export const sseData = (value: unknown): string => `data: ${JSON.stringify(value)}\n\n`;
