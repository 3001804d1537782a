// Which model answers a request. Every route that runs a model goes through withModel: with a
// registry (several models, loaded on demand) the body's `model` picks one, and the request holds
// it until its answer is done; without one (a service built around one scheduler) that model
// answers whatever the name. Also the model routes: GET /v1/models[/:model] (every model with its
// state and settings), POST /models/load and POST /models/unload.
import { Elysia, t } from "elysia";
import { KEEP_ALIVE_FORMS, formatKeepAlive, parseKeepAlive } from "../duration.ts";
import type { Embedder } from "../inference/embedding.ts";
import type { Engine } from "../inference/engine.ts";
import type { ModelView } from "../inference/registry.ts";
import type { Scheduler } from "../inference/scheduler.ts";
import type { InferenceRequest, TokenEvent } from "../inference/types.ts";
import { ApiError } from "./errors.ts";
import { readyScheduler } from "./generation.ts";
import type { ApiDeps, ServiceState } from "./state.ts";

/** The `model` field every API takes: a name from GET /v1/models. */
export const ModelField = t.Optional(
  t.Union([t.String({ maxLength: 256 }), t.Null()], { description: "The model to use: a name from GET /v1/models (a single-model server takes any name); echoed back" }),
);

/** Ollama's keep_alive, accepted by every API that runs a model. */
export const KeepAliveField = t.Optional(
  t.Union([t.Number(), t.String({ maxLength: 32 }), t.Null()], {
    description: `How long the model stays loaded once idle, from this request on: ${KEEP_ALIVE_FORMS}`,
    error: `must be ${KEEP_ALIVE_FORMS}`,
  }),
);

/** What a request names: the model, and optionally its keep-alive from now on. */
interface ModelAsk {
  model?: string | null;
  keep_alive?: string | number | null;
}

/** The model a request runs on, for as long as withModel's callback runs. */
export interface ModelUse {
  /** The name answers carry when the request named none. */
  name: string;
  engine: Engine;
  scheduler: Scheduler;
  embedder?: Embedder;
  /** Submits to this model's scheduler; the model stays loaded until the stream ends or is left. */
  submit(req: InferenceRequest): AsyncIterable<TokenEvent>;
}

function keepAliveOf(v: string | number | null | undefined): number | undefined {
  if (v == null) return undefined;
  const ms = parseKeepAlive(v);
  if (ms === undefined) throw new ApiError(400, "invalid_request", `keep_alive: must be ${KEEP_ALIVE_FORMS}; got ${JSON.stringify(v)}`, "keep_alive");
  return ms;
}

/** The name to show for a model: a single-model server keeps the one it always showed (see main.ts). */
const shownName = (state: ServiceState, name: string): string => (state.models?.single ? (state.modelName ?? name) : name);

/**
 * Runs `fn` on the model `ask` names, loading it first if it must (the request waits meanwhile).
 * The model is held until `fn` settles; streams `fn` submitted hold it until they end. `signal`
 * is the client's: one that leaves while the model loads gives up its hold and its place at once.
 */
export async function withModel<T>(deps: ApiDeps, ask: ModelAsk, signal: AbortSignal | undefined, fn: (model: ModelUse) => T | Promise<T>): Promise<T> {
  const { state } = deps;
  const keepAliveMs = keepAliveOf(ask.keep_alive);
  if (state.phase === "loading") throw new ApiError(503, "loading", "the model is still loading");
  if (!state.models) {
    const scheduler = readyScheduler(state);
    return fn({ name: state.modelName ?? "warren", engine: scheduler.engine, scheduler, embedder: state.embedder, submit: (r) => scheduler.submit(r) });
  }
  const lease = await state.models.acquire(ask.model ?? undefined, keepAliveMs, signal);
  try {
    const scheduler = lease.scheduler;
    return await fn({ name: shownName(state, lease.name), engine: scheduler.engine, scheduler, embedder: lease.embedder, submit: lease.submit });
  } finally {
    lease.release();
  }
}

const OWNER = "warren";

/** A loaded model as OpenAI lists it, with vLLM's, Ollama's and llama-server's extras. */
function loadedObject(id: string, engine: Engine, created: number) {
  const i = engine.info;
  return {
    id,
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

/** A catalogue model, loaded or not: its state (llama-server's `status` block) and the settings it loads with. */
function catalogueObject(state: ServiceState, v: ModelView, created: number) {
  const id = shownName(state, v.name);
  const s = v.settings;
  // ctx-size 0 (the training context) is known per slot only once the model is loaded.
  const perSlot = v.scheduler ? v.scheduler.engine.slotContextSize : s.ctxTotal === 0 ? null : s.ctxSize;
  const base = v.scheduler ? loadedObject(id, v.scheduler.engine, created) : { id, object: "model" as const, created, owned_by: OWNER, max_model_len: perSlot };
  return {
    ...base,
    status: {
      value: v.status,
      ...(v.error !== undefined ? { failed: true, error: v.error } : {}),
      in_flight: v.holds,
      memory_bytes: v.bytes,
      ...(v.loadMs !== undefined ? { load_ms: Math.round(v.loadMs) } : {}),
    },
    settings: {
      parallel: s.parallel,
      // As the flags and the models file give them: ctx_size for all slots together (0: the training context), ctx_per_slot for one.
      ctx_size: s.ctxTotal ?? s.ctxSize * s.parallel,
      ctx_per_slot: perSlot,
      batch_size: s.batchSize,
      threads: s.threads,
      flash_attention: s.flashAttention,
      chat_template: s.chatTemplate || null,
      max_queue: s.maxQueue,
      keep_alive: formatKeepAlive(s.keepAliveMs),
    },
  };
}

/** Every model this server serves, as GET /v1/models lists them (`created`: Unix seconds). */
export function modelList(state: ServiceState, created: number) {
  if (!state.models) return [loadedObject(state.modelName ?? "warren", readyScheduler(state).engine, created)];
  return state.models.list().map((v) => catalogueObject(state, v, created));
}

/** A model named in a load or unload body. */
const ModelBody = t.Object({ model: t.String({ minLength: 1, maxLength: 256, description: "A name from GET /v1/models" }), keep_alive: KeepAliveField });

export function modelRoutes(deps: ApiDeps) {
  const { state } = deps;
  const created = Math.floor(Date.now() / 1000);
  const one = (name: string) => {
    if (state.models) return catalogueObject(state, state.models.find(name), created);
    const scheduler = readyScheduler(state);
    const id = state.modelName ?? "warren";
    if (name !== id) throw new ApiError(404, "model_not_found", `the model '${name}' does not exist (this server has '${id}')`, "model");
    return loadedObject(id, scheduler.engine, created);
  };
  const registry = () => {
    if (!state.models) throw new ApiError(501, "not_implemented", "this server serves one model, loaded at start");
    return state.models;
  };
  return new Elysia({ name: "models" })
    .get(
      "/v1/models",
      () => ({ object: "list" as const, data: modelList(state, created) }),
      { detail: { summary: "Every model this server serves, with its state (unloaded, loading, loaded, failed) and settings", tags: ["openai"] } },
    )
    .get("/v1/models/:model", ({ params }) => one(params.model), {
      params: t.Object({ model: t.String() }),
      detail: { summary: "One model by id", tags: ["openai"] },
    })
    .post(
      "/models/load",
      async ({ body }) => ({ success: true, data: catalogueObject(state, await registry().load(body.model, keepAliveOf(body.keep_alive)), created) }),
      { body: ModelBody, parse: "json", detail: { summary: "Load a model now (it would load on its first request otherwise)", tags: ["operations"] } },
    )
    .post(
      "/models/unload",
      async ({ body }) => ({ success: true, data: catalogueObject(state, await registry().unload(body.model), created) }),
      { body: ModelBody, parse: "json", detail: { summary: "Unload a model now; 409 while a request uses it", tags: ["operations"] } },
    );
}
