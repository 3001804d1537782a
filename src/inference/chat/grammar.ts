// GBNF grammars that make tool calls parse: `call ::= prefix NAME paramsPrefix ARGS suffix`, with
// one alternative per tool and ARGS the tool's JSON Schema grammar (made by the engine). Pure
// text work, so it is tested without a model.
//
//   forced (tool_choice required or a named function): the whole answer is the call section,
//     after the rest of a thought the template opened, if any;
//   lazy (tool_choice auto): the grammar starts right after the trigger, the head of the call
//     syntax the model writes on its own (callTrigger); before it the model writes freely.
// When the grammar is complete only end-of-generation tokens remain, so the answer ends there.
import type { ChatSyntax } from "./types.ts";

interface ToolGrammarInput {
  name: string;
  /** GBNF of the arguments (a JSON Schema grammar from the engine), or undefined for "{}". */
  argsGbnf?: string;
}

/**
 * The trigger is the start of the call syntax up to its first whitespace: "<tool_call>" of
 * "<tool_call>\n{\"name\": \"". Models vary the whitespace that follows, so the grammar takes over
 * from the trigger and writes the rest exactly. `rest` is the canonical text after the trigger.
 */
export function callTrigger(syntax: ChatSyntax): { trigger: string; rest: string } {
  const c = syntax.calls!;
  const start = (c.sectionPrefix + c.prefix).trimStart();
  const ws = start.search(/\s/);
  const trigger = ws >= 2 ? start.slice(0, ws) : start;
  return { trigger, rest: start.slice(trigger.length) };
}

interface CallGrammarOptions {
  syntax: ChatSyntax;
  tools: readonly ToolGrammarInput[];
  /** Several calls allowed. */
  parallel: boolean;
  /** "forced": from the first token; "lazy": from just after the trigger. */
  mode: "forced" | "lazy";
  /** Forced only: the answer starts inside a thought, which may run until its close. */
  thoughtOpen?: boolean;
}

export function callGrammar(o: CallGrammarOptions): string {
  const c = o.syntax.calls;
  if (!c) throw new Error("the template has no tool-call syntax");
  if (o.tools.length === 0) throw new Error("no tools to call");
  const rules: string[] = [];
  const alternatives = o.tools.map((t, i) => {
    const args = t.argsGbnf === undefined ? literal("{}") : `t${i}-root`;
    if (t.argsGbnf !== undefined) rules.push(prefixRules(tightenNumbers(stripStopTail(t.argsGbnf)), `t${i}-`));
    const suffix = c.suffix.replaceAll("{{functionName}}", t.name);
    return [literal(t.name), literal(c.paramsPrefix), args, literal(suffix)].filter((p) => p !== '""').join(" ");
  });
  const { rest } = callTrigger(o.syntax);
  let start: string;
  if (o.mode === "lazy") start = literal(rest);
  else {
    const whole = literal((c.sectionPrefix + c.prefix).trimStart());
    const thought = o.syntax.thought;
    start = o.thoughtOpen && thought ? `${notContaining(thought.close)} ${literal(thought.close)} [ \\t\\n]* ${whole}` : whole;
  }
  const more = o.parallel && c.parallel ? ` ( ${literal(c.betweenCalls + c.prefix)} call )*` : "";
  const head = [`root ::= ${start} call${more} ${literal(c.sectionSuffix)}`.replace(/ ""$/, ""), `call ::= ${alternatives.join(" | ")}`];
  return [...head, ...rules].join("\n");
}

/**
 * The syntax as this answer can write it: a call's suffix and the section suffix end where one of
 * the template's stop strings starts (Qwen's "<|im_end|>" after the calls, Llama 3.2's
 * "<|eot_id|>" after each call). Generation ends there, so it is not part of the calls.
 */
export function trimSyntax(syntax: ChatSyntax, stops: readonly string[]): ChatSyntax {
  if (!syntax.calls) return syntax;
  const cut = (text: string) => {
    let end = text.length;
    for (const stop of stops) {
      const s = stop.trim() || stop;
      const at = s.length > 0 ? text.indexOf(s) : -1;
      if (at !== -1 && at < end) end = at;
    }
    return text.slice(0, end);
  };
  return { ...syntax, calls: { ...syntax.calls, suffix: cut(syntax.calls.suffix), sectionSuffix: cut(syntax.calls.sectionSuffix) } };
}

/** A GBNF string literal. */
export function literal(text: string): string {
  let out = '"';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

/** A char-class item for one character. */
function classChar(ch: string): string {
  if (ch === "]" || ch === "\\" || ch === "^" || ch === "-") return `\\${ch}`;
  if (ch === "\n") return "\\n";
  if (ch === "\t") return "\\t";
  return ch;
}

/**
 * Any text that does not complete `s` (a thought's body before its close): for each k, the first k
 * characters of `s` followed by a character that is not s[k]. Where the text could read either
 * way the grammar keeps both readings, which is all a body needs.
 */
export function notContaining(s: string): string {
  const chars = [...s];
  const alts = chars.map((ch, k) => `${k > 0 ? `${literal(chars.slice(0, k).join(""))} ` : ""}[^${classChar(ch)}]`);
  return `( ${alts.join(" | ")} )*`;
}

/**
 * A JSON Schema grammar from node-llama-cpp ends its root with the newlines it uses as a stop
 * trigger ("\n\n\n\n" [\n]*); inside a call the suffix follows instead.
 */
export function stripStopTail(gbnf: string): string {
  return gbnf.replace(/^(root ::= .*?)\s*"(?:\\n)+"\s*\[\\n\]\*\s*$/m, "$1");
}

/** node-llama-cpp 3.21.1's exponent: up to 16 digits, so "1e999999" (Infinity once parsed) passes. */
const LOOSE_EXPONENT = '([eE] [-+]? ("0" | [1-9] [0-9]{0,15}))?';

/**
 * Numbers a JSON parser reads back as they were meant: integers without an exponent (6E45466188
 * is an integer to the grammar, Infinity to JSON.parse), other numbers with at most two exponent
 * digits (finite as doubles).
 */
export function tightenNumbers(gbnf: string): string {
  return gbnf
    .split("\n")
    .map((line) => {
      if (line.startsWith("integer-number-rule ::= ")) return line.replace(` ${LOOSE_EXPONENT}`, "");
      if (line.startsWith("fractional-number-rule ::= ")) return line.replace(LOOSE_EXPONENT, '([eE] [-+]? [0-9]{1,2})?');
      return line;
    })
    .join("\n");
}

/**
 * Renames every rule of `gbnf` with `prefix`, so several grammars can live in one. Rule names are
 * the bare words outside string literals, character classes, repetition braces and comments.
 */
export function prefixRules(gbnf: string, prefix: string): string {
  let out = "";
  let i = 0;
  while (i < gbnf.length) {
    const c = gbnf[i]!;
    if (c === '"' || c === "[") {
      const close = c === '"' ? '"' : "]";
      let j = i + 1;
      while (j < gbnf.length && gbnf[j] !== close) j += gbnf[j] === "\\" ? 2 : 1;
      out += gbnf.slice(i, j + 1);
      i = j + 1;
    } else if (c === "{" || c === "#") {
      const j = gbnf.indexOf(c === "{" ? "}" : "\n", i);
      const end = j === -1 ? gbnf.length : c === "{" ? j + 1 : j;
      out += gbnf.slice(i, end);
      i = end;
    } else if (/[A-Za-z0-9_-]/.test(c)) {
      let j = i;
      while (j < gbnf.length && /[A-Za-z0-9_-]/.test(gbnf[j]!)) j++;
      out += prefix + gbnf.slice(i, j);
      i = j;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}
