// GET /v1/models and POST /v1/completions. Chat lives in chat.ts; both share request.ts
// (fields -> inference request); completion-answer.ts shapes the answers.
import { Elysia, t } from "elysia";
import type { Engine } from "../../inference/engine.ts";
import { ApiError } from "../errors.ts";
import { newId, readyScheduler } from "../generation.ts";
import type { ApiDeps, ServiceState } from "../state.ts";
import { checkTokenIds } from "../tokenize.ts";
import { callInfo, modelId, openAiInference, refuseUnsupported } from "./request.ts";
import { answerCompletion } from "./completion-answer.ts";
import { CompletionBody, type CompletionBodyT } from "./schemas.ts";

const OWNER = "warren";

export function modelObject(state: ServiceState, created: number) {
  const engine = readyScheduler(state).engine;
  const i = engine.info;
  return {
    id: modelId(state),
    object: "model" as const,
    created,
    owned_by: OWNER,
    // vLLM's name for the context a request may use (prompt + generated, per slot).
    max_model_len: engine.slotContextSize,
    // What the chat template supports, as Ollama and LM Studio list it.
    capabilities: ["completion", "chat", ...(i.chat.tools ? ["tools"] : []), ...(i.chat.reasoning ? ["reasoning"] : [])],
    // llama-server's extra block.
    meta: {
      n_ctx: engine.slotContextSize,
      n_ctx_train: i.trainContextSize,
      n_vocab: i.vocabSize,
      n_params: i.parameters,
      size: i.sizeBytes,
      slots: engine.slots,
      threads: engine.threads,
      chat_template: i.chatTemplate ?? null,
      chat_template_caps: { tools: i.chat.tools, reasoning: i.chat.reasoning },
    },
  };
}

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
  const { state } = deps;
  const created = Math.floor(Date.now() / 1000);
  return new Elysia({ name: "openai" })
    .get("/v1/models", () => ({ object: "list" as const, data: [modelObject(state, created)] }), {
      detail: { summary: "The loaded model", tags: ["openai"] },
    })
    .get(
      "/v1/models/:model",
      ({ params }) => {
        const model = modelObject(state, created);
        if (params.model !== model.id) throw new ApiError(404, "model_not_found", `the model '${params.model}' does not exist (this server has '${model.id}')`, "model");
        return model;
      },
      { params: t.Object({ model: t.String() }), detail: { summary: "One model by id", tags: ["openai"] } },
    )
    .post(
      "/v1/completions",
      async ({ body, request }) => {
        refuseUnsupported(body);
        const engine = readyScheduler(state).engine;
        const tokens = promptTokens(engine, body.prompt);
        const id = `cmpl-${newId()}`;
        const inference = await openAiInference(engine, body, { id, promptTokens: tokens, maxTokens: body.max_tokens ?? undefined, signal: request.signal, kind: "text" });
        return answerCompletion(deps, request, callInfo(state, id, body), inference);
      },
      { body: CompletionBody, parse: "json", detail: { summary: "Text completion (OpenAI legacy completions)", tags: ["openai"] } },
    );
}
