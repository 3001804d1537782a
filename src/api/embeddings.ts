// POST /v1/embeddings (OpenAI's shape) and POST /v1/rerank (Jina's and Cohere's shape, with
// llama-server's aliases /rerank, /reranking and /v1/reranking). Both run on the served model's
// embedding side (inference/embedding.ts); a model is either a reranker or an embedder, and the
// other route answers 400 naming `model`.
import { Elysia, t } from "elysia";
import { EmbeddingError, type Embedder, type EmbeddingInput } from "../inference/embedding.ts";
import { EMBEDDING_MAX_INPUTS, INFERENCE_MAX_PROMPT_CHARS } from "../limits.ts";
import { ApiError } from "./errors.ts";
import { KeepAliveField, ModelField, withModel, type ModelUse } from "./models.ts";
import type { ApiDeps } from "./state.ts";

/** Optional, null allowed; `error` words the rule for the 400 (TypeBox says only "Expected union value"). */
const Opt = <T extends Parameters<typeof t.Optional>[0]>(schema: T, error?: string) => t.Optional(t.Union([schema, t.Null()], error ? { error } : {}));
const Text = t.String({ maxLength: INFERENCE_MAX_PROMPT_CHARS });
const TokenIds = t.Array(t.Integer(), { maxItems: INFERENCE_MAX_PROMPT_CHARS });

const EmbeddingBody = t.Object({
  model: ModelField,
  keep_alive: KeepAliveField,
  input: t.Union([Text, t.Array(Text, { maxItems: EMBEDDING_MAX_INPUTS }), TokenIds, t.Array(TokenIds, { maxItems: EMBEDDING_MAX_INPUTS })], {
    description: "A string, a list of strings, a list of token ids, or a list of such lists",
    error: `must be a string, a list of up to ${EMBEDDING_MAX_INPUTS} strings, a list of token ids, or a list of up to ${EMBEDDING_MAX_INPUTS} token-id lists`,
  }),
  encoding_format: Opt(t.Union([t.Literal("float"), t.Literal("base64")], { description: "base64: little-endian float32 bytes" }), 'must be "float" or "base64"'),
  dimensions: Opt(t.Integer({ minimum: 1, description: "Must equal the model's own size: vectors are not shortened" }), "must be a positive integer"),
  user: Opt(t.String({ maxLength: 256 })),
});

const RerankBody = t.Object({
  model: ModelField,
  keep_alive: KeepAliveField,
  query: Text,
  documents: t.Array(t.Union([Text, t.Object({ text: Text })], { error: 'must be a string or {"text": string}' }), { maxItems: EMBEDDING_MAX_INPUTS }),
  top_n: Opt(t.Integer({ minimum: 1, description: "Return only the best N results (default: all)" }), "must be a positive integer"),
  return_documents: Opt(t.Boolean({ description: "Include each document's text in its result (default false)" })),
});

const invalid = (param: string, message: string) => new ApiError(400, "invalid_request", `${param}: ${message}`, param);

const EMBEDDING_ERRORS: Record<EmbeddingError["code"], { status: number; code: string }> = {
  empty_input: { status: 400, code: "invalid_request" },
  input_too_long: { status: 400, code: "context_exceeded" },
  invalid_token: { status: 400, code: "invalid_token" },
  not_reranker: { status: 400, code: "unsupported_model" },
  reranker_only: { status: 400, code: "unsupported_model" },
  // The client has gone; nobody reads this (nginx's number for it).
  cancelled: { status: 499, code: "cancelled" },
};

/** EmbeddingError -> ApiError naming the field: `param(index)` for an item, `model` for the wrong kind of model. */
function apiError(err: unknown, param: (index: number | undefined) => string): unknown {
  if (!(err instanceof EmbeddingError)) return err;
  const { status, code } = EMBEDDING_ERRORS[err.code];
  const field = code === "unsupported_model" ? "model" : param(err.index);
  return new ApiError(status, code, `${field}: ${err.message}`, field);
}

function embedderOf(model: ModelUse): Embedder {
  if (!model.embedder) throw new ApiError(501, "not_implemented", "this server does not serve embeddings");
  return model.embedder;
}

/** The request's inputs as a list; a single string or token list is one input, named plain `input`. */
function inputList(input: typeof EmbeddingBody.static.input): { inputs: EmbeddingInput[]; single: boolean } {
  if (typeof input === "string") {
    if (input.length === 0) throw invalid("input", "must not be empty");
    return { inputs: [input], single: true };
  }
  if (input.length === 0) throw invalid("input", "must not be an empty list");
  if (typeof input[0] === "number") return { inputs: [input as number[]], single: true };
  return { inputs: input as EmbeddingInput[], single: false };
}

/** What the OpenAI SDKs ask for by default: the float32 values' little-endian bytes, base64. */
function base64Floats(v: Float32Array): string {
  const bytes = new Uint8Array(v.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < v.length; i++) view.setFloat32(i * 4, v[i]!, true);
  return Buffer.from(bytes).toString("base64");
}

export function embeddingRoutes(deps: ApiDeps) {
  const rerank = ({ body, request }: { body: typeof RerankBody.static; request: Request }) => {
    if (body.query.length === 0) throw invalid("query", "must not be empty");
    if (body.documents.length === 0) throw invalid("documents", "must not be an empty list");
    return withModel(deps, body, request.signal, (model) => rankWith(deps, model, body, request));
  };
  const rerankHook = { body: RerankBody, parse: "json" as const, detail: { summary: "Score documents against a query (Jina/Cohere rerank shape)", tags: ["rerank"] } };
  return new Elysia({ name: "embeddings" })
    .post(
      "/v1/embeddings",
      ({ body, request }) => {
        const list = inputList(body.input);
        return withModel(deps, body, request.signal, (model) => embedWith(deps, model, body, request, list));
      },
      { body: EmbeddingBody, parse: "json", detail: { summary: "Embed text or token ids (OpenAI embeddings)", tags: ["openai"] } },
    )
    .post("/v1/rerank", rerank, rerankHook)
    .post("/v1/reranking", rerank, rerankHook)
    .post("/rerank", rerank, rerankHook)
    .post("/reranking", rerank, rerankHook);
}

async function rankWith(deps: ApiDeps, model: ModelUse, body: typeof RerankBody.static, request: Request) {
  const embedder = embedderOf(model);
  const documents = body.documents.map((d) => (typeof d === "string" ? d : d.text));
  const ranking = await embedder.rank(body.query, documents, request.signal).catch((err) => {
    throw apiError(err, (i) => (i === undefined ? "documents" : `documents[${i}]`));
  });
  deps.noteTokens?.(request, { prompt: ranking.promptTokens, completion: 0 });
  // Best first; equal scores keep document order.
  const order = ranking.scores.map((score, index) => ({ index, score })).sort((a, b) => b.score - a.score || a.index - b.index);
  const results = order.slice(0, body.top_n ?? order.length).map(({ index, score }) => ({
    index,
    relevance_score: score,
    ...(body.return_documents ? { document: { text: documents[index]! } } : {}),
  }));
  return {
    model: body.model || model.name,
    object: "list" as const,
    results,
    usage: { prompt_tokens: ranking.promptTokens, total_tokens: ranking.promptTokens },
  };
}

async function embedWith(deps: ApiDeps, model: ModelUse, body: typeof EmbeddingBody.static, request: Request, { inputs, single }: ReturnType<typeof inputList>) {
  const embedder = embedderOf(model);
  const name = (i: number | undefined) => (single || i === undefined ? "input" : `input[${i}]`);
  const info = await embedder.info();
  if (body.dimensions != null && !info.reranker && body.dimensions !== info.dimensions) {
    throw invalid("dimensions", `this model's vectors have ${info.dimensions} dimensions; got ${body.dimensions} (vectors are not shortened)`);
  }
  const result = await embedder.embed(inputs, request.signal).catch((err) => {
    throw apiError(err, name);
  });
  deps.noteTokens?.(request, { prompt: result.promptTokens, completion: 0 });
  const base64 = body.encoding_format === "base64";
  return {
    object: "list" as const,
    data: result.vectors.map((v, index) => ({ object: "embedding" as const, index, embedding: base64 ? base64Floats(v) : Array.from(v) })),
    model: body.model || model.name,
    usage: { prompt_tokens: result.promptTokens, total_tokens: result.promptTokens },
  };
}
