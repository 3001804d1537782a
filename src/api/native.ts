// Warren's native routes, in the shapes of the C++ server Warren replaces:
// GET /health and POST /generate with {"success": true, "data": {...}} envelopes.
import { Elysia, t } from "elysia";
import type { TokenEvent } from "../inference/types.ts";
import { INFERENCE_MAX_PROMPT_CHARS, INFERENCE_MAX_STOP_CHARS, INFERENCE_MAX_STOP_STRINGS, INFERENCE_MAX_TOKENS_CAP } from "../limits.ts";
import { ApiError } from "./errors.ts";
import { newId, runToEnd, samplingFrom, toInferenceRequest, usageTotals } from "./generation.ts";
import { KeepAliveField, ModelField, withModel } from "./models.ts";
import { PreparedResponse } from "../prepared-response.ts";
import { JSON_CONTENT_TYPE, NO_HEADERS } from "./prepared.ts";
import { sseData, sseResponse } from "./sse.ts";
import type { ApiDeps } from "./state.ts";

const GenerateBody = t.Object({
  model: ModelField,
  keep_alive: KeepAliveField,
  prompt: t.String({ minLength: 1, maxLength: INFERENCE_MAX_PROMPT_CHARS }),
  max_tokens: t.Optional(t.Integer({ minimum: 1, maximum: INFERENCE_MAX_TOKENS_CAP })),
  temperature: t.Optional(t.Number({ minimum: 0, maximum: 5 })),
  top_p: t.Optional(t.Number({ minimum: 0, maximum: 1 })),
  top_k: t.Optional(t.Integer({ minimum: 0 })),
  min_p: t.Optional(t.Number({ minimum: 0, maximum: 1 })),
  seed: t.Optional(t.Integer({ minimum: 0, maximum: 0xffffffff })),
  repeat_penalty: t.Optional(t.Number({ minimum: 0, maximum: 10 })),
  presence_penalty: t.Optional(t.Number({ minimum: -2, maximum: 2 })),
  frequency_penalty: t.Optional(t.Number({ minimum: -2, maximum: 2 })),
  repeat_last_n: t.Optional(t.Integer({ minimum: 0, maximum: 4096 })),
  stop: t.Optional(t.Array(t.String({ minLength: 1, maxLength: INFERENCE_MAX_STOP_CHARS }), { maxItems: INFERENCE_MAX_STOP_STRINGS })),
  stream: t.Optional(t.Boolean()),
  ignore_eos: t.Optional(t.Boolean()),
});

interface ResultData {
  id: string;
  text: string;
  tokens: number;
  prompt_tokens: number;
  finish_reason: string;
  response_time: number;
  tokens_per_second: number;
}

function resultData(id: string, text: string, done: Extract<TokenEvent, { type: "done" }>): ResultData {
  const genMs = done.timings.totalMs - done.timings.queuedMs;
  const tokens = done.usage.completionTokens;
  return {
    id,
    text,
    tokens,
    prompt_tokens: done.usage.promptTokens,
    finish_reason: done.finishReason,
    response_time: done.timings.totalMs / 1000,
    tokens_per_second: genMs > 0 ? (tokens * 1000) / genMs : 0,
  };
}

export function nativeRoutes(deps: ApiDeps) {
  const { state } = deps;
  let health = { status: "", loaded: false, text: "" };
  return new Elysia({ name: "native" })
    .get("/health", () => {
      const ready = state.phase === "ready";
      const status = ready ? "healthy" : state.phase;
      const loaded = state.scheduler !== undefined;
      // Load balancers ask this many times a second and the answer rarely changes: the last body is kept.
      if (status !== health.status || loaded !== health.loaded) health = { status, loaded, text: JSON.stringify({ success: true, data: { status, model_loaded: loaded } }) };
      // `new`, not a helper call: Elysia takes a handler returning a call's result for one that may
      // return a promise (see prepared.ts).
      return new PreparedResponse(health.text, ready ? 200 : 503, NO_HEADERS, JSON_CONTENT_TYPE);
    })
    .post(
      "/generate",
      ({ body, request }) =>
        withModel(deps, body, request.signal, async (model) => {
          const engine = model.engine;
          const id = newId();
          const promptTokens = engine.tokenize(body.prompt, true);
          const inference = toInferenceRequest(
            { id, promptTokens, maxTokens: body.max_tokens, sampling: samplingFrom(body), stop: body.stop, ignoreEos: body.ignore_eos, signal: request.signal },
            engine.slotContextSize,
          );
          const stream = model.submit(inference);
          if (!body.stream) {
            const { text, done } = await runToEnd(stream);
            deps.noteTokens?.(request, usageTotals(done.usage));
            if (done.finishReason === "error") throw new ApiError(500, "generation_failed", done.error ?? "generation failed");
            return { success: true, data: resultData(id, text, done) };
          }
          return sseResponse(nativeFrames(id, stream, (u) => deps.noteTokens?.(request, u)));
        }),
      { body: GenerateBody, parse: "json" },
    );
}

async function* nativeFrames(id: string, stream: AsyncIterable<TokenEvent>, note: (u: { prompt: number; completion: number }) => void): AsyncGenerator<string> {
  let text = "";
  for await (const ev of stream) {
    if (ev.type === "text") {
      text += ev.text;
      if (ev.text.length > 0) yield sseData({ text: ev.text, tokens: ev.tokens });
    } else if (ev.type === "done") {
      note(usageTotals(ev.usage));
      if (ev.finishReason === "error") yield sseData({ error: { code: "generation_failed", message: ev.error ?? "generation failed" } });
      else yield sseData({ done: true, ...resultData(id, text, ev) });
    }
  }
}
