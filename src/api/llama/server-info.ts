// llama-server's monitoring and helper routes: GET/POST /props, GET /slots, GET /v1/health,
// GET /models, POST /apply-template, GET /lora-adapters, in its shapes. On a server of several
// models, /props and /slots describe the default model (the first), or the one `?model=` names,
// loading it if it must, as llama-server's router does.
import { Elysia, t } from "elysia";
import { prepareChat } from "../../inference/chat-pipeline.ts";
import type { Engine } from "../../inference/engine.ts";
import type { SlotView } from "../../inference/scheduler.ts";
import { ApiError } from "../errors.ts";
import { modelList, withModel, type ModelUse } from "../models.ts";
import { chatRequestOf } from "../openai/chat.ts";
import { ChatBody } from "../openai/schemas.ts";
import type { ApiDeps } from "../state.ts";
import { BUILD_INFO } from "../timings.ts";
import { settingsJson, tokensText } from "./format.ts";
import { llamaSampling } from "./sampling.ts";

const notSupported = (message: string) => new ApiError(501, "not_supported", message);

/** The settings a request gets when it sets none (GET /props' default_generation_settings). */
function defaultSettings(engine: Engine) {
  return settingsJson(llamaSampling(engine, {}), { nPredict: -1, stop: [], stream: false, nProbs: 0, grammar: "", postSamplingProbs: false, timingsPerToken: false, fields: {} });
}

function propsJson(deps: ApiDeps, model: ModelUse) {
  const engine = model.engine;
  const i = engine.info;
  const text = (id: number | undefined) => (id === undefined ? "" : tokensText(engine, [id]));
  return {
    default_generation_settings: { params: defaultSettings(engine), n_ctx: engine.slotContextSize },
    total_slots: engine.slots,
    model_alias: model.name,
    model_path: i.path,
    modalities: { vision: false, video: false, audio: false },
    endpoint_slots: deps.llamaServer?.slots !== false,
    endpoint_props: deps.llamaServer?.props === true,
    endpoint_metrics: true,
    ui: deps.webConsole !== undefined,
    chat_template: i.chatTemplateText ?? "",
    chat_template_caps: { supports_tool_calls: i.chat.tools, supports_tools: i.chat.tools, supports_reasoning: i.chat.reasoning },
    bos_token: text(i.bosToken),
    eos_token: text(i.eosToken),
    build_info: BUILD_INFO,
    is_sleeping: false,
  };
}

function slotJson(engine: Engine, v: SlotView) {
  const base = { id: v.id, n_ctx: engine.slotContextSize, speculative: false, is_processing: v.job !== undefined };
  if (!v.job) return base;
  const { req, cachedTokens, promptEvaluated, generated } = v.job;
  const settings = settingsJson(req.sampling, { nPredict: req.maxTokens, stop: req.stop, stream: false, nProbs: req.logprobs ?? 0, grammar: "", postSamplingProbs: req.logprobsFrom === "sampler", timingsPerToken: false, fields: { ignore_eos: req.ignoreEos } });
  return {
    ...base,
    id_task: req.id,
    n_prompt_tokens: req.promptTokens.length,
    n_prompt_tokens_processed: Math.max(0, promptEvaluated - cachedTokens),
    n_prompt_tokens_cache: cachedTokens,
    params: settings,
    next_token: [{ has_next_token: v.state !== "idle", has_new_line: false, n_remain: Math.max(0, req.maxTokens - generated), n_decoded: generated }],
  };
}

/** `?model=`: which model /props and /slots describe (none: the default one). */
const ModelQuery = { model: t.Optional(t.String({ maxLength: 256 })) };

export function serverInfoRoutes(deps: ApiDeps) {
  const { state } = deps;
  return new Elysia({ name: "llama-server-info" })
    .get("/props", ({ query, request }) => withModel(deps, query, request.signal, (model) => propsJson(deps, model)), {
      query: t.Object(ModelQuery),
      detail: { summary: "Server properties (llama-server shape); ?model= names one model of several", tags: ["llama-server"] },
    })
    .post(
      "/props",
      () => {
        if (deps.llamaServer?.props !== true) throw notSupported("This server does not support changing global properties. Start it with `--props`");
        return { success: true };
      },
      { detail: { summary: "Change server properties (none can be changed yet; needs --props)", tags: ["llama-server"] } },
    )
    .get(
      "/slots",
      ({ query, request }) => {
        if (deps.llamaServer?.slots === false) throw notSupported("This server does not support slots endpoint. Start it with `--slots`");
        return withModel(deps, query, request.signal, ({ scheduler }) => {
          const views = scheduler.slotViews();
          if (query.fail_on_no_slot && views.every((v) => v.job)) throw new ApiError(503, "no_slot", "no slot available");
          return views.map((v) => slotJson(scheduler.engine, v));
        });
      },
      {
        query: t.Object({ fail_on_no_slot: t.Optional(t.String()), ...ModelQuery }),
        detail: { summary: "Each slot's state (llama-server shape); ?model= names one model of several", tags: ["llama-server"] },
      },
    )
    .post("/slots/:id", () => {
      throw notSupported("This server does not support slots action. Start it with `--slot-save-path`");
    })
    .get("/v1/health", ({ set }) => {
      if (state.phase === "ready") return { status: "ok" };
      set.status = 503;
      throw new ApiError(503, state.phase, state.phase === "loading" ? "Loading model" : "Server is shutting down");
    })
    .get("/models", () => {
      if (state.phase === "loading") throw new ApiError(503, "loading", "the model is still loading");
      const data = modelList(state, Math.floor(Date.now() / 1000));
      const details = { parent_model: "", format: "gguf", family: "", families: [""], parameter_size: "", quantization_level: "" };
      const entry = (id: string) => ({ name: id, model: id, modified_at: "", size: "", digest: "", type: "model", description: "", tags: [""], capabilities: ["completion"], parameters: "", details });
      return { models: data.map((m) => entry(m.id)), object: "list", data };
    })
    .post(
      "/apply-template",
      ({ body, request }) =>
        withModel(deps, body, request.signal, async (model) => {
          const prepared = await prepareChat(model.engine, chatRequestOf(body));
          return { prompt: prepared.rendered.text };
        }),
      { body: ChatBody, parse: "json", detail: { summary: "Render messages with the chat template, without generating (llama-server shape)", tags: ["llama-server"] } },
    )
    .get("/lora-adapters", () => []);
}
