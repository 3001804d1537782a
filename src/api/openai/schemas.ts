// Request bodies of the OpenAI-compatible routes, as TypeBox schemas: Elysia validates with them
// and /openapi/json describes the API from them. Optional fields also accept null, because the
// official SDKs and LangChain send `"stop": null`, `"max_tokens": null` and the like.
import { t, type TSchema } from "elysia";
import { INFERENCE_MAX_PROMPT_CHARS, INFERENCE_MAX_STOP_CHARS, INFERENCE_MAX_STOP_STRINGS, INFERENCE_MAX_TOKENS_CAP } from "../../limits.ts";
import { KeepAliveField, ModelField } from "../models.ts";

const Opt = <T extends TSchema>(schema: T) => t.Optional(t.Union([schema, t.Null()]));

/** Messages in one chat request. Threat: per-message overhead in template rendering. */
export const API_MAX_CHAT_MESSAGES = 4096;
/** Content parts in one message. */
export const API_MAX_CONTENT_PARTS = 256;
/** Alternatives per token with logprobs (OpenAI's chat limit). Threat: output size per token. */
export const API_MAX_TOP_LOGPROBS = 20;

const StopString = t.String({ minLength: 1, maxLength: INFERENCE_MAX_STOP_CHARS });

/** Fields shared by /v1/completions and /v1/chat/completions. */
const common = {
  model: ModelField,
  keep_alive: KeepAliveField,
  max_tokens: Opt(t.Integer({ minimum: 1, maximum: INFERENCE_MAX_TOKENS_CAP })),
  temperature: Opt(t.Number({ minimum: 0, maximum: 2 })),
  top_p: Opt(t.Number({ minimum: 0, maximum: 1 })),
  seed: Opt(t.Integer({ description: "Same seed, prompt and settings: same output. Negative: random" })),
  stop: Opt(t.Union([StopString, t.Array(StopString, { maxItems: INFERENCE_MAX_STOP_STRINGS })])),
  presence_penalty: Opt(t.Number({ minimum: -2, maximum: 2 })),
  frequency_penalty: Opt(t.Number({ minimum: -2, maximum: 2 })),
  n: Opt(t.Integer({ minimum: 1, maximum: 128, description: "Choices to generate, each in its own slot: at most the slot count (--parallel)" })),
  stream: Opt(t.Boolean()),
  stream_options: Opt(t.Object({ include_usage: Opt(t.Boolean()) })),
  user: Opt(t.String({ maxLength: 256 })),
  response_format: Opt(
    t.Object({
      type: t.Union([t.Literal("text"), t.Literal("json_object"), t.Literal("json_schema")]),
      json_schema: t.Optional(
        t.Object({
          name: t.Optional(t.String({ maxLength: 64 })),
          description: t.Optional(t.String()),
          schema: t.Optional(t.Record(t.String(), t.Unknown())),
          strict: Opt(t.Boolean()),
        }),
      ),
      // llama-server also takes the schema here, beside type "json_object".
      schema: t.Optional(t.Record(t.String(), t.Unknown())),
    }),
  ),
  // llama-server extras (bench tools send ignore_eos).
  top_k: Opt(t.Integer({ minimum: 0 })),
  min_p: Opt(t.Number({ minimum: 0, maximum: 1 })),
  repeat_penalty: Opt(t.Number({ minimum: 0, maximum: 10 })),
  repeat_last_n: Opt(t.Integer({ minimum: 0, maximum: 4096 })),
  ignore_eos: Opt(t.Boolean()),
  logprobs: Opt(
    t.Union([t.Boolean(), t.Integer({ minimum: 0, maximum: API_MAX_TOP_LOGPROBS })], {
      description: "Chat: true for per-token log-probabilities. Completions: how many alternatives per token (0-20)",
    }),
  ),
  top_logprobs: Opt(t.Integer({ minimum: 0, maximum: API_MAX_TOP_LOGPROBS, description: "Chat: alternatives per token (needs logprobs: true)" })),
  // Accepted so that a non-default value can be refused by name instead of silently ignored.
  logit_bias: Opt(t.Record(t.String(), t.Number())),
  grammar: Opt(t.String({ maxLength: INFERENCE_MAX_PROMPT_CHARS, description: "llama-server's GBNF grammar: the output follows it" })),
};

export const CompletionBody = t.Object({
  ...common,
  prompt: t.Union(
    [
      t.String({ maxLength: INFERENCE_MAX_PROMPT_CHARS }),
      t.Array(t.String({ maxLength: INFERENCE_MAX_PROMPT_CHARS }), { minItems: 1, maxItems: 16 }),
      t.Array(t.Integer({ minimum: 0 }), { minItems: 1, maxItems: INFERENCE_MAX_PROMPT_CHARS }),
    ],
    { description: "A string, a list with one string, or a list of token ids" },
  ),
  echo: Opt(t.Boolean()),
  best_of: Opt(t.Integer({ minimum: 1 })),
  suffix: Opt(t.String()),
});

const ContentPart = t.Object({ type: t.String(), text: t.Optional(t.String({ maxLength: INFERENCE_MAX_PROMPT_CHARS })) });

/** Tools in one request. Threat: each one is rendered into the prompt and compiled into the call grammar. */
export const API_MAX_TOOLS = 128;
/** Calls in one assistant message of the history. */
const API_MAX_TOOL_CALLS = 128;

const ToolCallIn = t.Object({
  id: Opt(t.String({ maxLength: 256 })),
  type: Opt(t.Literal("function")),
  function: t.Object({ name: t.String({ minLength: 1, maxLength: 256 }), arguments: t.String({ maxLength: INFERENCE_MAX_PROMPT_CHARS }) }),
});

const ChatMessage = t.Object({
  role: t.Union([t.Literal("system"), t.Literal("developer"), t.Literal("user"), t.Literal("assistant"), t.Literal("tool"), t.Literal("function")]),
  content: Opt(t.Union([t.String({ maxLength: INFERENCE_MAX_PROMPT_CHARS }), t.Array(ContentPart, { maxItems: API_MAX_CONTENT_PARTS })])),
  name: Opt(t.String({ maxLength: 256 })),
  tool_calls: Opt(t.Array(ToolCallIn, { maxItems: API_MAX_TOOL_CALLS })),
  tool_call_id: Opt(t.String({ maxLength: 256 })),
  // An earlier answer's reasoning, as llama-server (reasoning_content) and vLLM (reasoning) return it.
  reasoning_content: Opt(t.String({ maxLength: INFERENCE_MAX_PROMPT_CHARS })),
  reasoning: Opt(t.String({ maxLength: INFERENCE_MAX_PROMPT_CHARS })),
});

const Tool = t.Object({
  type: t.Literal("function"),
  function: t.Object({
    name: t.String({ minLength: 1, maxLength: 128 }),
    description: Opt(t.String({ maxLength: INFERENCE_MAX_PROMPT_CHARS })),
    // Any JSON here: Elysia would turn a string or list sent for a t.Record into an object
    // ("ab" -> {"0": "a", "1": "b"}); prepareChat refuses what is not an object schema, as sent.
    parameters: Opt(t.Unknown({ description: "JSON Schema of the arguments (type \"object\")" })),
    strict: Opt(t.Boolean()),
  }),
});

export const ChatBody = t.Object({
  ...common,
  messages: t.Array(ChatMessage, { minItems: 1, maxItems: API_MAX_CHAT_MESSAGES }),
  max_completion_tokens: Opt(t.Integer({ minimum: 1, maximum: INFERENCE_MAX_TOKENS_CAP })),
  tools: Opt(t.Array(Tool, { maxItems: API_MAX_TOOLS })),
  tool_choice: Opt(
    t.Union([
      t.Literal("auto"),
      t.Literal("none"),
      t.Literal("required"),
      t.Object({ type: t.Literal("function"), function: t.Object({ name: t.String({ minLength: 1, maxLength: 128 }) }) }),
    ]),
  ),
  parallel_tool_calls: Opt(t.Boolean()),
  // llama-server's: "none" leaves thoughts in the content as written; the others split them out.
  reasoning_format: Opt(t.Union([t.Literal("none"), t.Literal("auto"), t.Literal("deepseek"), t.Literal("deepseek-legacy")])),
  chat_template_kwargs: Opt(t.Record(t.String(), t.Unknown())),
});

/** Which OpenAI API: chat completions or (legacy) text completions. */
export type Kind = "chat" | "text";

export type CommonBody = { [K in keyof typeof common]?: (typeof CompletionBody.static)[K] };
export type CompletionBodyT = typeof CompletionBody.static;
export type ChatBodyT = typeof ChatBody.static;
export type ChatMessageT = typeof ChatMessage.static;
export type ResponseFormat = NonNullable<CommonBody["response_format"]>;
