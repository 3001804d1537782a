// POST /v1/chat/completions: OpenAI's chat messages, tools and tool_choice mapped onto the chat
// pipeline (inference/chat), which renders them with the model's own template and reads the
// answer back as content, reasoning and tool calls.
import { Elysia } from "elysia";
import { pairToolResults, type HistoryItem } from "../../inference/chat/history.ts";
import { prepareChat } from "../../inference/chat-pipeline.ts";
import type { ChatRequest, ToolChoice, ToolSpec } from "../../inference/chat/types.ts";
import { INFERENCE_MAX_PROMPT_CHARS } from "../../limits.ts";
import { ApiError } from "../errors.ts";
import { newId } from "../generation.ts";
import { withModel } from "../models.ts";
import type { ApiDeps } from "../state.ts";
import { answerChat } from "./chat-answer.ts";
import { callInfo, openAiInference, parseToolArguments, refuseUnsupported } from "./request.ts";
import { ChatBody, type ChatBodyT, type ChatMessageT } from "./schemas.ts";

const invalid = (param: string, message: string) => new ApiError(400, "invalid_request", `${param}: ${message}`, param);

function contentText(m: ChatMessageT, param: string): string {
  if (m.content == null) {
    // Assistant turns that only call tools have no content.
    if (m.role === "assistant") return "";
    throw invalid(`${param}.content`, `a ${m.role} message needs content`);
  }
  if (typeof m.content === "string") return m.content;
  let text = "";
  m.content.forEach((part, j) => {
    if (part.type !== "text" || part.text === undefined) throw invalid(`${param}.content[${j}]`, `only text parts are supported; got type "${part.type}"`);
    text += part.text;
  });
  return text;
}

/** OpenAI messages -> the pipeline's items. "developer" is OpenAI's new name for system. */
function historyOf(messages: readonly ChatMessageT[]): HistoryItem[] {
  let chars = 0;
  const items = messages.map((m, i): HistoryItem => {
    const param = `messages[${i}]`;
    if (m.role === "function") throw invalid(`${param}.role`, `"function" messages (the deprecated functions API) are not supported; send tool messages`);
    const text = contentText(m, param);
    chars += text.length;
    if (m.role === "tool") return { role: "tool", callId: m.tool_call_id ?? undefined, text };
    if (m.role !== "assistant") return { role: m.role === "developer" ? "system" : m.role, text };
    const toolCalls = (m.tool_calls ?? []).map((c, j) => ({
      id: c.id ?? undefined,
      name: c.function.name,
      arguments: parseToolArguments(c.function.arguments, `${param}.tool_calls[${j}].function.arguments`),
      param: `${param}.tool_calls[${j}].id`,
    }));
    return { role: "assistant", text, reasoning: m.reasoning_content ?? m.reasoning ?? undefined, toolCalls };
  });
  if (chars > INFERENCE_MAX_PROMPT_CHARS) throw invalid("messages", `${chars} characters in all; at most ${INFERENCE_MAX_PROMPT_CHARS}`);
  return items;
}

function toolChoiceOf(b: ChatBodyT): ToolChoice | undefined {
  const c = b.tool_choice;
  if (c == null) return undefined;
  if (typeof c === "string") return { type: c };
  return { type: "function", name: c.function.name };
}

/** The chat pipeline's request for an OpenAI chat body. */
export function chatRequestOf(b: ChatBodyT): ChatRequest {
  const tools: ToolSpec[] = (b.tools ?? []).map((tool, i) => ({
    name: tool.function.name,
    description: tool.function.description ?? undefined,
    parameters: tool.function.parameters ?? undefined,
    param: `tools[${i}].function`,
  }));
  return {
    messages: pairToolResults(historyOf(b.messages), (i) => `messages[${i}]`),
    tools,
    toolChoice: toolChoiceOf(b),
    parallelToolCalls: b.parallel_tool_calls ?? undefined,
    templateKwargs: b.chat_template_kwargs ?? undefined,
    reasoning: b.reasoning_format === "none" ? "none" : "parse",
  };
}

/** `prefix` "" serves llama-server's alias /chat/completions. */
export function chatRoutes(deps: ApiDeps, prefix = "/v1") {
  return new Elysia({ name: `chat${prefix}` }).post(
    `${prefix}/chat/completions`,
    ({ body, request }) => {
      refuseUnsupported(body);
      const req = chatRequestOf(body);
      const usesTools = (req.tools?.length ?? 0) > 0 && req.toolChoice?.type !== "none";
      if (usesTools && body.response_format && body.response_format.type !== "text") {
        throw invalid("response_format", 'cannot be combined with tools (send tool_choice "none", or give the schema as a tool\'s parameters)');
      }
      if (usesTools && body.grammar) throw invalid("grammar", 'cannot be combined with tools (send tool_choice "none")');
      return withModel(deps, body, request.signal, async (model) => {
        const prepared = await prepareChat(model.engine, req);
        const id = `chatcmpl-${newId()}`;
        const inference = await openAiInference(model.engine, body, {
          id,
          promptTokens: prepared.promptTokens,
          maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
          extraStops: prepared.stop,
          signal: request.signal,
          kind: "chat",
        });
        if (prepared.grammar) inference.grammar = prepared.grammar;
        if (prepared.lazyGrammar) inference.lazyGrammar = prepared.lazyGrammar;
        return answerChat(deps, request, model, callInfo(model.name, id, body), inference, prepared);
      });
    },
    { body: ChatBody, parse: "json", detail: { summary: "Chat completion with the model's chat template: tools, reasoning", tags: ["openai"], hide: prefix !== "/v1" } },
  );
}
