// A Messages answer in Anthropic's shapes: one Message body, or its streaming events
//   message_start, ping, (content_block_start, content_block_delta..., content_block_stop)...,
//   message_delta, message_stop
// Both are built from the same block operations (Blocks), so the streamed message always
// accumulates to the non-streamed one. Reasoning becomes thinking blocks (signature ""), content
// text blocks, and each whole tool call a tool_use block whose one input_json_delta carries all of
// its input (the pipeline emits calls only once their arguments are complete).
import { runChat, type PreparedChat } from "../../inference/chat-pipeline.ts";
import type { ChatEvent } from "../../inference/chat/types.ts";
import type { InferenceRequest, Usage } from "../../inference/types.ts";
import { ApiError } from "../errors.ts";
import { newId } from "../generation.ts";
import type { ModelUse } from "../models.ts";
import { sseResponse } from "../sse.ts";
import type { ApiDeps } from "../state.ts";

type Done = Extract<ChatEvent, { type: "done" }>;

interface MessageCall {
  id: string;
  /** Echoed back as Anthropic does. */
  model: string;
  stream: boolean;
  promptTokens: number;
  /** The request's stop_sequences: a stop string among them ends with stop_reason "stop_sequence". */
  stopSequences: readonly string[];
  /** max_tokens was lowered to the slot's room (request.ts). */
  clamped: boolean;
}

type StopReason = "end_turn" | "max_tokens" | "stop_sequence" | "tool_use" | "model_context_window_exceeded";

type Block =
  | { type: "text"; text: string }
  | { type: "thinking"; thinking: string; signature: string }
  | { type: "tool_use"; id: string; name: string; input: unknown };

type Delta =
  | { type: "text_delta"; text: string }
  | { type: "thinking_delta"; thinking: string }
  | { type: "signature_delta"; signature: string }
  | { type: "input_json_delta"; partial_json: string };

type BlockOp =
  | { type: "content_block_start"; index: number; content_block: Block }
  | { type: "content_block_delta"; index: number; delta: Delta }
  | { type: "content_block_stop"; index: number };

const toolUseId = (): string => `toolu_${newId().slice(0, 24)}`;

/** Turns pipeline events into block operations: consecutive text (or reasoning) pieces share a block. */
class Blocks {
  private open?: { kind: "text" | "thinking"; index: number };
  private count = 0;

  push(ev: ChatEvent): BlockOp[] {
    if (ev.type === "content" || ev.type === "reasoning") {
      const kind = ev.type === "content" ? "text" : "thinking";
      const ops: BlockOp[] = [];
      if (this.open?.kind !== kind) {
        ops.push(...this.close());
        const index = this.count++;
        this.open = { kind, index };
        const content_block: Block = kind === "text" ? { type: "text", text: "" } : { type: "thinking", thinking: "", signature: "" };
        ops.push({ type: "content_block_start", index, content_block });
      }
      const delta: Delta = kind === "text" ? { type: "text_delta", text: ev.text } : { type: "thinking_delta", thinking: ev.text };
      ops.push({ type: "content_block_delta", index: this.open!.index, delta });
      return ops;
    }
    if (ev.type !== "tool_call") return [];
    const index = this.count++;
    return [
      ...this.close(),
      { type: "content_block_start", index, content_block: { type: "tool_use", id: toolUseId(), name: ev.name, input: {} } },
      { type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: ev.arguments } },
      { type: "content_block_stop", index },
    ];
  }

  /** Ends the open text or thinking block; a thinking block gets its (empty) signature first. */
  close(): BlockOp[] {
    const open = this.open;
    if (!open) return [];
    this.open = undefined;
    const stop: BlockOp = { type: "content_block_stop", index: open.index };
    if (open.kind === "text") return [stop];
    return [{ type: "content_block_delta", index: open.index, delta: { type: "signature_delta", signature: "" } }, stop];
  }
}

function apply(content: Block[], op: BlockOp): void {
  if (op.type === "content_block_start") content[op.index] = { ...op.content_block };
  if (op.type !== "content_block_delta") return;
  const block = content[op.index]!;
  const d = op.delta;
  if (d.type === "text_delta" && block.type === "text") block.text += d.text;
  else if (d.type === "thinking_delta" && block.type === "thinking") block.thinking += d.thinking;
  else if (d.type === "signature_delta" && block.type === "thinking") block.signature = d.signature;
  else if (d.type === "input_json_delta" && block.type === "tool_use") block.input = JSON.parse(d.partial_json);
}

function stopOf(call: MessageCall, done: Done): { stop_reason: StopReason; stop_sequence: string | null } {
  const r = done.finishReason;
  if (r === "tool_calls") return { stop_reason: "tool_use", stop_sequence: null };
  if (r === "length") return { stop_reason: call.clamped ? "model_context_window_exceeded" : "max_tokens", stop_sequence: null };
  // A stop string of the template (its end of turn) is the model ending its turn, not a stop_sequence.
  const s = done.stopString;
  if (r === "stop" && s !== undefined && call.stopSequences.includes(s)) return { stop_reason: "stop_sequence", stop_sequence: s };
  return { stop_reason: "end_turn", stop_sequence: null };
}

/**
 * Anthropic counts input in three parts that add up to the prompt: input_tokens (evaluated now),
 * cache_read_input_tokens (reused from the slot's KV cache) and cache_creation_input_tokens (none:
 * Warren's prefix reuse needs no cache writes).
 */
function usageOf(promptTokens: number, cachedTokens: number, outputTokens: number) {
  return { input_tokens: promptTokens - cachedTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: cachedTokens, output_tokens: outputTokens };
}

function messageShell(call: MessageCall) {
  return { id: call.id, type: "message" as const, role: "assistant" as const, model: call.model };
}

type Note = (u: Usage) => void;

async function collect(call: MessageCall, events: AsyncIterable<ChatEvent>, note: Note) {
  const blocks = new Blocks();
  const content: Block[] = [];
  for await (const ev of events) {
    if (ev.type !== "done") {
      for (const op of blocks.push(ev)) apply(content, op);
      continue;
    }
    note(ev.usage);
    if (ev.finishReason === "error") throw new ApiError(500, "generation_failed", ev.error ?? "generation failed");
    for (const op of blocks.close()) apply(content, op);
    const u = ev.usage;
    return { ...messageShell(call), content, ...stopOf(call, ev), usage: usageOf(u.promptTokens, u.cachedTokens, u.completionTokens) };
  }
  throw new ApiError(500, "internal_error", "generation ended without a result");
}

const sse = (event: { type: string; [field: string]: unknown }): string => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;

function messageStart(call: MessageCall, cachedTokens: number): string {
  const message = { ...messageShell(call), content: [], stop_reason: null, stop_sequence: null, usage: usageOf(call.promptTokens, cachedTokens, 0) };
  return sse({ type: "message_start", message }) + sse({ type: "ping" });
}

async function* frames(call: MessageCall, events: AsyncIterable<ChatEvent>, note: Note): AsyncGenerator<string> {
  const blocks = new Blocks();
  let started = false;
  for await (const ev of events) {
    if (ev.type === "started") {
      started = true;
      yield messageStart(call, ev.cachedTokens);
    } else if (ev.type !== "done") {
      for (const op of blocks.push(ev)) yield sse(op);
    } else {
      note(ev.usage);
      if (ev.finishReason === "error") {
        // The status line is long gone; the SDK turns an `error` event into an APIError.
        yield sse({ type: "error", error: { type: "api_error", message: ev.error ?? "generation failed" } });
        return;
      }
      if (!started) yield messageStart(call, ev.usage.cachedTokens);
      for (const op of blocks.close()) yield sse(op);
      yield sse({ type: "message_delta", delta: stopOf(call, ev), usage: { output_tokens: ev.usage.completionTokens } });
      yield sse({ type: "message_stop" });
    }
  }
}

/**
 * Submit and answer. Admission errors (queue full, prompt too long) throw before anything is sent,
 * so they keep their own status code; later failures end a stream with an `error` event.
 */
export async function answerMessage(deps: ApiDeps, request: Request, model: ModelUse, call: MessageCall, inference: InferenceRequest, prepared: PreparedChat): Promise<Response | object> {
  const events = runChat(model, inference, prepared);
  const note: Note = (u) => deps.noteTokens?.(request, { prompt: u.promptTokens, completion: u.completionTokens });
  if (call.stream) return sseResponse(frames(call, events, note), {}, deps.sseKeepAliveMs);
  return collect(call, events, note);
}
