// The output items of a response, built from the chat pipeline's events, and the stream events
// that build them. One builder serves both answers: a whole response reads `output` once the
// events are in, a stream sends each event as it comes. So streamed and whole answers hold the
// same items by construction.
//
// Text arrives in pieces and streams into an open item (a message's output_text, a reasoning
// item's reasoning_text); a kind change closes it and opens the next. A tool call arrives whole
// (the pipeline emits it once its JSON is complete), so it is added, given its arguments and
// done at once. Event shapes follow the openai SDK's ResponseStreamEvent types, whose stream
// helper checks item ids, output indexes and content indexes against what it has accumulated.
import type { ChatEvent, ChatFinishReason } from "../../inference/chat/types.ts";
import { newId } from "../generation.ts";

type ItemStatus = "in_progress" | "completed" | "incomplete";

interface OutputText {
  type: "output_text";
  text: string;
  annotations: never[];
  logprobs: never[];
}

interface MessageItem {
  id: string;
  type: "message";
  status: ItemStatus;
  role: "assistant";
  content: OutputText[];
}

interface ReasoningItem {
  id: string;
  type: "reasoning";
  status: ItemStatus;
  summary: never[];
  content: Array<{ type: "reasoning_text"; text: string }>;
}

interface CallItem {
  id: string;
  type: "function_call";
  status: ItemStatus;
  call_id: string;
  name: string;
  arguments: string;
}

export type OutputItem = MessageItem | ReasoningItem | CallItem;
/** A stream event without its sequence_number (the sender numbers them). */
export type StreamEvent = { type: string } & Record<string, unknown>;

const id = (prefix: string): string => `${prefix}_${newId()}`;
const copy = <T>(v: T): T => structuredClone(v);

export class OutputBuilder {
  readonly output: OutputItem[] = [];
  /** Tokens generated up to the end of the last reasoning text: usage's reasoning_tokens. */
  reasoningTokens = 0;
  private open?: MessageItem | ReasoningItem;

  push(ev: ChatEvent): StreamEvent[] {
    if (ev.type === "content") return this.text("message", ev.text);
    if (ev.type === "reasoning") {
      this.reasoningTokens = ev.tokens ?? this.reasoningTokens;
      return this.text("reasoning", ev.text);
    }
    if (ev.type === "tool_call") return [...this.close("completed"), ...this.call(ev.name, ev.arguments)];
    return [];
  }

  /**
   * The answer ended: the open item is done, "incomplete" when max_output_tokens (or a failure)
   * cut it. A finished answer with neither text nor calls still gets its (empty) message, so
   * clients find one; a cut one ends where it was cut, as OpenAI's do.
   */
  finish(reason: ChatFinishReason): StreamEvent[] {
    const cut = reason === "length" || reason === "error";
    const out = this.close(cut ? "incomplete" : "completed");
    if (!cut && !this.output.some((i) => i.type !== "reasoning")) out.push(...this.text("message", ""), ...this.close("completed"));
    return out;
  }

  private text(kind: "message" | "reasoning", delta: string): StreamEvent[] {
    const out: StreamEvent[] = [];
    if (this.open?.type !== kind) out.push(...this.close("completed"), ...this.start(kind));
    const item = this.open!;
    if (delta === "") return out;
    item.content[0]!.text += delta;
    const at = { item_id: item.id, output_index: this.output.length - 1, content_index: 0 };
    if (kind === "message") out.push({ type: "response.output_text.delta", ...at, delta, logprobs: [] });
    else out.push({ type: "response.reasoning_text.delta", ...at, delta });
    return out;
  }

  private start(kind: "message" | "reasoning"): StreamEvent[] {
    const item: MessageItem | ReasoningItem =
      kind === "message"
        ? { id: id("msg"), type: "message", status: "in_progress", role: "assistant", content: [] }
        : { id: id("rs"), type: "reasoning", status: "in_progress", summary: [], content: [] };
    const output_index = this.output.push(item) - 1;
    const added = { type: "response.output_item.added", output_index, item: copy(item) };
    const part = kind === "message" ? { type: "output_text" as const, text: "", annotations: [], logprobs: [] } : { type: "reasoning_text" as const, text: "" };
    (item.content as Array<typeof part>).push(part);
    this.open = item;
    return [added, { type: "response.content_part.added", item_id: item.id, output_index, content_index: 0, part: copy(part) }];
  }

  private close(status: ItemStatus): StreamEvent[] {
    const item = this.open;
    if (!item) return [];
    this.open = undefined;
    const at = { item_id: item.id, output_index: this.output.indexOf(item), content_index: 0 };
    const part = item.content[0]!;
    item.status = status;
    return [
      item.type === "message"
        ? { type: "response.output_text.done", ...at, text: part.text, logprobs: [] }
        : { type: "response.reasoning_text.done", ...at, text: part.text },
      { type: "response.content_part.done", ...at, part: copy(part) },
      { type: "response.output_item.done", output_index: at.output_index, item: copy(item) },
    ];
  }

  private call(name: string, args: string): StreamEvent[] {
    const item: CallItem = { id: id("fc"), type: "function_call", status: "in_progress", call_id: id("call"), name, arguments: "" };
    const output_index = this.output.push(item) - 1;
    const added = { type: "response.output_item.added", output_index, item: copy(item) };
    item.arguments = args;
    item.status = "completed";
    return [
      added,
      { type: "response.function_call_arguments.delta", item_id: item.id, output_index, delta: args },
      { type: "response.function_call_arguments.done", item_id: item.id, output_index, arguments: args },
      { type: "response.output_item.done", output_index, item: copy(item) },
    ];
  }
}
