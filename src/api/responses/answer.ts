// A response object in the Responses API's shape, whole or as a stream of named SSE events:
// response.created, response.in_progress, the output events (output.ts), then one of
// response.completed, response.incomplete (max_output_tokens reached) or response.failed. Every
// event carries a sequence_number, counted from 0.
import type { ChatEvent } from "../../inference/chat/types.ts";
import type { Usage } from "../../inference/types.ts";
import { ApiError } from "../errors.ts";
import { sseResponse } from "../sse.ts";
import type { ApiDeps } from "../state.ts";
import { OutputBuilder, type OutputItem, type StreamEvent } from "./output.ts";

/** What every snapshot of one response shares. */
export interface ResponseHead {
  id: string;
  /** Unix seconds. */
  createdAt: number;
  model: string;
  /** The request's settings, echoed as the official schema has them (instructions, tools, temperature, ...). */
  settings: Record<string, unknown>;
}

type Status = "in_progress" | "completed" | "incomplete" | "failed";

interface Snapshot {
  status: Status;
  output: OutputItem[];
  usage?: ReturnType<typeof usageOf>;
  error?: { code: "server_error"; message: string };
}

function responseObject(head: ResponseHead, s: Snapshot) {
  const now = Math.floor(Date.now() / 1000);
  return {
    id: head.id,
    object: "response" as const,
    created_at: head.createdAt,
    status: s.status,
    completed_at: s.status === "completed" ? now : null,
    error: s.error ?? null,
    incomplete_details: s.status === "incomplete" ? { reason: "max_output_tokens" as const } : null,
    model: head.model,
    output: s.output,
    usage: s.usage ?? null,
    ...head.settings,
  };
}

function usageOf(u: Usage, reasoningTokens: number) {
  return {
    input_tokens: u.promptTokens,
    input_tokens_details: { cached_tokens: u.cachedTokens },
    output_tokens: u.completionTokens,
    output_tokens_details: { reasoning_tokens: reasoningTokens },
    total_tokens: u.promptTokens + u.completionTokens,
  };
}

type Done = Extract<ChatEvent, { type: "done" }>;

/** The finished response. A cancelled request has nobody left to read it, so it reads as completed. */
function finalSnapshot(b: OutputBuilder, done: Done): Snapshot {
  const reason = done.finishReason;
  const status: Status = reason === "error" ? "failed" : reason === "length" ? "incomplete" : "completed";
  const s: Snapshot = { status, output: b.output, usage: usageOf(done.usage, Math.min(b.reasoningTokens, done.usage.completionTokens)) };
  if (status === "failed") s.error = { code: "server_error", message: done.error ?? "generation failed" };
  return s;
}

type Note = (u: Usage) => void;

async function* frames(head: ResponseHead, events: AsyncIterable<ChatEvent>, note: Note): AsyncGenerator<string> {
  let seq = 0;
  // One write per pipeline event: the events a token causes go out together.
  const send = (evs: StreamEvent[]) => evs.map((ev) => `event: ${ev.type}\ndata: ${JSON.stringify({ ...ev, sequence_number: seq++ })}\n\n`).join("");
  const b = new OutputBuilder();
  const opening = responseObject(head, { status: "in_progress", output: [] });
  yield send([
    { type: "response.created", response: opening },
    { type: "response.in_progress", response: opening },
  ]);
  for await (const ev of events) {
    if (ev.type !== "done") {
      const out = send(b.push(ev));
      if (out !== "") yield out;
      continue;
    }
    note(ev.usage);
    const closing = b.finish(ev.finishReason);
    const final = finalSnapshot(b, ev);
    yield send([...closing, { type: `response.${final.status}`, response: responseObject(head, final) }]);
  }
}

/**
 * Answers from the pipeline's events, already submitted (admission errors were thrown before, so
 * they keep their status codes). A failure during a stream ends it with response.failed.
 */
export async function answerResponse(
  deps: ApiDeps,
  request: Request,
  head: ResponseHead,
  stream: boolean,
  events: AsyncGenerator<ChatEvent>,
): Promise<Response | object> {
  const note: Note = (u) => deps.noteTokens?.(request, { prompt: u.promptTokens, completion: u.completionTokens });
  if (stream) return sseResponse(frames(head, events, note), {}, deps.sseKeepAliveMs);
  const b = new OutputBuilder();
  for await (const ev of events) {
    if (ev.type !== "done") {
      b.push(ev);
      continue;
    }
    note(ev.usage);
    if (ev.finishReason === "error") throw new ApiError(500, "generation_failed", ev.error ?? "generation failed");
    b.finish(ev.finishReason);
    return responseObject(head, finalSnapshot(b, ev));
  }
  throw new ApiError(500, "internal_error", "generation ended without a result");
}
