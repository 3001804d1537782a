// Chat templates through node-llama-cpp: conversations (with tool calls and their results, and
// thoughts) rendered by the model's own template, and the call and thought syntax read from it.
//
// Which wrapper renders: a built-in one named by --chat-template NAME; otherwise the Jinja
// template (the GGUF's, or --chat-template FILE) resolved by node-llama-cpp, which picks its own
// equivalent wrapper when the template matches one and renders the Jinja itself otherwise. A
// request with template variables (chat_template_kwargs) renders that Jinja directly with them.
// Without any template, the documented plain transcript (engine.ts plainChat) is used.
import {
  ChatWrapper,
  JinjaTemplateChatWrapper,
  LlamaText,
  resolvableChatWrapperTypeNames,
  resolveChatWrapper,
  SpecialToken,
  SpecialTokensText,
  type ChatHistoryItem,
  type ChatModelFunctions,
  type ChatModelResponse,
  type LlamaModel,
} from "node-llama-cpp";
import { PLAIN_CHAT, plainChat } from "../engine.ts";
import type { ChatCapabilities, ChatMessage, ChatSyntax, RenderedChat, RenderInput, ToolSpec } from "../chat/types.ts";
import { InferenceError } from "../types.ts";

/** Wrappers built for distinct chat_template_kwargs, kept for reuse (clients repeat theirs). */
const KWARGS_WRAPPERS = 8;

interface ChatTemplateSource {
  /** A Jinja template (the GGUF's own or a file's). */
  jinja?: string;
  /** A node-llama-cpp wrapper name ("chatML", "qwen", "llama3.1", ...); wins over `jinja`. */
  wrapper?: string;
}

export class ChatTemplate {
  /** null: no template at all, plainChat renders. */
  private readonly wrapper: ChatWrapper | null;
  private readonly byKwargs = new Map<string, ChatWrapper>();
  readonly capabilities: ChatCapabilities;
  readonly syntax: ChatSyntax;
  /** The Jinja text in force (given or the GGUF's), unless a built-in wrapper was named. */
  readonly jinja?: string;

  constructor(
    private readonly model: LlamaModel,
    source: ChatTemplateSource,
    private readonly tokenize: (text: LlamaText) => number[],
    /** The plain transcript is user text: tokenized as the engine tokenizes prompts, BOS included. */
    private readonly tokenizePlain: (text: string) => number[],
  ) {
    this.jinja = source.wrapper ? undefined : jinjaOf(model, source);
    const picked = pickWrapper(model, source, this.jinja);
    this.wrapper = picked && rawToolResults(picked);
    this.syntax = this.wrapper ? this.syntaxOf(this.wrapper) : {};
    this.capabilities = {
      template: this.wrapper?.wrapperName ?? PLAIN_CHAT,
      tools: this.syntax.calls !== undefined,
      reasoning: this.syntax.thought !== undefined,
    };
  }

  render(input: RenderInput, bos: number | undefined): RenderedChat {
    const wrapper = this.wrapperFor(input.templateKwargs);
    if (!wrapper) {
      const turns = input.messages.map((m) => ({ role: m.role, text: m.text }));
      const { text, stop } = plainChat(turns);
      return { tokens: this.tokenizePlain(text), text, stop, template: PLAIN_CHAT, syntax: {}, thoughtOpen: false };
    }
    const history = toHistory(input.messages, wrapper instanceof JinjaTemplateChatWrapper);
    const functions = input.tools && input.tools.length > 0 ? toFunctions(input.tools) : undefined;
    let state: ReturnType<ChatWrapper["generateContextState"]>;
    try {
      state = wrapper.generateContextState({ chatHistory: history, availableFunctions: functions, documentFunctionParams: true });
    } catch (err) {
      throw new InferenceError("invalid_request", `the model's chat template rejected the messages: ${err instanceof Error ? err.message : String(err)}`);
    }
    const syntax = wrapper === this.wrapper ? this.syntax : this.syntaxOf(wrapper);
    let context = state.contextText;
    if (input.templateKwargs?.enable_thinking === false && syntax.thought) {
      const closed = emptyThought(wrapper, input.templateKwargs, context.toString(), syntax.thought.close);
      if (closed) context = LlamaText([context, new SpecialTokensText(closed)]);
    }
    const open = syntax.thought?.open;
    const rendered = context.toString().trimEnd();
    return {
      tokens: withBos(this.tokenize(context), bos),
      text: promptText(this.model, context),
      stop: plainText(state.stopGenerationTriggers),
      template: wrapper.wrapperName,
      syntax,
      thoughtOpen: open !== undefined && (open === "" || rendered.endsWith(open)),
    };
  }

  /**
   * The wrapper's syntax, with call suffixes cut at an end-of-generation token they contain
   * (Llama 3.1's "<|eom_id|>"): generation ends on that token, and a grammar cannot make the model
   * write it as text.
   */
  private syntaxOf(w: ChatWrapper): ChatSyntax {
    const syntax = syntaxOf(w);
    if (!syntax.calls) return syntax;
    const cut = (text: string) => {
      for (const t of this.model.tokenize(text, true) as number[]) {
        if (!this.model.isEogToken(t as never)) continue;
        const at = text.indexOf(this.model.detokenize([t as never], true));
        if (at !== -1) return text.slice(0, at);
      }
      return text;
    };
    return { ...syntax, calls: { ...syntax.calls, suffix: cut(syntax.calls.suffix), sectionSuffix: cut(syntax.calls.sectionSuffix) } };
  }

  private wrapperFor(kwargs: Readonly<Record<string, unknown>> | undefined): ChatWrapper | null {
    const jinja = this.jinja;
    if (!kwargs || Object.keys(kwargs).length === 0 || !jinja) return this.wrapper;
    const key = JSON.stringify(kwargs);
    let w = this.byKwargs.get(key);
    if (!w) {
      try {
        // node-llama-cpp passes its own `reasoning` option to the template as enable_thinking, over ours.
        const thinking = typeof kwargs.enable_thinking === "boolean" ? { reasoning: kwargs.enable_thinking } : {};
        w = rawToolResults(new JinjaTemplateChatWrapper({ template: jinja, tokenizer: this.model.tokenizer, additionalRenderParameters: { ...kwargs }, ...thinking }));
      } catch (err) {
        throw new InferenceError("invalid_request", `chat_template_kwargs: the template fails with them: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (this.byKwargs.size >= KWARGS_WRAPPERS) this.byKwargs.delete(this.byKwargs.keys().next().value!);
      this.byKwargs.set(key, w);
    }
    return w;
  }
}

/** Built-in wrapper names node-llama-cpp resolves (for --chat-template NAME and its error message). */
const BUILT_IN_TEMPLATES: readonly string[] = resolvableChatWrapperTypeNames.filter((n) => n !== "auto" && n !== "template" && n !== "jinjaTemplate");

/**
 * Only a template the GGUF itself carries (or one given) is trusted: node-llama-cpp would otherwise
 * guess a wrapper from the architecture name ("llama" -> its "### Human:" format), which a base
 * model has never seen either, so the documented plain format is the more predictable fallback.
 */
function jinjaOf(model: LlamaModel, source: ChatTemplateSource): string | undefined {
  const template = source.jinja ?? model.fileInfo.metadata?.tokenizer?.chat_template;
  return typeof template === "string" && template.trim() !== "" ? template : undefined;
}

function pickWrapper(model: LlamaModel, source: ChatTemplateSource, jinja: string | undefined): ChatWrapper | null {
  if (source.wrapper) {
    const name = BUILT_IN_TEMPLATES.find((n) => n.toLowerCase() === source.wrapper!.toLowerCase());
    if (!name) throw new Error(`unknown chat template "${source.wrapper}" (built-in: ${BUILT_IN_TEMPLATES.join(", ")}; or give a Jinja template file)`);
    return resolveChatWrapper(model, { type: name as never }) as ChatWrapper;
  }
  if (jinja === undefined) return null;
  return resolveChatWrapper(model, { customWrapperSettings: { jinjaTemplate: { template: jinja } } }) as ChatWrapper;
}

/**
 * node-llama-cpp renders the assistant's turn as a message and never the template's generation
 * prompt, where templates like Qwen3's write an empty thought when enable_thinking is false. That
 * empty thought is taken from the generation prompt (rendered with and without it) when the
 * prompt does not already end with it. Uses the wrapper's parsed template (internal in 3.21.1).
 */
function emptyThought(wrapper: ChatWrapper, kwargs: Readonly<Record<string, unknown>>, context: string, close: string): string | undefined {
  const template = (wrapper as unknown as { _jinjaTemplate?: { render(vars: object): string } })._jinjaTemplate;
  if (!template) return undefined;
  const vars = { ...kwargs, messages: [{ role: "user", content: "\u0001" }], bos_token: "", eos_token: "" };
  let generation: string;
  try {
    const without = template.render({ ...vars, add_generation_prompt: false });
    const withPrompt = template.render({ ...vars, add_generation_prompt: true });
    if (!withPrompt.startsWith(without)) return undefined;
    generation = withPrompt.slice(without.length);
  } catch {
    return undefined;
  }
  // The part of the generation prompt beyond the assistant opening the context already ends with.
  for (let k = generation.length; k > 0; k--) {
    if (context.endsWith(generation.slice(0, k))) {
      const extra = generation.slice(k);
      return extra.includes(close) ? extra : undefined;
    }
  }
  return undefined;
}

function withBos(tokens: number[], bos: number | undefined): number[] {
  return bos !== undefined && tokens[0] !== bos ? [bos, ...tokens] : tokens;
}

/**
 * Pairs are already made by the caller: each assistant tool call carries its result. node-llama-cpp
 * renders them back as the template's assistant tool calls and tool messages.
 */
function toHistory(messages: readonly ChatMessage[], rawResults: boolean): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  for (const m of messages) {
    if (m.role === "system" || m.role === "user") {
      history.push({ type: m.role, text: m.text });
      continue;
    }
    const response: ChatModelResponse["response"] = [];
    if (m.reasoning) response.push({ type: "segment", segmentType: "thought", text: m.reasoning, ended: true });
    if (m.text) response.push(m.text);
    for (const call of m.toolCalls ?? []) {
      response.push({ type: "functionCall", name: call.name, params: call.arguments, result: rawResults ? call.result : resultValue(call.result) });
    }
    history.push({ type: "model", response });
  }
  // An empty model turn asks the template for the assistant's opening; a final assistant turn from
  // the client is left open instead (prefill).
  if (messages[messages.length - 1]?.role !== "assistant") history.push({ type: "model", response: [] });
  return history;
}

/**
 * A Jinja template gets a tool's result as the text the client sent, as the template's own message
 * (node-llama-cpp would write it as JSON: a text result in quotes). Set once per wrapper, through
 * its internal switch (node-llama-cpp 3.21.1); other wrappers are returned as they are.
 */
function rawToolResults(wrapper: ChatWrapper): ChatWrapper {
  if (wrapper instanceof JinjaTemplateChatWrapper) (wrapper as unknown as { _stringifyFunctionResult: boolean })._stringifyFunctionResult = false;
  return wrapper;
}

/** For the other wrappers, which write results as JSON: JSON text goes as its value, so it is not quoted again. */
function resultValue(text: string): unknown {
  const t = text.trim();
  if (t.startsWith("{") || t.startsWith("[")) {
    try {
      return JSON.parse(t);
    } catch {}
  }
  return text;
}

function toFunctions(tools: readonly ToolSpec[]): ChatModelFunctions {
  const out: Record<string, { description?: string; params?: never }> = {};
  for (const t of tools) out[t.name] = { description: t.description, params: t.parameters as never };
  return out;
}

/** LlamaText (or a string) as plain text; it ends at a built-in special token (EOS and the like). */
function textOf(v: unknown): string {
  if (v == null) return "";
  let out = "";
  for (const value of LlamaText(v as never).values) {
    if (value instanceof SpecialToken) break;
    out += typeof value === "string" ? value : (value as { value: string }).value;
  }
  return out;
}

function plainText(triggers: readonly unknown[]): string[] {
  const out: string[] = [];
  for (const t of triggers) {
    const values = LlamaText(t as never).values;
    if (values.length > 0 && values.every((v) => !(v instanceof SpecialToken))) out.push(textOf(t));
  }
  return out.filter((s) => s.length > 0);
}

/** The wrapper's call and thought syntax as text; wrappers with node-llama-cpp's generic default have no native call syntax. */
function syntaxOf(w: ChatWrapper): ChatSyntax {
  const f = w.settings.functions;
  const syntax: ChatSyntax = {};
  if (f !== ChatWrapper.defaultSettings.functions && textOf(f.call.prefix).trim() !== "") {
    const par = f.parallelism?.call;
    syntax.calls = {
      sectionPrefix: textOf(par?.sectionPrefix),
      prefix: textOf(f.call.prefix),
      paramsPrefix: textOf(f.call.paramsPrefix),
      suffix: textOf(f.call.suffix),
      betweenCalls: par ? textOf(par.betweenCalls) : "",
      sectionSuffix: par ? textOf(par.sectionSuffix) : "",
      parallel: par !== undefined,
    };
  }
  const thought = w.settings.segments?.thought;
  if (thought) {
    // {type: "openedOnStart"}: the template opens the thought itself, there is no opening text.
    const opened = typeof thought.prefix === "object" && (thought.prefix as { type?: string }).type === "openedOnStart";
    const open = opened ? "" : textOf(thought.prefix).trim();
    const close = textOf(thought.suffix).trim();
    if (close) syntax.thought = { open, close };
  }
  return syntax;
}

/**
 * The rendered prompt as text, as llama-server's /apply-template returns it: special tokens as their
 * text, less the BOS that node-llama-cpp puts first (the engine adds BOS to prompts by itself).
 */
function promptText(model: LlamaModel, context: LlamaText): string {
  return context.values
    .map((v, i) => {
      if (typeof v === "string") return v;
      if (v instanceof SpecialTokensText) return v.value;
      if (v instanceof SpecialToken) return i === 0 && v.value === "BOS" ? "" : model.detokenize(model.tokenize(v.value, "builtin"), true);
      return "";
    })
    .join("");
}
