// Running one OpenAI-style request and shaping its answer: a whole JSON body, or SSE chunks
// (`data: {...}` then `data: [DONE]`) for stream=true. Chat and text completions differ only in
// their object names and in where the text goes (message/delta vs text).
import type { FinishReason, InferenceRequest, TokenEvent, Usage } from "../../inference/types.ts";
import { ApiError } from "../errors.ts";
import { readyScheduler, runToEnd } from "../generation.ts";
import { sseData, sseResponse } from "../sse.ts";
import type { ApiDeps } from "../state.ts";
import type { CallInfo } from "./request.ts";

export type Kind = "chat" | "text";
type Done = Extract<TokenEvent, { type: "done" }>;

export interface OpenAiUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

export function usageOf(u: Usage): OpenAiUsage {
  return {
    prompt_tokens: u.promptTokens,
    completion_tokens: u.completionTokens,
    total_tokens: u.promptTokens + u.completionTokens,
    prompt_tokens_details: { cached_tokens: u.cachedTokens },
  };
}

/** OpenAI knows only stop and length here; a cancelled request has no reader left to tell. */
export const finishReason = (r: FinishReason): "stop" | "length" => (r === "length" ? "length" : "stop");

function choice(kind: Kind, text: string, finish: "stop" | "length") {
  if (kind === "text") return { index: 0, text, logprobs: null, finish_reason: finish };
  return { index: 0, message: { role: "assistant", content: text, refusal: null }, logprobs: null, finish_reason: finish };
}

export function wholeBody(kind: Kind, call: CallInfo, text: string, done: Done) {
  return {
    id: call.id,
    object: kind === "chat" ? "chat.completion" : "text_completion",
    created: call.created,
    model: call.model,
    choices: [choice(kind, text, finishReason(done.finishReason))],
    usage: usageOf(done.usage),
  };
}

function chunk(kind: Kind, call: CallInfo, delta: { role?: string; content?: string } | string, finish: "stop" | "length" | null) {
  const c =
    kind === "chat"
      ? { index: 0, delta, logprobs: null, finish_reason: finish }
      : { index: 0, text: delta as string, logprobs: null, finish_reason: finish };
  return sseData({
    id: call.id,
    object: kind === "chat" ? "chat.completion.chunk" : "text_completion",
    created: call.created,
    model: call.model,
    choices: [c],
    // With include_usage every chunk carries usage: null and one last chunk the totals.
    ...(call.includeUsage ? { usage: null } : {}),
  });
}

type Note = (u: Usage) => void;

async function* frames(kind: Kind, call: CallInfo, events: AsyncIterable<TokenEvent>, note: Note): AsyncGenerator<string> {
  if (kind === "chat") yield chunk(kind, call, { role: "assistant", content: "" }, null);
  for await (const ev of events) {
    if (ev.type === "text") {
      if (ev.text.length > 0) yield chunk(kind, call, kind === "chat" ? { content: ev.text } : ev.text, null);
    } else if (ev.type === "done") {
      note(ev.usage);
      if (ev.finishReason === "error") {
        // The status line is long gone; the SDKs turn an `error` payload into an APIError.
        yield sseData({ error: { message: ev.error ?? "generation failed", type: "server_error", param: null, code: "generation_failed" } });
      } else {
        yield chunk(kind, call, kind === "chat" ? {} : "", finishReason(ev.finishReason));
        if (call.includeUsage) {
          const base = { id: call.id, object: kind === "chat" ? "chat.completion.chunk" : "text_completion", created: call.created, model: call.model };
          yield sseData({ ...base, choices: [], usage: usageOf(ev.usage) });
        }
      }
    }
  }
  yield "data: [DONE]\n\n";
}

/**
 * Submit and answer. Admission errors (queue full, prompt too long) throw before anything is sent,
 * so they still get their own status code; later failures end a stream with an error event.
 */
export async function respond(deps: ApiDeps, request: Request, kind: Kind, call: CallInfo, inference: InferenceRequest): Promise<Response | object> {
  const scheduler = readyScheduler(deps.state);
  const events = scheduler.submit(inference);
  const note: Note = (u) => deps.noteTokens?.(request, { prompt: u.promptTokens, completion: u.completionTokens });
  if (call.stream) return sseResponse(frames(kind, call, events, note), {}, deps.sseKeepAliveMs);
  const { text, done } = await runToEnd(events);
  note(done.usage);
  if (done.finishReason === "error") throw new ApiError(500, "generation_failed", done.error ?? "generation failed");
  return wholeBody(kind, call, text, done);
}
