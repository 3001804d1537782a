// The body of POST /v1/responses as a TypeBox schema. Input items and tools are typed loosely here
// (a `type` string and the fields any kind may carry) and checked kind by kind in input.ts, so a
// wrong item gets a message naming it ("input[3].type: ...") rather than TypeBox's "Expected union
// value". Fields Warren cannot honour are declared so they can be refused by name: Elysia drops
// undeclared fields before the handler sees them.
import { t, type TSchema } from "elysia";
import { INFERENCE_MAX_PROMPT_CHARS, INFERENCE_MAX_TOKENS_CAP } from "../../limits.ts";
import { KeepAliveField, ModelField } from "../models.ts";
import { API_MAX_CHAT_MESSAGES, API_MAX_CONTENT_PARTS, API_MAX_TOOLS } from "../openai/schemas.ts";

const Opt = <T extends TSchema>(schema: T) => t.Optional(t.Union([schema, t.Null()]));
const Text = t.String({ maxLength: INFERENCE_MAX_PROMPT_CHARS });
const Id = t.String({ maxLength: 256 });

/** input_text / output_text / refusal / reasoning_text / summary_text parts; other kinds are refused in input.ts. */
const Part = t.Object({ type: t.String({ maxLength: 64 }), text: Opt(Text), refusal: Opt(Text) });
const Parts = t.Array(Part, { maxItems: API_MAX_CONTENT_PARTS });

const InputItem = t.Object({
  type: Opt(t.String({ maxLength: 64 })),
  role: Opt(t.String({ maxLength: 32 })),
  content: Opt(t.Union([Text, Parts])),
  id: Opt(Id),
  call_id: Opt(Id),
  name: Opt(t.String({ maxLength: 256 })),
  arguments: Opt(Text),
  output: Opt(t.Union([Text, Parts])),
  summary: Opt(Parts),
  status: Opt(t.String({ maxLength: 32 })),
});

const Tool = t.Object({
  type: Opt(t.String({ maxLength: 64 })),
  name: Opt(t.String({ maxLength: 128 })),
  description: Opt(Text),
  // Any JSON, checked by prepareChat as sent (see the chat schema's tools).
  parameters: Opt(t.Unknown({ description: "JSON Schema of the arguments (type \"object\")" })),
  strict: Opt(t.Boolean()),
});

const Format = t.Object({
  type: t.Union([t.Literal("text"), t.Literal("json_object"), t.Literal("json_schema")]),
  name: Opt(t.String({ maxLength: 64 })),
  description: Opt(t.String()),
  schema: Opt(t.Record(t.String(), t.Unknown())),
  strict: Opt(t.Boolean()),
});

export const ResponsesBody = t.Object({
  model: ModelField,
  keep_alive: KeepAliveField,
  input: t.Union([Text, t.Array(InputItem, { maxItems: API_MAX_CHAT_MESSAGES })], { description: "A user message, or a list of items" }),
  instructions: Opt(t.String({ maxLength: INFERENCE_MAX_PROMPT_CHARS, description: "A system message placed first" })),
  max_output_tokens: Opt(t.Integer({ minimum: 1, maximum: INFERENCE_MAX_TOKENS_CAP })),
  temperature: Opt(t.Number({ minimum: 0, maximum: 2 })),
  top_p: Opt(t.Number({ minimum: 0, maximum: 1 })),
  stream: Opt(t.Boolean()),
  stream_options: Opt(t.Object({ include_obfuscation: Opt(t.Boolean()) })),
  tools: Opt(t.Array(Tool, { maxItems: API_MAX_TOOLS })),
  tool_choice: Opt(t.Union([t.Literal("auto"), t.Literal("none"), t.Literal("required"), t.Object({ type: t.String({ maxLength: 64 }), name: Opt(t.String({ maxLength: 128 })) })])),
  parallel_tool_calls: Opt(t.Boolean()),
  text: Opt(t.Object({ format: Opt(Format), verbosity: Opt(t.String({ maxLength: 16 })) })),
  reasoning: Opt(t.Object({ effort: Opt(t.String({ maxLength: 16 })), summary: Opt(t.String({ maxLength: 16 })) })),
  metadata: Opt(t.Record(t.String({ maxLength: 64 }), t.String({ maxLength: 512 }), { maxProperties: 16 })),
  store: Opt(t.Boolean({ description: "Accepted, but nothing is stored: the server is stateless (the answer says store: false)" })),
  truncation: Opt(t.Union([t.Literal("auto"), t.Literal("disabled")])),
  user: Opt(t.String({ maxLength: 256 })),
  safety_identifier: Opt(t.String({ maxLength: 256 })),
  prompt_cache_key: Opt(t.String({ maxLength: 256 })),
  service_tier: Opt(t.String({ maxLength: 32 })),
  max_tool_calls: Opt(t.Integer({ minimum: 1 })),
  include: Opt(t.Array(t.String({ maxLength: 128 }), { maxItems: 32 })),
  // llama-server's extra: variables for the Jinja template (e.g. enable_thinking).
  chat_template_kwargs: Opt(t.Record(t.String(), t.Unknown())),
  // Declared only to be refused by name (request.ts): each needs state or features Warren lacks.
  previous_response_id: Opt(Id),
  conversation: Opt(t.Union([Id, t.Object({ id: Id })])),
  background: Opt(t.Boolean()),
  prompt: Opt(t.Object({ id: Id })),
  top_logprobs: Opt(t.Integer({ minimum: 0, maximum: 20 })),
});

export type ResponsesBodyT = typeof ResponsesBody.static;
export type InputItemT = typeof InputItem.static;
export type PartT = typeof Part.static;
export type FormatT = typeof Format.static;
