// POST /v1/responses: OpenAI's Responses API as a thin mapping onto the chat pipeline, the same
// one /v1/chat/completions uses (templates, tool-call grammars, reasoning).
//
// Stateless: nothing is kept between requests. `store: true` is accepted (it is OpenAI's default,
// so clients send it) but nothing is stored and the answer says `store: false`; what would need a
// stored response or conversation (previous_response_id, conversation, item_reference items,
// background) is a 400 saying so, and GET /v1/responses/{id} is a 404 that says why.
import { Elysia, t } from "elysia";
import { prepareChat, runChat } from "../../inference/chat-pipeline.ts";
import type { SamplingParams } from "../../inference/types.ts";
import { ApiError } from "../errors.ts";
import { newId, toInferenceRequest } from "../generation.ts";
import { withModel } from "../models.ts";
import { grammarFor, samplingOf } from "../openai/request.ts";
import type { ResponseFormat } from "../openai/schemas.ts";
import type { ApiDeps } from "../state.ts";
import { answerResponse, type ResponseHead } from "./answer.ts";
import { chatRequestOf } from "./input.ts";
import { ResponsesBody, type FormatT, type ResponsesBodyT } from "./schemas.ts";

const STATELESS = "this server is stateless: it stores no responses or conversations";
const refuse = (param: string, message: string) => new ApiError(400, "unsupported_parameter", `${param}: ${message}`, param);

/** Fields that need state or features Warren lacks are refused by name, never ignored. */
function refuseUnsupported(b: ResponsesBodyT): void {
  if (b.previous_response_id != null) throw refuse("previous_response_id", `${STATELESS}; send the whole conversation as input items instead`);
  if (b.conversation != null) throw refuse("conversation", `${STATELESS}; send the whole conversation as input items instead`);
  if (b.background) throw refuse("background", `${STATELESS}, so a background response could never be retrieved`);
  if (b.prompt != null) throw refuse("prompt", "stored prompt templates are not supported; send instructions and input");
  if (b.top_logprobs) throw refuse("top_logprobs", "log-probabilities are not supported");
  if (b.include?.includes("message.output_text.logprobs")) throw refuse("include", "log-probabilities (message.output_text.logprobs) are not supported");
}

/** text.format in the shape chat's response_format takes, so both enforce it with one grammar. */
function responseFormatOf(f: FormatT | null | undefined): ResponseFormat | undefined {
  if (!f || f.type !== "json_schema") return f ? { type: f.type } : undefined;
  if (!f.schema) throw new ApiError(400, "invalid_request", 'text.format.schema: type "json_schema" needs a schema', "text.format.schema");
  return { type: "json_schema", json_schema: { name: f.name ?? undefined, schema: f.schema, strict: f.strict ?? undefined } };
}

/** The request's settings as a response echoes them; sampling values are the ones used. */
function settingsOf(b: ResponsesBodyT, sampling: SamplingParams): Record<string, unknown> {
  return {
    instructions: b.instructions ?? null,
    max_output_tokens: b.max_output_tokens ?? null,
    max_tool_calls: b.max_tool_calls ?? null,
    metadata: b.metadata ?? {},
    parallel_tool_calls: b.parallel_tool_calls ?? true,
    previous_response_id: null,
    reasoning: { effort: b.reasoning?.effort ?? null, summary: b.reasoning?.summary ?? null },
    service_tier: "default",
    store: false,
    temperature: sampling.temperature,
    text: { format: b.text?.format ?? { type: "text" }, ...(b.text?.verbosity ? { verbosity: b.text.verbosity } : {}) },
    tool_choice: b.tool_choice ?? "auto",
    tools: (b.tools ?? []).map((tool) => ({ type: "function", name: tool.name, description: tool.description ?? null, parameters: tool.parameters ?? null, strict: tool.strict ?? null })),
    top_logprobs: 0,
    top_p: sampling.topP,
    // Input is never cut to fit; one that does not fit is a 400, whichever truncation was asked for.
    truncation: "disabled",
    user: b.user ?? null,
    background: false,
  };
}

/** `prefix` "" serves llama-server's alias /responses. */
export function responsesRoutes(deps: ApiDeps, prefix = "/v1") {
  const notStored = ({ params }: { params: { id: string } }) => {
    throw new ApiError(404, "not_found", `no response '${params.id}': ${STATELESS} (responses are created with store: false)`, "id");
  };
  return new Elysia({ name: `responses${prefix}` })
    .post(
      `${prefix}/responses`,
      ({ body, request }) => {
        refuseUnsupported(body);
        const req = chatRequestOf(body);
        const rf = responseFormatOf(body.text?.format);
        const usesTools = (req.tools?.length ?? 0) > 0 && req.toolChoice?.type !== "none";
        if (usesTools && rf && rf.type !== "text") throw refuse("text.format", 'cannot be combined with tools (send tool_choice "none", or give the schema as a tool\'s parameters)');
        return withModel(deps, body, request.signal, async (model) => {
          const engine = model.engine;
          const prepared = await prepareChat(engine, req);
          const grammar = await grammarFor(engine, rf, "text.format");
          const sampling = samplingOf({ temperature: body.temperature ?? undefined, top_p: body.top_p ?? undefined });
          const id = `resp_${newId()}`;
          const inference = toInferenceRequest(
            {
              id,
              promptTokens: prepared.promptTokens,
              maxTokens: body.max_output_tokens ?? undefined,
              sampling,
              stop: [...prepared.stop, ...(grammar?.stop ?? [])],
              grammar: prepared.grammar ?? grammar?.grammar,
              signal: request.signal,
            },
            engine.slotContextSize,
          );
          if (prepared.lazyGrammar) inference.lazyGrammar = prepared.lazyGrammar;
          const head: ResponseHead = { id, createdAt: Math.floor(Date.now() / 1000), model: body.model || model.name, settings: settingsOf(body, sampling) };
          const events = runChat(model, inference, prepared);
          return answerResponse(deps, request, head, body.stream === true, events);
        });
      },
      { body: ResponsesBody, parse: "json", detail: { summary: "Create a model response (OpenAI Responses API; stateless)", tags: ["openai"], hide: prefix !== "/v1" } },
    )
    .get(`${prefix}/responses/:id`, notStored, { params: t.Object({ id: t.String() }), detail: { summary: "Always 404: no response is stored", tags: ["openai"], hide: prefix !== "/v1" } })
    .delete(`${prefix}/responses/:id`, notStored, { params: t.Object({ id: t.String() }), detail: { summary: "Always 404: no response is stored", tags: ["openai"], hide: prefix !== "/v1" } });
}
