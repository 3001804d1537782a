// The one chat pipeline every chat API maps onto:
//   prepareChat: messages + tools -> the template's prompt tokens, its stop strings, and the
//     grammar that makes tool calls parse (forced from the start, or lazily from the trigger);
//   chatEvents: the scheduler's text -> reasoning, content and whole tool calls (chat/parser.ts),
//     with "tool_calls" as the finish reason when the answer was calls.
// Its parts are in chat/ (plain data, call grammars, the answer parser), which the engine's
// interface uses too; the pipeline sits above both the engine and the scheduler, so it lives here.
import { GrammarError, type Engine } from "./engine.ts";
import type { Scheduler } from "./scheduler.ts";
import { InferenceError, type FinishReason, type InferenceRequest, type TokenEvent, type TokenLogprobs } from "./types.ts";
import { callGrammar, callTrigger, trimSyntax } from "./chat/grammar.ts";
import { ChatParser } from "./chat/parser.ts";
import type { ChatEvent, ChatFinishReason, ChatRequest, ChatSyntax, RenderedChat, ToolSpec } from "./chat/types.ts";

export interface PreparedChat {
  promptTokens: number[];
  /** The template's stop strings. */
  stop: string[];
  /** Forced calls: the whole answer is under this grammar. */
  grammar?: unknown;
  lazyGrammar?: { triggers: string[]; grammar: unknown };
  rendered: RenderedChat;
  /** The template's syntax, with what its stop strings end cut away (grammar.ts trimSyntax). */
  syntax: ChatSyntax;
  /** Tool names the answer may call (empty: calls are not parsed). */
  callable: string[];
  reasoning: boolean;
}

const bad = (param: string, message: string) => new InferenceError("invalid_request", `${param}: ${message}`, param);

export async function prepareChat(engine: Engine, req: ChatRequest): Promise<PreparedChat> {
  const tools = req.tools ?? [];
  const choice = req.toolChoice ?? { type: tools.length > 0 ? "auto" : "none" };
  const caps = engine.info.chat;
  checkTools(tools);
  if (choice.type !== "none" && tools.length === 0) throw bad("tool_choice", `"${choice.type}" needs tools, and none were given`);
  const active = choice.type !== "none" && tools.length > 0;
  if (active && !caps.tools) {
    throw bad(
      "tools",
      `the model's chat template (${caps.template}) has no tool-call syntax, so it cannot be given tools; ` +
        `serve it with --chat-template NAME|FILE naming one that has, or send tool_choice "none"`,
    );
  }
  let called = tools;
  if (choice.type === "function") {
    called = tools.filter((t) => t.name === choice.name);
    if (called.length === 0) throw bad("tool_choice", `names the function "${choice.name}", which is not among the tools (${tools.map((t) => t.name).join(", ")})`);
  }
  // Before rendering: a schema that cannot be enforced is refused at once, not after a large
  // schema has been rendered and tokenized into the prompt.
  const grammarTools = active ? await argumentGrammars(engine, called) : [];
  const rendered = engine.renderChat({ messages: req.messages, tools: active ? tools : undefined, templateKwargs: req.templateKwargs });
  const syntax = trimSyntax(rendered.syntax, rendered.stop);
  const prepared: PreparedChat = {
    promptTokens: rendered.tokens,
    stop: rendered.stop,
    rendered,
    syntax,
    callable: active ? called.map((t) => t.name) : [],
    reasoning: req.reasoning !== "none",
  };
  if (!active) return prepared;
  if (!syntax.calls) throw bad("tools", `the chat template (${rendered.template}) has no tool-call syntax`);
  const forced = choice.type !== "auto";
  const gbnf = callGrammar({
    syntax,
    tools: grammarTools,
    parallel: req.parallelToolCalls !== false && choice.type !== "function",
    mode: forced ? "forced" : "lazy",
    thoughtOpen: rendered.thoughtOpen && prepared.reasoning,
  });
  const grammar = await engine.createGrammar(gbnf);
  if (forced) prepared.grammar = grammar;
  else prepared.lazyGrammar = { triggers: [callTrigger(syntax).trigger], grammar };
  return prepared;
}

/** Each callable tool's arguments as GBNF (its JSON Schema's grammar); a schema outside the subset is a 400 naming the tool. */
function argumentGrammars(engine: Engine, called: readonly ToolSpec[]): Promise<Array<{ name: string; argsGbnf?: string }>> {
  return Promise.all(
    called.map(async (t) => {
      if (t.parameters === undefined) return { name: t.name };
      try {
        // checkTools made sure it is an object.
        return { name: t.name, argsGbnf: await engine.jsonSchemaGbnf(t.parameters as object) };
      } catch (err) {
        if (err instanceof GrammarError) throw bad(t.param ?? "tools", `the parameters of "${t.name}" cannot be enforced: ${err.message}`);
        throw err;
      }
    }),
  );
}

function checkTools(tools: readonly ToolSpec[]): void {
  const seen = new Set<string>();
  for (const t of tools) {
    if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(t.name)) throw bad(t.param ?? "tools", `the tool name "${t.name}" must be 1 to 128 letters, digits, _ . : or -`);
    if (seen.has(t.name)) throw bad(t.param ?? "tools", `two tools are named "${t.name}"`);
    seen.add(t.name);
    const problem = parametersProblem(t.parameters);
    if (problem) throw bad(t.param ?? "tools", `the parameters of "${t.name}" ${problem}`);
  }
}

/**
 * A call's arguments are a JSON object (OpenAI and Anthropic refuse other tool schemas too), so a
 * schema of another type would make calls that no client, template or later request takes back.
 * A schema without `type` (anyOf, $ref) is left to the JSON Schema check.
 */
function parametersProblem(p: unknown): string | undefined {
  if (p === undefined) return undefined;
  if (typeof p !== "object" || p === null || Array.isArray(p)) return `must be a JSON Schema object; got ${Array.isArray(p) ? "a list" : p === null ? "null" : `a ${typeof p}`}`;
  const type = (p as { type?: unknown }).type;
  if (type !== undefined && type !== "object") return `must describe an object (type "object"), since a call's arguments are one; got type ${JSON.stringify(type)}`;
  return undefined;
}

/**
 * Submits the request (admission errors throw here, before any answer is started) and reads its
 * text as a chat answer. A call that did not complete (the answer was cut by max_tokens) is never
 * returned; the finish reason then says why it ended. Leaving the stream early cancels the request.
 */
export function runChat(scheduler: Pick<Scheduler, "submit">, request: InferenceRequest, prepared: PreparedChat): AsyncGenerator<ChatEvent> {
  return readChat(scheduler.submit(request), prepared, request.choices ?? 1);
}

async function* readChat(events: AsyncIterable<TokenEvent>, prepared: PreparedChat, choices: number): AsyncGenerator<ChatEvent> {
  const parsers: ChatParser[] = [];
  const parser = (i: number) =>
    (parsers[i] ??= new ChatParser({ syntax: prepared.syntax, reasoning: prepared.reasoning, thoughtOpen: prepared.rendered.thoughtOpen, tools: prepared.callable }));
  /** A choice's reason, as a chat answer: a stop after complete calls is "tool_calls". */
  const reason = (p: ChatParser, r: FinishReason): ChatFinishReason => (p.callCount > 0 && r === "stop" && !p.inCall ? "tool_calls" : r);
  for await (const ev of events) {
    if (ev.type === "started") yield { type: "started", cachedTokens: ev.cachedTokens };
    else if (ev.type === "text") {
      const i = ev.index ?? 0;
      const out: ChatEvent[] = stamp(withChoice(parser(i).push(ev.text), ev.index), ev.tokens);
      if (ev.logprobs?.length) {
        const carrier = out.find((e) => e.type === "content" || e.type === "reasoning") as { logprobs?: TokenLogprobs[] } | undefined;
        if (carrier) carrier.logprobs = ev.logprobs;
        else out.push({ type: "logprobs", logprobs: ev.logprobs, ...(ev.index !== undefined ? { choice: ev.index } : {}) });
      }
      yield* out;
    } else if (ev.type === "finish") {
      const p = parser(ev.index);
      yield* stamp(withChoice(p.end(), ev.index), ev.completionTokens);
      yield { type: "finish", choice: ev.index, finishReason: reason(p, ev.finishReason) };
    } else {
      // With one choice there was no "finish": its parser ends here and its reason is the request's.
      const single = choices === 1;
      const p = parser(0);
      if (single) yield* stamp(p.end(), ev.usage.completionTokens);
      const finishReason = single ? reason(p, ev.finishReason) : ev.finishReason;
      const stop = ev.stopString !== undefined ? { stopString: ev.stopString } : {};
      yield { type: "done", finishReason, usage: ev.usage, timings: ev.timings, ...(ev.error ? { error: ev.error } : {}), ...stop };
    }
  }
}

/** Reasoning events carry the tokens generated so far (their choice's), for reasoning token counts. */
function stamp<T extends ChatEvent>(events: T[], tokens: number): T[] {
  for (const e of events) if (e.type === "reasoning") (e as { tokens?: number }).tokens = tokens;
  return events;
}

function withChoice<T extends ChatEvent>(events: T[], choice: number | undefined): T[] {
  if (choice !== undefined) for (const e of events) (e as { choice?: number }).choice = choice;
  return events;
}
