// Request bodies of the Anthropic Messages routes, as TypeBox schemas (Elysia validates with them,
// /openapi/json describes them). Content blocks are checked loosely here, one shape with every
// field a block may carry, and block by block in request.ts, so that an unsupported block (an
// image, a document) gets a 400 that names it instead of a union-mismatch message.
import { t } from "elysia";
import { INFERENCE_MAX_PROMPT_CHARS, INFERENCE_MAX_STOP_CHARS, INFERENCE_MAX_STOP_STRINGS } from "../../limits.ts";
import { KeepAliveField, ModelField } from "../models.ts";

/**
 * Largest max_tokens accepted. Anthropic clients send their model's output limit (32000, 64000):
 * the value is then lowered to what the slot has room for, so this bound only keeps it a sane number.
 */
const ANTHROPIC_MAX_TOKENS_CAP = 1 << 20;
/** Messages in one request. Threat: per-message overhead in template rendering. */
const ANTHROPIC_MAX_MESSAGES = 4096;
/** Content blocks in one message (and in one tool result). */
const ANTHROPIC_MAX_BLOCKS = 256;
/** Tools in one request. Threat: each one is rendered into the prompt and compiled into the call grammar. */
const ANTHROPIC_MAX_TOOLS = 128;
/** Anthropic's documented minimum thinking budget. */
const ANTHROPIC_MIN_THINKING_BUDGET = 1024;

const Text = t.String({ maxLength: INFERENCE_MAX_PROMPT_CHARS });
/** Accepted wherever Anthropic allows it, and ignored: Warren's prefix cache needs no breakpoints. */
const CacheControl = t.Optional(t.Unknown());

const TextBlock = t.Object({ type: t.String(), text: t.Optional(Text), cache_control: CacheControl, citations: t.Optional(t.Unknown()) });

/** A block of a tool_result's content: text, or something request.ts refuses by name. */
const ResultBlock = t.Object({ type: t.String(), text: t.Optional(Text), cache_control: CacheControl });

const ContentBlock = t.Object({
  type: t.String({ description: "text, tool_use (assistant), tool_result (user), thinking / redacted_thinking (assistant)" }),
  text: t.Optional(Text),
  // tool_use
  id: t.Optional(t.String({ maxLength: 256 })),
  name: t.Optional(t.String({ maxLength: 256 })),
  input: t.Optional(t.Unknown()),
  // tool_result
  tool_use_id: t.Optional(t.String({ maxLength: 256 })),
  content: t.Optional(t.Union([Text, t.Array(ResultBlock, { maxItems: ANTHROPIC_MAX_BLOCKS })])),
  is_error: t.Optional(t.Boolean()),
  // thinking, redacted_thinking
  thinking: t.Optional(Text),
  signature: t.Optional(t.String()),
  data: t.Optional(t.String()),
  // image, document: only so that the refusal can name them
  source: t.Optional(t.Unknown()),
  cache_control: CacheControl,
  citations: t.Optional(t.Unknown()),
});

const MessageParam = t.Object({
  role: t.Union([t.Literal("user"), t.Literal("assistant"), t.Literal("system")]),
  content: t.Union([Text, t.Array(ContentBlock, { maxItems: ANTHROPIC_MAX_BLOCKS })]),
});

const Tool = t.Object({
  name: t.String({ minLength: 1, maxLength: 128 }),
  description: t.Optional(Text),
  // Any JSON, checked by prepareChat as sent: Elysia would turn a string or list sent for a t.Record into an object.
  input_schema: t.Optional(t.Unknown({ description: "JSON Schema of the tool's input (type \"object\")" })),
  // Anthropic's server tools (web_search_..., bash_...) carry a type; request.ts refuses them by name.
  type: t.Optional(t.Union([t.String(), t.Null()])),
  cache_control: CacheControl,
  strict: t.Optional(t.Boolean()),
});

const ToolChoice = t.Object({
  type: t.Union([t.Literal("auto"), t.Literal("any"), t.Literal("tool"), t.Literal("none")]),
  name: t.Optional(t.String({ minLength: 1, maxLength: 128 })),
  disable_parallel_tool_use: t.Optional(t.Boolean()),
});

const Thinking = t.Object({
  type: t.Union([t.Literal("enabled"), t.Literal("disabled"), t.Literal("adaptive")]),
  budget_tokens: t.Optional(t.Integer({ minimum: ANTHROPIC_MIN_THINKING_BUDGET })),
  display: t.Optional(t.Unknown()),
});

/** What both routes read: the conversation, its tools and how to render it. */
const conversation = {
  model: ModelField,
  keep_alive: KeepAliveField,
  messages: t.Array(MessageParam, { minItems: 1, maxItems: ANTHROPIC_MAX_MESSAGES }),
  system: t.Optional(t.Union([Text, t.Array(TextBlock, { maxItems: ANTHROPIC_MAX_BLOCKS })])),
  tools: t.Optional(t.Array(Tool, { maxItems: ANTHROPIC_MAX_TOOLS })),
  tool_choice: t.Optional(ToolChoice),
  thinking: t.Optional(Thinking),
  // llama-server's extra: variables for the Jinja chat template (they win over what `thinking` sets).
  chat_template_kwargs: t.Optional(t.Record(t.String(), t.Unknown())),
  // Accepted so that they can be refused by name (request.ts) rather than silently dropped.
  mcp_servers: t.Optional(t.Unknown()),
  container: t.Optional(t.Unknown()),
  output_config: t.Optional(t.Object({ format: t.Optional(t.Unknown()), effort: t.Optional(t.Unknown()) })),
};

const StopSequence = t.String({ minLength: 1, maxLength: INFERENCE_MAX_STOP_CHARS });

export const MessagesBody = t.Object({
  ...conversation,
  max_tokens: t.Integer({ minimum: 1, maximum: ANTHROPIC_MAX_TOKENS_CAP }),
  stop_sequences: t.Optional(t.Array(StopSequence, { maxItems: INFERENCE_MAX_STOP_STRINGS })),
  stream: t.Optional(t.Boolean()),
  temperature: t.Optional(t.Number({ minimum: 0, maximum: 1 })),
  top_p: t.Optional(t.Number({ minimum: 0, maximum: 1 })),
  top_k: t.Optional(t.Integer({ minimum: 0 })),
  // Accepted and ignored: they change nothing Warren does.
  metadata: t.Optional(t.Object({ user_id: t.Optional(t.Union([t.String({ maxLength: 256 }), t.Null()])) })),
  service_tier: t.Optional(t.String({ maxLength: 64 })),
  cache_control: CacheControl,
  inference_geo: t.Optional(t.Unknown()),
  speed: t.Optional(t.Unknown()),
});

export const CountTokensBody = t.Object(conversation);

export type MessagesBodyT = typeof MessagesBody.static;
type CountTokensBodyT = typeof CountTokensBody.static;
export type ConversationT = CountTokensBodyT;
export type MessageParamT = typeof MessageParam.static;
export type ContentBlockT = typeof ContentBlock.static;
