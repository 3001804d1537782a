// A chat completion's answer in OpenAI's shapes: one JSON body, or chat.completion.chunk events.
// Reasoning goes out as `reasoning_content` (llama-server, SGLang) and also as `reasoning` (vLLM,
// Ollama), so clients of either kind find it. A tool call is sent once it is complete: a chunk with
// its id and name, then one with its arguments. With n > 1 every choice has its index, and a stream
// ends each with its own finish chunk. Log-probabilities cover every generated token in order
// (reasoning and calls included), each entry on the chunk made from its token.
import { runChat, type PreparedChat } from "../../inference/chat-pipeline.ts";
import type { ChatEvent, ChatFinishReason } from "../../inference/chat/types.ts";
import type { InferenceRequest, TokenLogprobs, Usage } from "../../inference/types.ts";
import { ApiError } from "../errors.ts";
import { newId } from "../generation.ts";
import type { ModelUse } from "../models.ts";
import { sseData, sseResponse } from "../sse.ts";
import { BUILD_INFO, timingsJson } from "../timings.ts";
import type { ApiDeps } from "../state.ts";
import { logprobsWriter, type Logprobs } from "./logprobs.ts";
import { streamChunk, usageOf, type CallInfo } from "./request.ts";

type Finish = "stop" | "length" | "tool_calls";
type Done = Extract<ChatEvent, { type: "done" }>;

/** OpenAI knows stop, length and tool_calls here; a cancelled request has no reader left to tell. */
const finishOf = (r: ChatFinishReason): Finish => (r === "length" ? "length" : r === "tool_calls" ? "tool_calls" : "stop");

const toolCallId = (): string => `call_${newId().slice(0, 24)}`;

interface ToolCallOut {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** One choice of a whole answer. */
interface ChatChoice {
  content: string;
  reasoning: string;
  toolCalls: ToolCallOut[];
  finishReason: ChatFinishReason;
  logprobs: TokenLogprobs[];
}

/** Reads the whole answer (non-streamed requests). */
async function collectChat(events: AsyncIterable<ChatEvent>, n = 1): Promise<{ choices: ChatChoice[]; done: Done }> {
  const choices: ChatChoice[] = Array.from({ length: n }, () => ({ content: "", reasoning: "", toolCalls: [], finishReason: "stop", logprobs: [] }));
  for await (const ev of events) {
    if (ev.type === "started") continue;
    if (ev.type === "done") {
      if (n === 1) choices[0]!.finishReason = ev.finishReason;
      return { choices, done: ev };
    }
    const c = choices[ev.choice ?? 0]!;
    if (ev.type === "content") c.content += ev.text;
    else if (ev.type === "reasoning") c.reasoning += ev.text;
    else if (ev.type === "tool_call") c.toolCalls.push({ id: toolCallId(), type: "function", function: { name: ev.name, arguments: ev.arguments } });
    else if (ev.type === "finish") c.finishReason = ev.finishReason;
    if ((ev.type === "content" || ev.type === "reasoning" || ev.type === "logprobs") && ev.logprobs) for (const e of ev.logprobs) c.logprobs.push(e);
  }
  throw new ApiError(500, "internal_error", "generation ended without a result");
}

function message(c: ChatChoice): Record<string, unknown> {
  const m: Record<string, unknown> = { role: "assistant", content: c.content === "" && c.toolCalls.length > 0 ? null : c.content };
  if (c.reasoning) {
    m.reasoning_content = c.reasoning;
    m.reasoning = c.reasoning;
  }
  if (c.toolCalls.length > 0) m.tool_calls = c.toolCalls;
  m.refusal = null;
  return m;
}

function chatBody(call: CallInfo, choices: readonly ChatChoice[], done: Done, logprobs?: Logprobs) {
  return {
    id: call.id,
    object: "chat.completion",
    created: call.created,
    model: call.model,
    system_fingerprint: BUILD_INFO,
    choices: choices.map((c, i) => ({ index: i, message: message(c), logprobs: logprobs?.(i, c.logprobs) ?? null, finish_reason: finishOf(c.finishReason) })),
    usage: usageOf(done.usage),
    timings: timingsJson(done.timings, done.usage),
  };
}

function chunk(call: CallInfo, delta: Record<string, unknown>, finish: Finish | null, index = 0, logprobs: object | null = null, timings?: object): string {
  return streamChunk(call, "chat.completion.chunk", { index, delta, logprobs, finish_reason: finish }, timings);
}

type Note = (u: Usage) => void;

async function* chatFrames(call: CallInfo, events: AsyncIterable<ChatEvent>, note: Note, n: number, logprobs?: Logprobs): AsyncGenerator<string> {
  for (let i = 0; i < n; i++) yield chunk(call, { role: "assistant", content: "" }, null, i);
  const lp = (i: number, entries: TokenLogprobs[] | undefined) => (logprobs && entries ? logprobs(i, entries) : null);
  for await (const ev of events) {
    const i = ev.type === "started" || ev.type === "done" ? 0 : (ev.choice ?? 0);
    if (ev.type === "content") yield chunk(call, { content: ev.text }, null, i, lp(i, ev.logprobs));
    else if (ev.type === "reasoning") yield chunk(call, { reasoning_content: ev.text, reasoning: ev.text }, null, i, lp(i, ev.logprobs));
    else if (ev.type === "logprobs") {
      if (logprobs) yield chunk(call, {}, null, i, lp(i, ev.logprobs));
    } else if (ev.type === "tool_call") {
      const head = { index: ev.index, id: toolCallId(), type: "function", function: { name: ev.name, arguments: "" } };
      yield chunk(call, { tool_calls: [head] }, null, i);
      yield chunk(call, { tool_calls: [{ index: ev.index, function: { arguments: ev.arguments } }] }, null, i);
    } else if (ev.type === "finish") {
      // n > 1: each choice's own finish chunk. A failed or cancelled request ends below instead.
      if (ev.finishReason !== "error" && ev.finishReason !== "cancelled") yield chunk(call, {}, finishOf(ev.finishReason), ev.choice);
    } else if (ev.type === "done") {
      note(ev.usage);
      if (ev.finishReason === "error") {
        // The status line is long gone; the SDKs turn an `error` payload into an APIError.
        yield sseData({ error: { message: ev.error ?? "generation failed", type: "server_error", param: null, code: "generation_failed" } });
      } else {
        const timings = timingsJson(ev.timings, ev.usage);
        if (n === 1) yield chunk(call, {}, finishOf(ev.finishReason), 0, null, timings);
        if (call.includeUsage) {
          yield sseData({ id: call.id, object: "chat.completion.chunk", created: call.created, model: call.model, system_fingerprint: BUILD_INFO, choices: [], usage: usageOf(ev.usage), ...(n > 1 ? { timings } : {}) });
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
export async function answerChat(deps: ApiDeps, request: Request, model: ModelUse, call: CallInfo, inference: InferenceRequest, prepared: PreparedChat): Promise<Response | object> {
  const events = runChat(model, inference, prepared);
  const note: Note = (u) => deps.noteTokens?.(request, { prompt: u.promptTokens, completion: u.completionTokens });
  const n = inference.choices ?? 1;
  const logprobs = inference.logprobs !== undefined ? logprobsWriter("chat", model.engine, n) : undefined;
  if (call.stream) return sseResponse(chatFrames(call, events, note, n, logprobs), {}, deps.sseKeepAliveMs);
  const { choices, done } = await collectChat(events, n);
  note(done.usage);
  if (done.finishReason === "error") throw new ApiError(500, "generation_failed", done.error ?? "generation failed");
  return chatBody(call, choices, done, logprobs);
}
