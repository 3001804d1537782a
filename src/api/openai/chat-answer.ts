// A chat completion's answer in OpenAI's shapes: one JSON body, or chat.completion.chunk events.
// Reasoning goes out as `reasoning_content` (llama-server, SGLang) and also as `reasoning` (vLLM,
// Ollama), so clients of either kind find it. A tool call is sent once it is complete: a chunk with
// its id and name, then one with its arguments.
import { runChat, type PreparedChat } from "../../inference/chat/pipeline.ts";
import type { ChatEvent, ChatFinishReason } from "../../inference/chat/types.ts";
import type { InferenceRequest, Usage } from "../../inference/types.ts";
import { ApiError } from "../errors.ts";
import { newId, readyScheduler } from "../generation.ts";
import { sseData, sseResponse } from "../sse.ts";
import type { ApiDeps } from "../state.ts";
import type { CallInfo } from "./request.ts";
import { usageOf } from "./respond.ts";

type Finish = "stop" | "length" | "tool_calls";
type Done = Extract<ChatEvent, { type: "done" }>;

/** OpenAI knows stop, length and tool_calls here; a cancelled request has no reader left to tell. */
const finishOf = (r: ChatFinishReason): Finish => (r === "length" ? "length" : r === "tool_calls" ? "tool_calls" : "stop");

export const toolCallId = (): string => `call_${newId().slice(0, 24)}`;

interface ToolCallOut {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export interface ChatAnswer {
  content: string;
  reasoning: string;
  toolCalls: ToolCallOut[];
  done: Done;
}

/** Reads the whole answer (non-streamed requests, and tests). */
export async function collectChat(events: AsyncIterable<ChatEvent>): Promise<ChatAnswer> {
  const a = { content: "", reasoning: "", toolCalls: [] as ToolCallOut[] };
  for await (const ev of events) {
    if (ev.type === "content") a.content += ev.text;
    else if (ev.type === "reasoning") a.reasoning += ev.text;
    else if (ev.type === "tool_call") a.toolCalls.push({ id: toolCallId(), type: "function", function: { name: ev.name, arguments: ev.arguments } });
    else if (ev.type === "done") return { ...a, done: ev };
  }
  throw new ApiError(500, "internal_error", "generation ended without a result");
}

export function chatBody(call: CallInfo, a: ChatAnswer) {
  const message: Record<string, unknown> = { role: "assistant", content: a.content === "" && a.toolCalls.length > 0 ? null : a.content };
  if (a.reasoning) {
    message.reasoning_content = a.reasoning;
    message.reasoning = a.reasoning;
  }
  if (a.toolCalls.length > 0) message.tool_calls = a.toolCalls;
  message.refusal = null;
  return {
    id: call.id,
    object: "chat.completion",
    created: call.created,
    model: call.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishOf(a.done.finishReason) }],
    usage: usageOf(a.done.usage),
  };
}

function chunk(call: CallInfo, delta: Record<string, unknown>, finish: Finish | null): string {
  return sseData({
    id: call.id,
    object: "chat.completion.chunk",
    created: call.created,
    model: call.model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    // With include_usage every chunk carries usage: null and one last chunk the totals.
    ...(call.includeUsage ? { usage: null } : {}),
  });
}

type Note = (u: Usage) => void;

async function* chatFrames(call: CallInfo, events: AsyncIterable<ChatEvent>, note: Note): AsyncGenerator<string> {
  yield chunk(call, { role: "assistant", content: "" }, null);
  for await (const ev of events) {
    if (ev.type === "content") yield chunk(call, { content: ev.text }, null);
    else if (ev.type === "reasoning") yield chunk(call, { reasoning_content: ev.text, reasoning: ev.text }, null);
    else if (ev.type === "tool_call") {
      const head = { index: ev.index, id: toolCallId(), type: "function", function: { name: ev.name, arguments: "" } };
      yield chunk(call, { tool_calls: [head] }, null);
      yield chunk(call, { tool_calls: [{ index: ev.index, function: { arguments: ev.arguments } }] }, null);
    } else if (ev.type === "done") {
      note(ev.usage);
      if (ev.finishReason === "error") {
        // The status line is long gone; the SDKs turn an `error` payload into an APIError.
        yield sseData({ error: { message: ev.error ?? "generation failed", type: "server_error", param: null, code: "generation_failed" } });
      } else {
        yield chunk(call, {}, finishOf(ev.finishReason));
        if (call.includeUsage) {
          yield sseData({ id: call.id, object: "chat.completion.chunk", created: call.created, model: call.model, choices: [], usage: usageOf(ev.usage) });
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
export async function answerChat(deps: ApiDeps, request: Request, call: CallInfo, inference: InferenceRequest, prepared: PreparedChat): Promise<Response | object> {
  const events = runChat(readyScheduler(deps.state), inference, prepared);
  const note: Note = (u) => deps.noteTokens?.(request, { prompt: u.promptTokens, completion: u.completionTokens });
  if (call.stream) return sseResponse(chatFrames(call, events, note), {}, deps.sseKeepAliveMs);
  const answer = await collectChat(events);
  note(answer.done.usage);
  if (answer.done.finishReason === "error") throw new ApiError(500, "generation_failed", answer.done.error ?? "generation failed");
  return chatBody(call, answer);
}
