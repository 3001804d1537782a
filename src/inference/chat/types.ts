// Plain data of the chat pipeline: a conversation as every public API can express it (OpenAI chat,
// Anthropic Messages, OpenAI Responses map onto these), the syntax a chat template gives the model
// for thoughts and tool calls, and what the pipeline makes of the generated text.
import type { FinishReason, Timings, TokenLogprobs, Usage } from "../types.ts";

interface ToolCall {
  name: string;
  /** Parsed JSON arguments (an object for every tool the template knows). */
  arguments: unknown;
}

export type ChatMessage =
  | { role: "system"; text: string }
  | { role: "user"; text: string }
  /** `toolCalls` are paired with their results (the tool messages that follow) by the pipeline's caller. */
  | { role: "assistant"; text: string; reasoning?: string; toolCalls?: Array<ToolCall & { result: string }> };

export interface ToolSpec {
  name: string;
  description?: string;
  /** JSON Schema of the arguments, as the request sent it (prepareChat refuses all but object schemas); undefined for a tool that takes none. */
  parameters?: unknown;
  /** Where the API request had it ("tools[2]"), for error messages. */
  param?: string;
}

export type ToolChoice =
  /** The model decides; a call it starts is finished under a grammar, so it always parses. */
  | { type: "auto" }
  /** Tools are neither shown to the model nor parsed. */
  | { type: "none" }
  /** One call or more, forced by a grammar from the first token. */
  | { type: "required" }
  /** That function, forced. */
  | { type: "function"; name: string };

export interface ChatRequest {
  messages: readonly ChatMessage[];
  tools?: readonly ToolSpec[];
  toolChoice?: ToolChoice;
  /** Several calls in one answer (OpenAI's parallel_tool_calls; default true). */
  parallelToolCalls?: boolean;
  /** Extra variables for the Jinja template (chat_template_kwargs, e.g. enable_thinking). */
  templateKwargs?: Readonly<Record<string, unknown>>;
  /** "parse" splits thoughts into reasoning (default); "none" leaves them in the text, as generated. */
  reasoning?: "parse" | "none";
}

/**
 * Where a template puts tool calls and thoughts, as plain text (special tokens included as their
 * text). A call is `prefix NAME paramsPrefix JSON suffix`; several calls are joined by
 * `betweenCalls` inside `sectionPrefix ... sectionSuffix`.
 */
export interface ChatSyntax {
  calls?: {
    sectionPrefix: string;
    prefix: string;
    paramsPrefix: string;
    suffix: string;
    betweenCalls: string;
    sectionSuffix: string;
    /** The syntax has a way to write several calls in one answer. */
    parallel: boolean;
  };
  /** `open` is "" when the template opens thoughts by itself (the answer then starts in one). */
  thought?: { open: string; close: string };
}

/** What the template supports, for /v1/models and for refusing tools it cannot render. */
export interface ChatCapabilities {
  /** Name of the template or wrapper in use. */
  template: string;
  tools: boolean;
  reasoning: boolean;
}

/** What a template renders: the conversation, the tools it is told about, its variables. */
export interface RenderInput {
  messages: readonly ChatMessage[];
  tools?: readonly ToolSpec[];
  templateKwargs?: Readonly<Record<string, unknown>>;
}

/** Rendered prompt plus what is needed to read the answer. */
export interface RenderedChat {
  tokens: number[];
  /** The prompt as text, as the template wrote it (control tokens as their text, no BOS). */
  text: string;
  /** Stop strings the template needs besides the model's end-of-generation tokens. */
  stop: string[];
  template: string;
  syntax: ChatSyntax;
  /** The template opened a thought at the start of the answer (the model writes reasoning first). */
  thoughtOpen: boolean;
}

/**
 * `choice` is the choice's index for requests with several (n > 1; absent otherwise). `logprobs`
 * (when asked) ride on the text event made from the same tokens, or on a "logprobs" event of their
 * own when those tokens' text is still held (a possible delimiter) or is not text (a tool call).
 */
export type ChatEvent =
  | { type: "started"; cachedTokens: number }
  /** `tokens`: generated so far (in its choice) when this text came: the last one's is the thought's share of the answer. */
  | { type: "reasoning"; text: string; choice?: number; logprobs?: TokenLogprobs[]; tokens?: number }
  | { type: "content"; text: string; choice?: number; logprobs?: TokenLogprobs[] }
  /** A whole call: emitted only once its arguments are complete JSON. `index` counts calls within the choice. */
  | { type: "tool_call"; index: number; name: string; arguments: string; choice?: number }
  | { type: "logprobs"; logprobs: TokenLogprobs[]; choice?: number }
  /** One choice of an n > 1 request ended; "done" with the totals follows the last. */
  | { type: "finish"; choice: number; finishReason: ChatFinishReason }
  /** `stopString`: the stop string that ended the answer, when one did (the scheduler's done event). */
  | { type: "done"; finishReason: ChatFinishReason; usage: Usage; timings: Timings; error?: string; stopString?: string };

export type ChatFinishReason = FinishReason | "tool_calls";
