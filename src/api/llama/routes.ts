// llama-server's own API on Warren's pipeline: POST /completion (and its alias /completions),
// /infill, /embedding (and /embeddings, its native shape), the monitoring routes in server-info.ts,
// and the aliases without /v1 that llama-server keeps for OpenAI's chat and Responses routes.
import { Elysia } from "elysia";
import { EmbeddingError, type EmbeddingInput } from "../../inference/embedding.ts";
import { ApiError } from "../errors.ts";
import { withModel, type ModelUse } from "../models.ts";
import { chatRoutes } from "../openai/chat.ts";
import { responsesRoutes } from "../responses/routes.ts";
import type { ApiDeps } from "../state.ts";
import { answerLlama } from "./answer.ts";
import { infillTokens, promptsOf, tokenizeMixed } from "./prompt.ts";
import { llamaCall } from "./request.ts";
import { CompletionBody, InfillBody, NativeEmbeddingBody, type CompletionBodyT, type InfillBodyT } from "./schema.ts";
import { serverInfoRoutes } from "./server-info.ts";

const invalid = (param: string, message: string) => new ApiError(400, "invalid_request", `${param}: ${message}`, param);

export function llamaServerRoutes(deps: ApiDeps) {
  const completion = ({ body, request }: { body: CompletionBodyT; request: Request }) =>
    withModel(deps, body, request.signal, async (model) => {
      const prompts = promptsOf(model.engine, body.prompt);
      return answerLlama(deps, request, model, await llamaCall(model.engine, body, prompts, request.signal));
    });
  const completionHook = { body: CompletionBody, parse: "json" as const, detail: { summary: "Text completion (llama-server's native /completion)", tags: ["llama-server"] } };
  return new Elysia({ name: "llama-server" })
    .post("/completion", completion, completionHook)
    .post("/completions", completion, { ...completionHook, detail: { ...completionHook.detail, hide: true } })
    .post("/infill", ({ body, request }) => withModel(deps, body, request.signal, (model) => infill(deps, model, body, request)), {
      body: InfillBody,
      parse: "json",
      detail: { summary: "Fill in the middle, for models with FIM tokens (llama-server shape)", tags: ["llama-server"] },
    })
    .post("/embedding", ({ body, request }) => withModel(deps, body, request.signal, (model) => nativeEmbedding(deps, model, body, request)), { body: NativeEmbeddingBody, parse: "json", detail: { summary: "Embeddings in llama-server's native shape", tags: ["llama-server"] } })
    .post("/embeddings", ({ body, request }) => withModel(deps, body, request.signal, (model) => nativeEmbedding(deps, model, body, request)), { body: NativeEmbeddingBody, parse: "json", detail: { hide: true } })
    .use(serverInfoRoutes(deps))
    .use(chatRoutes(deps, ""))
    .use(responsesRoutes(deps, ""));
}

async function infill(deps: ApiDeps, model: ModelUse, body: InfillBodyT, request: Request): Promise<Response | object> {
  const engine = model.engine;
  const fim = engine.info.fim;
  if (!fim) throw new ApiError(501, "not_supported", "Infill is not supported by this model: it has no fill-in-the-middle tokens (prefix, suffix, middle)");
  const tokens = infillTokens(engine, fim, {
    prefix: body.input_prefix,
    suffix: body.input_suffix,
    extra: body.input_extra ?? [],
    prompt: body.prompt ?? "",
    nPredict: -1,
  });
  return answerLlama(deps, request, model, await llamaCall(engine, body, [tokens], request.signal));
}

/** llama-server's /embedding: `content` (or `input`): one prompt or several -> [{index, embedding: [[...]]}], L2-normalized. */
async function nativeEmbedding(deps: ApiDeps, model: ModelUse, body: typeof NativeEmbeddingBody.static, request: Request) {
  if (!model.embedder) throw new ApiError(501, "not_supported", "This server does not support embeddings");
  const embedder = model.embedder;
  const raw = body.input ?? body.content;
  const param = body.input !== undefined ? "input" : "content";
  if (raw === undefined || raw === null) throw invalid("content", '"input" or "content" must be provided');
  if ((body.embd_normalize ?? 2) !== 2) {
    throw new ApiError(400, "unsupported_parameter", "embd_normalize: only 2 (Euclidean, the default) is supported: vectors come normalized", "embd_normalize");
  }
  if (body.encoding_format != null && body.encoding_format !== "float") throw invalid("encoding_format", 'only "float" is supported on this route');
  const engine = model.engine;
  const inputs = embeddingInputs(raw, (item, at) => tokenizeMixed(engine, item, false, true, at), param);
  const result = await embedder.embed(inputs, request.signal).catch((err: unknown) => {
    throw err instanceof EmbeddingError ? invalid(param, err.message) : err;
  });
  deps.noteTokens?.(request, { prompt: result.promptTokens, completion: 0 });
  return result.vectors.map((v, index) => ({ index, embedding: [Array.from(v)] }));
}

type Piece = string | number;

/** Text stays text; token ids and mixed lists become ids (the embedder adds the model's special tokens to both). */
function embeddingInputs(raw: unknown, mixed: (item: readonly Piece[], param: string) => number[], param: string): EmbeddingInput[] {
  const one = (item: unknown, at: string): EmbeddingInput => {
    if (typeof item === "string") return item;
    if (Array.isArray(item) && item.every((x) => typeof x === "number" || typeof x === "string")) return mixed(item as Piece[], at);
    throw invalid(at, "must be a string, a list of token ids and strings, or a list of those");
  };
  if (!Array.isArray(raw) || raw.some((x) => typeof x === "number")) return [one(raw, param)];
  if (raw.length === 0) throw invalid(param, "must not be an empty list");
  return raw.map((item, i) => one(item, `${param}[${i}]`));
}
