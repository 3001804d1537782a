// A conversation as the APIs send it, tool results as their own items, into the pipeline's
// messages, where each assistant tool call carries its result (how templates render them).
import { InferenceError } from "../types.ts";
import type { ChatMessage } from "./types.ts";

export type HistoryItem =
  | { role: "system" | "user"; text: string }
  /** A call's `param` says where the request had it ("messages[1].tool_calls[0]"), for error messages. */
  | { role: "assistant"; text: string; reasoning?: string; toolCalls?: Array<{ id?: string; name: string; arguments: unknown; param?: string }> }
  /** A tool's answer; `callId` names the call (OpenAI tool_call_id, Anthropic tool_use_id); without one it answers the oldest open call. */
  | { role: "tool"; callId?: string; text: string };

/**
 * Pairs every tool result with its call. Refused (InferenceError "invalid_request", with `param`
 * from `where(i)`, i the item index): a result with no open call of its id, a call whose result
 * never comes before the next user or assistant turn, and two calls of one turn with the same id
 * (which of them a result answers could not be told). A later turn may reuse an earlier turn's ids:
 * its results are paired within it.
 */
export function pairToolResults(items: readonly HistoryItem[], where: (index: number) => string): ChatMessage[] {
  const out: ChatMessage[] = [];
  interface Open {
    id?: string;
    item: number;
    answered: boolean;
    /** The call as the message holds it: its result is filled in when the tool's item comes. */
    call: { name: string; arguments: unknown; result: string };
  }
  let open: Open[] = [];
  const closeTurn = (at: number) => {
    const missing = open.find((c) => !c.answered);
    if (missing) {
      const id = missing.id !== undefined ? `"${missing.id}" ` : "";
      const before = at < items.length ? where(at) : "the end of the conversation";
      throw new InferenceError("invalid_request", `${where(missing.item)}: the tool call ${id}to "${missing.call.name}" has no tool result before ${before}`, where(missing.item));
    }
    open = [];
  };
  items.forEach((m, i) => {
    if (m.role === "tool") {
      const o = m.callId !== undefined ? open.find((c) => c.id === m.callId && !c.answered) : open.find((c) => !c.answered);
      if (!o) {
        const what = m.callId !== undefined ? `no earlier tool call has the id "${m.callId}" (or it was answered already)` : "there is no unanswered tool call before it";
        throw new InferenceError("invalid_request", `${where(i)}: a tool result, but ${what}`, where(i));
      }
      o.call.result = m.text;
      o.answered = true;
      return;
    }
    closeTurn(i);
    if (m.role !== "assistant") {
      out.push({ role: m.role, text: m.text });
      return;
    }
    const message: ChatMessage = { role: "assistant", text: m.text, reasoning: m.reasoning };
    if (m.toolCalls && m.toolCalls.length > 0) {
      refuseRepeatedIds(m.toolCalls, where(i));
      open = m.toolCalls.map((c) => ({ id: c.id, item: i, answered: false, call: { name: c.name, arguments: c.arguments, result: "" } }));
      message.toolCalls = open.map((o) => o.call);
    }
    out.push(message);
  });
  closeTurn(items.length);
  return out;
}

function refuseRepeatedIds(calls: ReadonlyArray<{ id?: string; param?: string }>, turn: string): void {
  const seen = new Set<string>();
  for (const c of calls) {
    if (c.id === undefined) continue;
    if (seen.has(c.id)) {
      const param = c.param ?? turn;
      throw new InferenceError("invalid_request", `${param}: the id "${c.id}" is already an earlier call's in the same turn; each call needs its own, so that its result can be paired with it`, param);
    }
    seen.add(c.id);
  }
}
