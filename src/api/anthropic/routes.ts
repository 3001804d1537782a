// POST /v1/messages and POST /v1/messages/count_tokens: Anthropic's Messages API as a mapping onto
// the chat pipeline (request.ts in, answer.ts out). Errors on these paths take Anthropic's shape
// ({"type":"error","error":{type,message}}) in app.ts's errorResponse; x-api-key is checked by
// auth.ts like on every route, and the anthropic-version header is accepted whatever its value.
import { Elysia } from "elysia";
import { prepareChat } from "../../inference/chat-pipeline.ts";
import { newId } from "../generation.ts";
import { withModel } from "../models.ts";
import type { ApiDeps } from "../state.ts";
import { answerMessage } from "./answer.ts";
import { chatRequestOf, checkThinking, messagesInference } from "./request.ts";
import { CountTokensBody, MessagesBody } from "./schemas.ts";

export function anthropicRoutes(deps: ApiDeps) {
  return new Elysia({ name: "anthropic" })
    .post(
      "/v1/messages",
      ({ body, request }) => {
        checkThinking(body);
        return withModel(deps, body, request.signal, async (model) => {
          const engine = model.engine;
          const prepared = await prepareChat(engine, chatRequestOf(body, engine));
          const id = `msg_${newId().slice(0, 24)}`;
          const { request: inference, clamped } = messagesInference(engine, body, prepared, id, request.signal);
          const call = {
            id,
            // Echoed like the OpenAI routes do, so clients that check the name they asked for are satisfied.
            model: body.model || model.name,
            stream: body.stream === true,
            promptTokens: prepared.promptTokens.length,
            stopSequences: body.stop_sequences ?? [],
            clamped,
          };
          return answerMessage(deps, request, model, call, inference, prepared);
        });
      },
      { body: MessagesBody, parse: "json", detail: { summary: "Anthropic Messages: a reply with text, thinking and tool_use blocks", tags: ["anthropic"] } },
    )
    .post(
      "/v1/messages/count_tokens",
      ({ body, request }) =>
        withModel(deps, body, request.signal, async ({ engine }) => {
          // The same preparation as a real request, so the count is its input_tokens exactly.
          const prepared = await prepareChat(engine, chatRequestOf(body, engine));
          return { input_tokens: prepared.promptTokens.length };
        }),
      { body: CountTokensBody, parse: "json", detail: { summary: "Anthropic Messages: input tokens of a request, without generating", tags: ["anthropic"] } },
    );
}
