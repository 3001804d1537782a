// A Responses request -> the chat pipeline's request. Input items are flat (a reasoning item, an
// assistant message and its function_call items are separate entries), while the pipeline, like
// the templates, wants one assistant turn holding its reasoning, text and calls: consecutive
// assistant-side items are folded into one turn, and function_call_output items become tool
// results, paired with their calls by call_id (pairToolResults).
import { pairToolResults, type HistoryItem } from "../../inference/chat/history.ts";
import type { ChatRequest, ToolChoice, ToolSpec } from "../../inference/chat/types.ts";
import { INFERENCE_MAX_PROMPT_CHARS } from "../../limits.ts";
import { ApiError } from "../errors.ts";
import { parseToolArguments } from "../openai/request.ts";
import type { InputItemT, PartT, ResponsesBodyT } from "./schemas.ts";

const invalid = (param: string, message: string) => new ApiError(400, "invalid_request", `${param}: ${message}`, param);
const unsupported = (param: string, message: string) => new ApiError(400, "unsupported_parameter", `${param}: ${message}`, param);

type Turn = Extract<HistoryItem, { role: "assistant" }>;
type Calls = NonNullable<Turn["toolCalls"]>;

/** The items so far and, per item, the request field it came from (for pairToolResults' errors). */
class History {
  readonly items: HistoryItem[] = [];
  readonly origin: string[] = [];
  /** The assistant turn that reasoning, text and calls are still joining. */
  turn?: Turn & { toolCalls: Calls };

  add(item: HistoryItem, param: string): void {
    this.items.push(item);
    this.origin.push(param);
    this.turn = undefined;
  }

  /** The open turn, or a new one when `fits` says the open one cannot take this item. */
  assistant(param: string, fits: (t: Turn & { toolCalls: Calls }) => boolean): Turn & { toolCalls: Calls } {
    if (this.turn && fits(this.turn)) return this.turn;
    const turn = { role: "assistant" as const, text: "", toolCalls: [] as Calls };
    this.add(turn, param);
    this.turn = turn;
    return turn;
  }
}

const TEXT_PARTS = ["input_text", "output_text", "reasoning_text", "summary_text"];

/** Only text goes to the model; images, files and audio are refused by name. */
function partsText(parts: string | readonly PartT[], param: string): string {
  if (typeof parts === "string") return parts;
  let text = "";
  parts.forEach((p, j) => {
    const at = `${param}[${j}]`;
    if (p.type !== "refusal" && !TEXT_PARTS.includes(p.type)) throw unsupported(`${at}.type`, `only text parts are supported; got "${p.type}"`);
    const value = p.type === "refusal" ? p.refusal : p.text;
    if (value == null) throw invalid(at, `a "${p.type}" part needs its ${p.type === "refusal" ? "refusal" : "text"}`);
    text += value;
  });
  return text;
}

function required<T>(value: T | null | undefined, param: string, what: string): T {
  if (value == null || value === "") throw invalid(param, `${what} is required`);
  return value;
}

const ROLES = ["user", "system", "developer", "assistant"];

function addMessage(h: History, it: InputItemT, param: string): void {
  const role = required(it.role, `${param}.role`, "a message's role");
  if (!ROLES.includes(role)) throw invalid(`${param}.role`, `must be one of ${ROLES.join(", ")}; got "${role}"`);
  const text = partsText(required(it.content, `${param}.content`, "a message's content"), `${param}.content`);
  if (role !== "assistant") return h.add({ role: role === "developer" ? "system" : (role as "user" | "system"), text }, param);
  // Text joins a turn that so far holds only reasoning; a second message is a turn of its own.
  h.assistant(param, (t) => t.text === "" && t.toolCalls.length === 0).text = text;
}

function addItem(h: History, it: InputItemT, param: string): void {
  const type = it.type ?? (it.role != null ? "message" : undefined);
  switch (type) {
    case "message":
      return addMessage(h, it, param);
    case "function_call": {
      const name = required(it.name, `${param}.name`, "a function call's name");
      const callId = required(it.call_id, `${param}.call_id`, "a function call's call_id");
      const args = parseToolArguments(it.arguments ?? "", `${param}.arguments`);
      h.assistant(param, () => true).toolCalls.push({ id: callId, name, arguments: args, param: `${param}.call_id` });
      return;
    }
    case "function_call_output": {
      const text = partsText(required(it.output, `${param}.output`, "a function call's output"), `${param}.output`);
      return h.add({ role: "tool", callId: it.call_id ?? undefined, text }, param);
    }
    case "reasoning": {
      // The text the model wrote (reasoning_text), else its summary; encrypted content is another server's.
      const text = partsText(it.content ?? [], `${param}.content`) || partsText(it.summary ?? [], `${param}.summary`);
      if (text === "") return;
      const turn = h.assistant(param, (t) => t.text === "" && t.toolCalls.length === 0);
      turn.reasoning = turn.reasoning ? `${turn.reasoning}\n${text}` : text;
      return;
    }
    case "item_reference":
      throw unsupported(param, "item references need stored items, and this server is stateless (it keeps nothing between requests): send the items themselves");
    case undefined:
      throw invalid(`${param}.type`, "is required for an item that is not a message (no role)");
    default:
      throw unsupported(`${param}.type`, `items of type "${type}" are not supported; send message, function_call, function_call_output or reasoning items`);
  }
}

/** The conversation as the pipeline's messages, instructions first. */
function messagesOf(b: ResponsesBodyT): ChatRequest["messages"] {
  const h = new History();
  if (b.instructions) h.add({ role: "system", text: b.instructions }, "instructions");
  if (typeof b.input === "string") h.add({ role: "user", text: b.input }, "input");
  else b.input.forEach((it, i) => addItem(h, it, `input[${i}]`));
  if (h.items.length === 0) throw invalid("input", "needs at least one message");
  let chars = 0;
  for (const item of h.items) chars += item.text.length + (item.role === "assistant" ? (item.reasoning?.length ?? 0) : 0);
  if (chars > INFERENCE_MAX_PROMPT_CHARS) throw invalid("input", `${chars} characters in all; at most ${INFERENCE_MAX_PROMPT_CHARS}`);
  return pairToolResults(h.items, (i) => h.origin[i] ?? "input");
}

/** Function tools only: the others (web_search, file_search, mcp, ...) run on OpenAI's side. */
function toolsOf(b: ResponsesBodyT): ToolSpec[] {
  return (b.tools ?? []).map((tool, i) => {
    const param = `tools[${i}]`;
    if (tool.type == null) throw invalid(`${param}.type`, 'is required (only "function" tools are supported)');
    if (tool.type !== "function") throw unsupported(`${param}.type`, `"${tool.type}" tools are not supported; only "function" tools, which the client runs`);
    return {
      name: required(tool.name, `${param}.name`, "a function tool's name"),
      description: tool.description ?? undefined,
      parameters: tool.parameters ?? undefined,
      param,
    };
  });
}

function toolChoiceOf(b: ResponsesBodyT): ToolChoice | undefined {
  const c = b.tool_choice;
  if (c == null) return undefined;
  if (typeof c === "string") return { type: c };
  if (c.type !== "function") throw unsupported("tool_choice.type", `"${c.type}" is not supported; use "auto", "none", "required" or {"type": "function", "name": ...}`);
  return { type: "function", name: required(c.name, "tool_choice.name", "the function's name") };
}

export function chatRequestOf(b: ResponsesBodyT): ChatRequest {
  const tools = toolsOf(b);
  const choice = toolChoiceOf(b);
  return {
    messages: messagesOf(b),
    tools,
    // OpenAI takes "auto" with no tools as no tools; the pipeline would ask for the tools.
    toolChoice: choice?.type === "auto" && tools.length === 0 ? undefined : choice,
    parallelToolCalls: b.parallel_tool_calls ?? undefined,
    templateKwargs: b.chat_template_kwargs ?? undefined,
    reasoning: "parse",
  };
}
