// POST /v1/chat/completions. Messages are rendered with the model's own chat template
// (Engine.formatChat: the GGUF's template via node-llama-cpp, or the documented plain
// "User: ...\nAssistant:" fallback for models without one, which then also stops on "\nUser:").
import { Elysia } from "elysia";
import type { ChatTurn } from "../inference/engine.ts";
import { INFERENCE_MAX_PROMPT_CHARS } from "../limits.ts";
import { ApiError } from "./errors.ts";
import { newId, readyScheduler } from "./generation.ts";
import { callInfo, openAiInference, refuseUnsupported } from "./openai/request.ts";
import { respond } from "./openai/respond.ts";
import { ChatBody, type ChatMessageT } from "./openai/schemas.ts";
import type { ApiDeps } from "./state.ts";

const invalid = (param: string, message: string) => new ApiError(400, "invalid_request", `${param}: ${message}`, param);

function contentText(m: ChatMessageT, param: string): string {
  if (m.content == null) {
    // Assistant turns that only called tools have no content; Warren has no tools to replay.
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

/** OpenAI messages -> the roles every template knows. "developer" is OpenAI's new name for system. */
export function chatTurns(messages: readonly ChatMessageT[]): ChatTurn[] {
  let chars = 0;
  const turns = messages.map((m, i): ChatTurn => {
    const param = `messages[${i}]`;
    if (m.role === "tool" || m.role === "function") throw invalid(`${param}.role`, `"${m.role}" messages are not supported (no tool calling)`);
    const text = contentText(m, param);
    chars += text.length;
    return { role: m.role === "developer" ? "system" : m.role, text };
  });
  if (chars > INFERENCE_MAX_PROMPT_CHARS) throw invalid("messages", `${chars} characters in all; at most ${INFERENCE_MAX_PROMPT_CHARS}`);
  return turns;
}

export function chatRoutes(deps: ApiDeps) {
  const { state } = deps;
  return new Elysia({ name: "chat" }).post(
    "/v1/chat/completions",
    async ({ body, request }) => {
      refuseUnsupported(body);
      const turns = chatTurns(body.messages);
      const engine = readyScheduler(state).engine;
      const prompt = engine.formatChat(turns);
      const id = `chatcmpl-${newId()}`;
      const inference = await openAiInference(engine, body, {
        id,
        promptTokens: prompt.tokens,
        maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
        extraStops: prompt.stop,
        signal: request.signal,
        kind: "chat",
      });
      return respond(deps, request, "chat", callInfo(state, id, body), inference);
    },
    { body: ChatBody, parse: "json", detail: { summary: "Chat completion with the model's chat template", tags: ["openai"] } },
  );
}
