// Anthropic Messages requests -> the chat pipeline's ChatRequest, and the InferenceRequest that runs
// it. Content blocks map onto the pipeline's history: text to turns, thinking to an assistant's
// reasoning, tool_use to its calls, and each tool_result to a tool item paired with its call by
// tool_use_id (pairToolResults). Blocks and fields Warren cannot honour get a 400 naming them.
import { pairToolResults, type HistoryItem } from "../../inference/chat/history.ts";
import type { PreparedChat } from "../../inference/chat-pipeline.ts";
import type { ChatRequest, ToolChoice, ToolSpec } from "../../inference/chat/types.ts";
import type { Engine } from "../../inference/engine.ts";
import type { InferenceRequest } from "../../inference/types.ts";
import { INFERENCE_MAX_PROMPT_CHARS } from "../../limits.ts";
import { ApiError } from "../errors.ts";
import { samplingFrom, toInferenceRequest } from "../generation.ts";
import type { ContentBlockT, ConversationT, MessageParamT, MessagesBodyT } from "./schemas.ts";

const invalid = (param: string, message: string) => new ApiError(400, "invalid_request", `${param}: ${message}`, param);

/** Separate blocks stay separate paragraphs to the model: joined by a newline, not run together. */
const BLOCK_JOIN = "\n";

function textOf(block: { type: string; text?: string }, param: string, what: string): string {
  if (block.type !== "text") throw invalid(param, `${what} takes only text blocks; got a block of type "${block.type}"`);
  if (block.text === undefined) throw invalid(`${param}.text`, "a text block needs its text");
  return block.text;
}

function systemText(system: ConversationT["system"]): string | undefined {
  if (system === undefined) return undefined;
  if (typeof system === "string") return system;
  return system.map((b, j) => textOf(b, `system[${j}]`, "system")).join(BLOCK_JOIN);
}

const UNSUPPORTED_BLOCK: Record<string, string> = {
  image: "image blocks are not supported: the model reads text only",
  document: "document blocks are not supported: send the document's text in a text block",
  search_result: "search_result blocks are not supported: send their text in a text block",
};

function refuseBlock(block: ContentBlockT, param: string, role: string): never {
  const why = UNSUPPORTED_BLOCK[block.type];
  if (why) throw invalid(param, why);
  const known = ["text", "tool_use", "tool_result", "thinking", "redacted_thinking"];
  if (known.includes(block.type)) throw invalid(param, `a ${role} message cannot hold a "${block.type}" block`);
  throw invalid(param, `"${block.type}" blocks are not supported (text, tool_use, tool_result and thinking are)`);
}

/** A tool_result's text; `is_error` is said in the text, since templates have no field for it. */
function resultText(block: ContentBlockT, param: string): string {
  const c = block.content;
  let text = "";
  if (typeof c === "string") text = c;
  else if (c) text = c.map((b, k) => textOf(b, `${param}.content[${k}]`, "a tool_result's content")).join(BLOCK_JOIN);
  return block.is_error ? `Error: ${text}` : text;
}

/** A user turn: its tool results first (they answer the previous turn's calls), then its text. */
function userItems(m: MessageParamT, param: string, items: HistoryItem[], where: string[]): void {
  if (typeof m.content === "string") {
    items.push({ role: "user", text: m.content });
    where.push(param);
    return;
  }
  const texts: string[] = [];
  m.content.forEach((block, j) => {
    const p = `${param}.content[${j}]`;
    if (block.type === "text") texts.push(textOf(block, p, "a user message"));
    else if (block.type === "tool_result") {
      if (block.tool_use_id === undefined) throw invalid(`${p}.tool_use_id`, "a tool_result block needs the id of the tool_use it answers");
      items.push({ role: "tool", callId: block.tool_use_id, text: resultText(block, p) });
      where.push(p);
    } else refuseBlock(block, p, "user");
  });
  if (texts.length > 0 || m.content.length === 0) {
    items.push({ role: "user", text: texts.join(BLOCK_JOIN) });
    where.push(param);
  }
}

function assistantItem(m: MessageParamT, param: string): HistoryItem {
  if (typeof m.content === "string") return { role: "assistant", text: m.content };
  const texts: string[] = [];
  const thoughts: string[] = [];
  const toolCalls: Array<{ id: string; name: string; arguments: unknown; param: string }> = [];
  m.content.forEach((block, j) => {
    const p = `${param}.content[${j}]`;
    if (block.type === "text") texts.push(textOf(block, p, "an assistant message"));
    else if (block.type === "thinking") thoughts.push(block.thinking ?? "");
    // Opaque by design: there is no text to show the model.
    else if (block.type === "redacted_thinking") return;
    else if (block.type === "tool_use") {
      if (block.id === undefined || block.name === undefined) throw invalid(p, "a tool_use block needs its id and name");
      const input = block.input ?? {};
      if (typeof input !== "object" || input === null || Array.isArray(input)) throw invalid(`${p}.input`, "must be an object (the tool's input)");
      toolCalls.push({ id: block.id, name: block.name, arguments: input, param: `${p}.id` });
    } else refuseBlock(block, p, "assistant");
  });
  const reasoning = thoughts.length > 0 ? thoughts.join(BLOCK_JOIN) : undefined;
  return { role: "assistant", text: texts.join(BLOCK_JOIN), reasoning, toolCalls };
}

/** The conversation as the pipeline's items, and for each item the request field it came from. */
function historyOf(b: ConversationT): { items: HistoryItem[]; where: string[] } {
  const items: HistoryItem[] = [];
  const where: string[] = [];
  const system = systemText(b.system);
  if (system !== undefined) {
    items.push({ role: "system", text: system });
    where.push("system");
  }
  b.messages.forEach((m, i) => {
    const param = `messages[${i}]`;
    if (m.role === "user") userItems(m, param, items, where);
    else if (m.role === "assistant") {
      items.push(assistantItem(m, param));
      where.push(param);
    } else {
      const text = typeof m.content === "string" ? m.content : m.content.map((bl, j) => textOf(bl, `${param}.content[${j}]`, "a system message")).join(BLOCK_JOIN);
      items.push({ role: "system", text });
      where.push(param);
    }
  });
  const chars = items.reduce((n, it) => n + it.text.length + ("reasoning" in it ? (it.reasoning?.length ?? 0) : 0), 0);
  if (chars > INFERENCE_MAX_PROMPT_CHARS) throw invalid("messages", `${chars} characters in all; at most ${INFERENCE_MAX_PROMPT_CHARS}`);
  return { items, where };
}

function toolsOf(b: ConversationT): ToolSpec[] {
  return (b.tools ?? []).map((tool, i) => {
    if (tool.type != null && tool.type !== "custom") {
      throw invalid(`tools[${i}].type`, `Anthropic's server tool "${tool.type}" is not available here; give a custom tool with name and input_schema`);
    }
    return { name: tool.name, description: tool.description, parameters: tool.input_schema, param: `tools[${i}]` };
  });
}

function toolChoiceOf(b: ConversationT, tools: readonly ToolSpec[]): { choice?: ToolChoice; parallel?: boolean } {
  const c = b.tool_choice;
  if (!c) return {};
  const parallel = c.disable_parallel_tool_use === true ? false : undefined;
  if (c.type === "none") return { choice: { type: "none" } };
  if (tools.length === 0) throw invalid("tool_choice", `{"type": "${c.type}"} needs tools, and none were given`);
  if (c.type === "auto") return { choice: { type: "auto" }, parallel };
  if (c.type === "any") return { choice: { type: "required" }, parallel };
  if (c.name === undefined) throw invalid("tool_choice.name", 'type "tool" needs the name of the tool to use');
  if (!tools.some((t) => t.name === c.name)) {
    throw invalid("tool_choice.name", `"${c.name}" is not among the tools (${tools.map((t) => t.name).join(", ")})`);
  }
  return { choice: { type: "function", name: c.name } };
}

/**
 * `thinking` reaches the template as enable_thinking (Qwen3-style templates read it) when the
 * template has a thought syntax at all; "adaptive" leaves the model's default. Whatever the
 * setting, reasoning the model writes comes back as thinking blocks (answer.ts).
 */
function templateKwargsOf(b: ConversationT, templateReasons: boolean): Record<string, unknown> | undefined {
  const kwargs: Record<string, unknown> = {};
  const type = b.thinking?.type;
  if (templateReasons && (type === "enabled" || type === "disabled")) kwargs.enable_thinking = type === "enabled";
  Object.assign(kwargs, b.chat_template_kwargs ?? {});
  return Object.keys(kwargs).length > 0 ? kwargs : undefined;
}

/** Fields Warren cannot honour are refused by name rather than silently dropped. */
function refuseUnsupported(b: ConversationT): void {
  if (b.mcp_servers !== undefined) throw invalid("mcp_servers", "MCP servers are not supported: run the tools yourself and send their results");
  if (b.container !== undefined) throw invalid("container", "containers (code execution) are not supported");
  if (b.output_config?.format != null) throw invalid("output_config.format", "structured output formats are not supported; give the schema as a tool's input_schema with tool_choice {\"type\": \"tool\"}");
}

/** The chat pipeline's request for a Messages (or count_tokens) body. */
export function chatRequestOf(b: ConversationT, engine: Engine): ChatRequest {
  refuseUnsupported(b);
  const { items, where } = historyOf(b);
  const tools = toolsOf(b);
  const { choice, parallel } = toolChoiceOf(b, tools);
  return {
    messages: pairToolResults(items, (i) => where[i] ?? "messages"),
    tools,
    toolChoice: choice,
    parallelToolCalls: parallel,
    templateKwargs: templateKwargsOf(b, engine.info.chat.reasoning),
  };
}

/**
 * Anthropic's rules for a thinking budget (its minimum is in the schema). Warren does not bound
 * thinking separately, but a request that Anthropic would refuse is refused here too.
 */
export function checkThinking(b: MessagesBodyT): void {
  if (b.thinking?.type !== "enabled") return;
  const budget = b.thinking.budget_tokens;
  if (budget === undefined) throw invalid("thinking.budget_tokens", 'thinking {"type": "enabled"} needs budget_tokens');
  if (budget >= b.max_tokens) throw invalid("thinking.budget_tokens", `must be less than max_tokens (${budget} >= ${b.max_tokens})`);
}

interface MessagesInference {
  request: InferenceRequest;
  /** max_tokens was lowered to what the slot has room for: a "length" end means the context was full. */
  clamped: boolean;
}

/**
 * Anthropic clients always send max_tokens, often their model's whole output limit, so it is
 * lowered to the room the slot has after the prompt instead of being refused; an answer that
 * fills that room ends with stop_reason "model_context_window_exceeded".
 */
export function messagesInference(engine: Engine, b: MessagesBodyT, prepared: PreparedChat, id: string, signal: AbortSignal): MessagesInference {
  const prompt = prepared.promptTokens.length;
  const room = engine.slotContextSize - prompt;
  if (room < 1) {
    throw new ApiError(400, "context_exceeded", `prompt is too long: ${prompt} tokens > ${engine.slotContextSize - 1} maximum (the context per slot is ${engine.slotContextSize} tokens)`, "messages");
  }
  const maxTokens = Math.min(b.max_tokens, room);
  const request = toInferenceRequest(
    {
      id,
      promptTokens: prepared.promptTokens,
      maxTokens,
      sampling: samplingFrom({ temperature: b.temperature, top_p: b.top_p, top_k: b.top_k }),
      stop: [...(b.stop_sequences ?? []), ...prepared.stop],
      grammar: prepared.grammar,
      signal,
    },
    engine.slotContextSize,
  );
  if (prepared.lazyGrammar) request.lazyGrammar = prepared.lazyGrammar;
  return { request, clamped: maxTokens < b.max_tokens };
}
