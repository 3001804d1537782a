// llama-server's monitoring and helper routes: GET/POST /props, GET /slots, GET /v1/health,
// GET /models, POST /apply-template, GET /lora-adapters, in its shapes.
import { Elysia, t } from "elysia";
import { prepareChat } from "../../inference/chat-pipeline.ts";
import type { Engine } from "../../inference/engine.ts";
import type { SlotView } from "../../inference/scheduler.ts";
import { ApiError } from "../errors.ts";
import { readyScheduler } from "../generation.ts";
import { chatRequestOf } from "../openai/chat.ts";
import { modelObject } from "../openai/routes.ts";
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

function propsJson(deps: ApiDeps, engine: Engine) {
  const i = engine.info;
  const text = (id: number | undefined) => (id === undefined ? "" : tokensText(engine, [id]));
  return {
    default_generation_settings: { params: defaultSettings(engine), n_ctx: engine.slotContextSize },
    total_slots: engine.slots,
    model_alias: deps.state.modelName ?? i.name,
    model_path: i.path,
    modalities: { vision: false, video: false, audio: false },
    endpoint_slots: deps.llamaServer?.slots !== false,
    endpoint_props: deps.llamaServer?.props === true,
    endpoint_metrics: true,
    ui: false,
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

export function serverInfoRoutes(deps: ApiDeps) {
  const { state } = deps;
  return new Elysia({ name: "llama-server-info" })
    .get("/props", () => propsJson(deps, readyScheduler(state).engine), { detail: { summary: "Server properties (llama-server shape)", tags: ["llama-server"] } })
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
      ({ query }) => {
        if (deps.llamaServer?.slots === false) throw notSupported("This server does not support slots endpoint. Start it with `--slots`");
        const scheduler = readyScheduler(state);
        const views = scheduler.slotViews();
        if (query.fail_on_no_slot && views.every((v) => v.job)) throw new ApiError(503, "no_slot", "no slot available");
        return views.map((v) => slotJson(scheduler.engine, v));
      },
      { query: t.Object({ fail_on_no_slot: t.Optional(t.String()) }), detail: { summary: "Each slot's state (llama-server shape)", tags: ["llama-server"] } },
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
      const created = Math.floor(Date.now() / 1000);
      const model = modelObject(state, created);
      const entry = { name: model.id, model: model.id, modified_at: "", size: "", digest: "", type: "model", description: "", tags: [""], capabilities: ["completion"], parameters: "", details: { parent_model: "", format: "gguf", family: "", families: [""], parameter_size: "", quantization_level: "" } };
      return { models: [entry], object: "list", data: [model] };
    })
    .post(
      "/apply-template",
      async ({ body }) => {
        const engine = readyScheduler(state).engine;
        const prepared = await prepareChat(engine, chatRequestOf(body));
        return { prompt: prepared.rendered.text };
      },
      { body: ChatBody, parse: "json", detail: { summary: "Render messages with the chat template, without generating (llama-server shape)", tags: ["llama-server"] } },
    )
    .get("/lora-adapters", () => []);
}
