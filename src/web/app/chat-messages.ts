// The conversation as elements. A message's text, its reasoning and its figures are Text nodes
// grown with appendData as pieces arrive: no markup is ever parsed (an answer holding <script>
// shows as those characters), and each piece costs its own length, not the answer's.
import { h } from "./dom.ts";
import type { SavedMessage } from "./store.ts";

export interface MessageView {
  el: HTMLLIElement;
  /** Adds a piece of answer text and of reasoning (either may be empty). */
  grow(text: string, reasoning: string): void;
  /** The line under the message: model, figures, how it ended. */
  setMeta(meta: string): void;
}

/** Copies text; falls back to a hidden text area where the Clipboard API is refused. */
async function copyText(text: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = h("textarea", { class: "offscreen", "aria-hidden": "true" });
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
}

export function messageView(m: SavedMessage): MessageView {
  const text = document.createTextNode(m.content);
  const reasoning = document.createTextNode(m.reasoning ?? "");
  const meta = document.createTextNode(m.meta ?? "");
  const thoughts = h("details", { class: "reasoning", hidden: !m.reasoning }, h("summary", {}, "Reasoning"), h("div", { class: "text" }, reasoning));
  const copy = h("button", { type: "button", class: "copy", title: "Copy this message", onclick: () => void copyText(text.data).then(() => flash(copy)) }, "Copy");
  const who = m.role === "assistant" && m.model ? `assistant · ${m.model}` : m.role;
  const el = h(
    "li",
    { class: `msg ${m.role}` },
    h("div", { class: "who" }, who),
    m.role === "assistant" ? thoughts : null,
    h("div", { class: "text" }, text),
    h("div", { class: "meta" }, h("span", { class: "figures" }, meta), m.role === "error" ? null : copy),
  );
  return {
    el,
    grow(t, r) {
      if (t) text.appendData(t);
      if (r) {
        reasoning.appendData(r);
        thoughts.hidden = false;
      }
    },
    setMeta(s) {
      meta.data = s;
    },
  };
}

function flash(button: HTMLButtonElement): void {
  button.textContent = "Copied";
  setTimeout(() => (button.textContent = "Copy"), 1200);
}

/** Keeps the list scrolled to the end while the reader is there, not when they scrolled up to read. */
export function followEnd(list: HTMLElement, grow: () => void): void {
  const atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  grow();
  if (atEnd) list.scrollTop = list.scrollHeight;
}
