// A text completion's answer (/v1/completions): a whole JSON body, or SSE chunks (`data: {...}`
// then `data: [DONE]`) for stream=true. With n > 1 every choice has its index: a whole answer lists
// n choices, a stream interleaves their chunks and ends each with its own finish chunk. Chat
// answers go through the chat pipeline instead (chat-answer.ts).
import type { FinishReason, InferenceRequest, TokenEvent, Usage } from "../../inference/types.ts";
import { ApiError } from "../errors.ts";
import type { ModelUse } from "../models.ts";
import { sseData, sseResponse } from "../sse.ts";
import { BUILD_INFO, timingsJson } from "../timings.ts";
import type { ApiDeps } from "../state.ts";
import { runChoices, type ChoiceResult } from "./choices.ts";
import { logprobsWriter, type Logprobs } from "./logprobs.ts";
import { streamChunk, usageOf, type CallInfo } from "./request.ts";

type Done = Extract<TokenEvent, { type: "done" }>;

/** OpenAI knows only stop and length here; a cancelled request has no reader left to tell. */
const finishReason = (r: FinishReason): "stop" | "length" => (r === "length" ? "length" : "stop");

/** `logprobs` writes a choice's entries when the request asked for them (see logprobs.ts). */
function completionBody(call: CallInfo, choices: readonly ChoiceResult[], done: Done, logprobs?: Logprobs) {
  return {
    id: call.id,
    object: "text_completion",
    created: call.created,
    model: call.model,
    system_fingerprint: BUILD_INFO,
    choices: choices.map((c, i) => ({ index: i, text: c.text, logprobs: logprobs?.(i, c.logprobs) ?? null, finish_reason: finishReason(c.finishReason) })),
    usage: usageOf(done.usage),
    timings: timingsJson(done.timings, done.usage),
  };
}

function chunk(call: CallInfo, text: string, finish: "stop" | "length" | null, index = 0, logprobs: object | null = null, timings?: object): string {
  return streamChunk(call, "text_completion", { index, text, logprobs, finish_reason: finish }, timings);
}

type Note = (u: Usage) => void;

async function* frames(call: CallInfo, events: AsyncIterable<TokenEvent>, note: Note, n: number, logprobs?: Logprobs): AsyncGenerator<string> {
  for await (const ev of events) {
    if (ev.type === "text") {
      const i = ev.index ?? 0;
      // A chunk can carry entries and no text: a token whose text was empty, or cut by a stop string.
      if (ev.text.length > 0 || (logprobs && ev.logprobs)) yield chunk(call, ev.text, null, i, logprobs?.(i, ev.logprobs ?? []) ?? null);
    } else if (ev.type === "finish") {
      // n > 1: each choice's own finish chunk. A failed or cancelled request ends below instead.
      if (ev.finishReason === "stop" || ev.finishReason === "length") yield chunk(call, "", ev.finishReason, ev.index);
    } else if (ev.type === "done") {
      note(ev.usage);
      if (ev.finishReason === "error") {
        // The status line is long gone; the SDKs turn an `error` payload into an APIError.
        yield sseData({ error: { message: ev.error ?? "generation failed", type: "server_error", param: null, code: "generation_failed" } });
      } else {
        const timings = timingsJson(ev.timings, ev.usage);
        if (n === 1) yield chunk(call, "", finishReason(ev.finishReason), 0, null, timings);
        if (call.includeUsage) {
          yield sseData({ id: call.id, object: "text_completion", created: call.created, model: call.model, system_fingerprint: BUILD_INFO, choices: [], usage: usageOf(ev.usage), ...(n > 1 ? { timings } : {}) });
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
export async function answerCompletion(deps: ApiDeps, request: Request, model: ModelUse, call: CallInfo, inference: InferenceRequest): Promise<Response | object> {
  const events = model.submit(inference);
  const note: Note = (u) => deps.noteTokens?.(request, { prompt: u.promptTokens, completion: u.completionTokens });
  const n = inference.choices ?? 1;
  const logprobs = inference.logprobs !== undefined ? logprobsWriter("text", model.engine, n) : undefined;
  if (call.stream) return sseResponse(frames(call, events, note, n, logprobs), {}, deps.sseKeepAliveMs);
  const { choices, done } = await runChoices(events, n);
  note(done.usage);
  if (done.finishReason === "error") throw new ApiError(500, "generation_failed", done.error ?? "generation failed");
  return completionBody(call, choices, done, logprobs);
}
