// From the chat form to a /v1/chat/completions body, and from a streamed answer to its figures.
// No DOM here: the tests run these functions as they are.

/** The chat form's settings as typed; empty fields are left to the server's defaults. */
export interface ChatSettings {
  model: string;
  system: string;
  temperature?: number;
  topP?: number;
  topK?: number;
  maxTokens?: number;
  seed?: number;
  /** One stop string per line; \n, \t and \\ are escapes. */
  stop: string;
  jsonMode: boolean;
  /** A JSON Schema, as text. */
  schema: string;
}

export interface ChatTurn {
  role: "user" | "assistant";
  content: string;
}

/** Stop strings from the form: one per line, empty lines skipped, \n \t \\ unescaped. */
export function parseStops(text: string): string[] {
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => line.replace(/\\(n|t|\\)/g, (_, c: string) => (c === "n" ? "\n" : c === "t" ? "\t" : "\\")));
}

/** The response_format for JSON-schema mode; throws a readable Error when the schema is not a JSON object. */
export function schemaFormat(text: string): { type: "json_schema"; json_schema: { name: string; schema: Record<string, unknown> } } {
  let schema: unknown;
  try {
    schema = JSON.parse(text);
  } catch (err) {
    throw new Error(`the JSON schema does not parse: ${(err as Error).message}`);
  }
  if (schema === null || typeof schema !== "object" || Array.isArray(schema)) throw new Error("the JSON schema must be a JSON object");
  return { type: "json_schema", json_schema: { name: "console", schema: schema as Record<string, unknown> } };
}

/** The streamed request for `history` (the turns so far, the new user message last). */
export function chatBody(s: ChatSettings, history: readonly ChatTurn[]): Record<string, unknown> {
  const messages = [...(s.system.trim() ? [{ role: "system", content: s.system }] : []), ...history.map((t) => ({ role: t.role, content: t.content }))];
  const stop = parseStops(s.stop);
  const body: Record<string, unknown> = { model: s.model, messages, stream: true, stream_options: { include_usage: true } };
  if (s.temperature !== undefined) body.temperature = s.temperature;
  if (s.topP !== undefined) body.top_p = s.topP;
  if (s.topK !== undefined) body.top_k = s.topK;
  if (s.maxTokens !== undefined) body.max_tokens = s.maxTokens;
  if (s.seed !== undefined) body.seed = s.seed;
  if (stop.length > 0) body.stop = stop;
  if (s.jsonMode) body.response_format = schemaFormat(s.schema);
  return body;
}

/** When each part of an answer arrived, in ms on one clock (performance.now()). */
export interface AnswerTimes {
  sent: number;
  /** First text or reasoning; undefined while nothing came. */
  first?: number;
  last?: number;
}

interface AnswerFigures {
  /** Time to first token: from sending the request to the first text or reasoning, in ms. */
  ttftMs?: number;
  tokens: number;
  /** Generation speed after the first token: (tokens - 1) over the time from first to last. */
  tokensPerSecond?: number;
}

export function answerFigures(t: AnswerTimes, tokens: number): AnswerFigures {
  const ttftMs = t.first === undefined ? undefined : t.first - t.sent;
  const span = t.first !== undefined && t.last !== undefined ? t.last - t.first : 0;
  return { ttftMs, tokens, tokensPerSecond: tokens > 1 && span > 0 ? ((tokens - 1) * 1000) / span : undefined };
}

/** "TTFT 120 ms · 48 tokens · 210.5 tokens/s", skipping what is unknown. */
export function describeFigures(f: AnswerFigures): string {
  const parts: string[] = [];
  if (f.ttftMs !== undefined) parts.push(`TTFT ${Math.round(f.ttftMs)} ms`);
  parts.push(`${f.tokens} token${f.tokens === 1 ? "" : "s"}`);
  if (f.tokensPerSecond !== undefined) parts.push(`${f.tokensPerSecond.toFixed(1)} tokens/s`);
  return parts.join(" · ");
}
