// Running one OpenAI-style request and shaping its answer: a whole JSON body, or SSE chunks
// (`data: {...}` then `data: [DONE]`) for stream=true. Chat and text completions differ only in
// their object names and in where the text goes (message/delta vs text). With n > 1 every choice
// has its index: a whole answer lists n choices, a stream interleaves their chunks and ends each
// with its own finish chunk.
import type { FinishReason, InferenceRequest, TokenEvent, Usage } from "../../inference/types.ts";
import { ApiError } from "../errors.ts";
import { readyScheduler } from "../generation.ts";
import { sseData, sseResponse } from "../sse.ts";
import type { ApiDeps } from "../state.ts";
import { runChoices, type ChoiceResult } from "./choices.ts";
import { logprobsWriter, type Logprobs } from "./logprobs.ts";
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

function choice(kind: Kind, text: string, finish: "stop" | "length", index = 0, logprobs: object | null = null) {
  if (kind === "text") return { index, text, logprobs, finish_reason: finish };
  return { index, message: { role: "assistant", content: text, refusal: null }, logprobs, finish_reason: finish };
}

/** `logprobs` writes a choice's entries when the request asked for them (see logprobs.ts). */
export function wholeBody(kind: Kind, call: CallInfo, choices: readonly ChoiceResult[], done: Done, logprobs?: Logprobs) {
  return {
    id: call.id,
    object: kind === "chat" ? "chat.completion" : "text_completion",
    created: call.created,
    model: call.model,
    choices: choices.map((c, i) => choice(kind, c.text, finishReason(c.finishReason), i, logprobs?.(i, c.logprobs) ?? null)),
    usage: usageOf(done.usage),
  };
}

function chunk(
  kind: Kind,
  call: CallInfo,
  delta: { role?: string; content?: string } | string,
  finish: "stop" | "length" | null,
  index = 0,
  logprobs: object | null = null,
) {
  const c =
    kind === "chat"
      ? { index, delta, logprobs, finish_reason: finish }
      : { index, text: delta as string, logprobs, finish_reason: finish };
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

async function* frames(kind: Kind, call: CallInfo, events: AsyncIterable<TokenEvent>, note: Note, n = 1, logprobs?: Logprobs): AsyncGenerator<string> {
  if (kind === "chat") for (let i = 0; i < n; i++) yield chunk(kind, call, { role: "assistant", content: "" }, null, i);
  for await (const ev of events) {
    if (ev.type === "text") {
      const i = ev.index ?? 0;
      // A chunk can carry entries and no text: a token whose text was empty, or cut by a stop string.
      if (ev.text.length > 0 || (logprobs && ev.logprobs)) {
        yield chunk(kind, call, kind === "chat" ? { content: ev.text } : ev.text, null, i, logprobs?.(i, ev.logprobs ?? []) ?? null);
      }
    } else if (ev.type === "finish") {
      // n > 1: each choice's own finish chunk. A failed or cancelled request ends below instead.
      if (ev.finishReason === "stop" || ev.finishReason === "length") yield chunk(kind, call, kind === "chat" ? {} : "", ev.finishReason, ev.index);
    } else if (ev.type === "done") {
      note(ev.usage);
      if (ev.finishReason === "error") {
        // The status line is long gone; the SDKs turn an `error` payload into an APIError.
        yield sseData({ error: { message: ev.error ?? "generation failed", type: "server_error", param: null, code: "generation_failed" } });
      } else {
        if (n === 1) yield chunk(kind, call, kind === "chat" ? {} : "", finishReason(ev.finishReason));
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
  const n = inference.choices ?? 1;
  const logprobs = inference.logprobs !== undefined ? logprobsWriter(kind, scheduler.engine, n) : undefined;
  if (call.stream) return sseResponse(frames(kind, call, events, note, n, logprobs), {}, deps.sseKeepAliveMs);
  const { choices, done } = await runChoices(events, n);
  note(done.usage);
  if (done.finishReason === "error") throw new ApiError(500, "generation_failed", done.error ?? "generation failed");
  return wholeBody(kind, call, choices, done, logprobs);
}
