// POST /v1/completions. Chat lives in chat.ts, the model list in ../models.ts; both share request.ts
// (fields -> inference request); completion-answer.ts shapes the answers.
import { Elysia } from "elysia";
import type { Engine } from "../../inference/engine.ts";
import { ApiError } from "../errors.ts";
import { newId } from "../generation.ts";
import { withModel } from "../models.ts";
import type { ApiDeps } from "../state.ts";
import { checkTokenIds } from "../tokenize.ts";
import { callInfo, openAiInference, refuseUnsupported } from "./request.ts";
import { answerCompletion } from "./completion-answer.ts";
import { CompletionBody, type CompletionBodyT } from "./schemas.ts";

function promptTokens(engine: Engine, prompt: CompletionBodyT["prompt"]): number[] {
  if (typeof prompt === "string") return engine.tokenize(prompt, true);
  if (prompt.length > 1 && typeof prompt[0] === "string") {
    throw new ApiError(400, "unsupported_parameter", `prompt: only one prompt per request is supported; got ${prompt.length}`, "prompt");
  }
  if (typeof prompt[0] === "string") return engine.tokenize(prompt[0], true);
  const ids = prompt as number[];
  checkTokenIds(engine, ids, "prompt");
  return ids;
}

export function openAiRoutes(deps: ApiDeps) {
  return new Elysia({ name: "openai" }).post(
    "/v1/completions",
    ({ body, request }) => {
      refuseUnsupported(body);
      return withModel(deps, body, request.signal, async (model) => {
        const tokens = promptTokens(model.engine, body.prompt);
        const id = `cmpl-${newId()}`;
        const inference = await openAiInference(model.engine, body, { id, promptTokens: tokens, maxTokens: body.max_tokens ?? undefined, signal: request.signal, kind: "text" });
        return answerCompletion(deps, request, model, callInfo(model.name, id, body), inference);
      });
    },
    { body: CompletionBody, parse: "json", detail: { summary: "Text completion (OpenAI legacy completions)", tags: ["openai"] } },
  );
}
