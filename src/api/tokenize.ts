// POST /tokenize and /detokenize in llama-server's shapes, and the token-id check every route
// that takes raw ids shares: an id outside the vocabulary must never reach llama.cpp.
import { Elysia, t } from "elysia";
import type { Engine } from "../inference/engine.ts";
import { INFERENCE_MAX_PROMPT_CHARS } from "../limits.ts";
import { ApiError } from "./errors.ts";
import { ModelField, withModel } from "./models.ts";
import type { ApiDeps } from "./state.ts";

const TokenizeBody = t.Object({
  model: ModelField,
  content: t.String({ maxLength: INFERENCE_MAX_PROMPT_CHARS }),
  add_special: t.Optional(t.Boolean({ description: "Prepend BOS when the model wants one (default false)" })),
  parse_special: t.Optional(t.Boolean({ description: "Turn control-token text like <s> into control tokens (default true)" })),
  with_pieces: t.Optional(t.Boolean({ description: "Answer [{id, piece}] instead of bare ids (default false)" })),
});

const DetokenizeBody = t.Object({
  model: ModelField,
  tokens: t.Array(t.Integer(), { maxItems: INFERENCE_MAX_PROMPT_CHARS }),
});

/** Throws 400 naming the first id the model's vocabulary does not have. */
export function checkTokenIds(engine: Engine, ids: readonly number[], param: string): void {
  const vocab = engine.info.vocabSize;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (!Number.isInteger(id) || id < 0 || id >= vocab) {
      throw new ApiError(400, "invalid_token", `${param}[${i}]: ${id} is not a token id of this model (0 to ${vocab - 1})`, param);
    }
  }
}

export function tokenizeRoutes(deps: ApiDeps) {
  return new Elysia({ name: "tokenize" })
    .post(
      "/tokenize",
      ({ body, request }) =>
        withModel(deps, body, request.signal, ({ engine }) => {
          const ids = engine.tokenize(body.content, body.add_special ?? false, body.parse_special ?? true);
          if (!body.with_pieces) return { tokens: ids };
          // Each piece decoded after the ids before it, so SentencePiece's leading spaces come out right.
          return { tokens: ids.map((id, i) => ({ id, piece: engine.detokenize([id], ids.slice(Math.max(0, i - 4), i)) })) };
        }),
      { body: TokenizeBody, parse: "json", detail: { summary: "Text to token ids (llama-server shape)", tags: ["tokens"] } },
    )
    .post(
      "/detokenize",
      ({ body, request }) =>
        withModel(deps, body, request.signal, ({ engine }) => {
          checkTokenIds(engine, body.tokens, "tokens");
          return { content: engine.detokenize(body.tokens) };
        }),
      { body: DetokenizeBody, parse: "json", detail: { summary: "Token ids to text (llama-server shape)", tags: ["tokens"] } },
    );
}
