// The chat playground: settings, the conversation, send / stop / clear. Each send streams the whole
// conversation so far through /v1/chat/completions; Stop aborts the fetch, which closes the
// connection, and the server cancels the generation and frees the slot.
import type { Api } from "./api.ts";
import { messageView, followEnd, type MessageView } from "./chat-messages.ts";
import { answerFigures, chatBody, describeFigures, type ChatSettings, type ChatTurn } from "./chat-request.ts";
import { streamChat, type StreamedAnswer } from "./chat-stream.ts";
import { byId, numberOf, perFrame } from "./dom.ts";
import { formValues, restoreForm, type FormValues, type SavedMessage } from "./store.ts";

/** A model as /v1/models lists it (the fields the picker shows). */
export interface ModelEntry {
  id: string;
  max_model_len?: number;
  capabilities?: string[];
}

export class ChatView {
  private readonly root = byId("view-chat", HTMLElement);
  private readonly list = byId("chat-messages", HTMLOListElement);
  private readonly input = byId("chat-input", HTMLTextAreaElement);
  private readonly model = byId("chat-model", HTMLSelectElement);
  private readonly sendButton = byId("chat-send", HTMLButtonElement);
  private readonly stopButton = byId("chat-stop-button", HTMLButtonElement);
  private readonly settingsError = byId("chat-settings-error", HTMLParagraphElement);
  private readonly schema = byId("chat-schema", HTMLTextAreaElement);
  private readonly jsonMode = byId("chat-json", HTMLInputElement);
  private messages: SavedMessage[];
  private running?: AbortController;

  constructor(
    private readonly api: Api,
    saved: { messages: SavedMessage[]; form?: FormValues },
    /** Called whenever the conversation or the settings change, to persist them. */
    private readonly changed: () => void,
  ) {
    this.messages = saved.messages;
    restoreForm(this.root, saved.form);
    this.schema.hidden = !this.jsonMode.checked;
    for (const m of this.messages) this.list.append(messageView(m).el);
    this.list.scrollTop = this.list.scrollHeight;
    byId("chat-form", HTMLFormElement).addEventListener("submit", (ev) => {
      ev.preventDefault();
      void this.send();
    });
    this.input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        void this.send();
      }
    });
    this.stopButton.addEventListener("click", () => this.running?.abort());
    byId("chat-clear", HTMLButtonElement).addEventListener("click", () => this.clear());
    this.jsonMode.addEventListener("change", () => (this.schema.hidden = !this.jsonMode.checked));
    this.root.addEventListener("change", () => this.changed());
  }

  get saved(): { messages: SavedMessage[]; form: FormValues } {
    return { messages: this.messages, form: formValues(this.root) };
  }

  /** Fills the picker from /v1/models; keeps the saved choice when the server still has it. */
  setModels(models: readonly ModelEntry[], preferred: string | undefined): void {
    const keep = preferred ?? this.model.value;
    this.model.replaceChildren(...models.map((m) => new Option(m.id, m.id)));
    if (models.some((m) => m.id === keep)) this.model.value = keep;
    const info = byId("chat-model-info", HTMLParagraphElement);
    const m = models.find((x) => x.id === this.model.value);
    info.textContent = m ? `context ${m.max_model_len ?? "?"} tokens per request · ${(m.capabilities ?? []).join(", ")}` : "";
    this.model.onchange = () => this.setModels(models, this.model.value);
  }

  private settings(): ChatSettings {
    const num = (id: string) => numberOf(byId(id, HTMLInputElement));
    return {
      model: this.model.value,
      system: byId("chat-system", HTMLTextAreaElement).value,
      temperature: num("chat-temperature"),
      topP: num("chat-top-p"),
      topK: num("chat-top-k"),
      maxTokens: num("chat-max-tokens"),
      seed: num("chat-seed"),
      stop: byId("chat-stop", HTMLTextAreaElement).value,
      jsonMode: this.jsonMode.checked,
      schema: this.schema.value,
    };
  }

  private add(m: SavedMessage): MessageView {
    this.messages.push(m);
    const view = messageView(m);
    this.list.append(view.el);
    this.list.scrollTop = this.list.scrollHeight;
    return view;
  }

  async send(): Promise<void> {
    const text = this.input.value;
    if (this.running || text.trim() === "") return;
    const history: ChatTurn[] = [
      ...this.messages.filter((m): m is SavedMessage & ChatTurn => m.role !== "error").map((m) => ({ role: m.role, content: m.content })),
      { role: "user", content: text },
    ];
    let body: Record<string, unknown>;
    try {
      body = chatBody(this.settings(), history);
      this.settingsError.hidden = true;
    } catch (err) {
      this.settingsError.textContent = (err as Error).message;
      this.settingsError.hidden = false;
      return;
    }
    this.input.value = "";
    this.add({ role: "user", content: text });
    const answer: SavedMessage = { role: "assistant", content: "", reasoning: "", model: this.model.value };
    const view = this.add(answer);
    view.el.classList.add("streaming");
    this.setRunning(new AbortController());
    let pieces = "";
    let thoughts = "";
    const frame = perFrame(() => {
      followEnd(this.list, () => view.grow(pieces, thoughts));
      pieces = thoughts = "";
    });
    const a = await streamChat(this.api, body, this.running!.signal, (t, r) => {
      pieces += t;
      thoughts += r;
      frame.request();
    });
    frame.now();
    this.finish(answer, view, a);
  }

  private finish(answer: SavedMessage, view: MessageView, a: StreamedAnswer): void {
    view.el.classList.remove("streaming");
    this.setRunning(undefined);
    answer.content = a.content;
    answer.reasoning = a.reasoning;
    answer.model = a.model ?? answer.model;
    const ended = a.stopped ? "stopped" : a.finishReason ? `finish: ${a.finishReason}` : "";
    answer.meta = [describeFigures(answerFigures(a.times, a.tokens)), ended].filter(Boolean).join(" · ");
    view.setMeta(answer.meta);
    if (a.error && a.content === "" && a.reasoning === "") {
      // Refused before anything came (a 400, a 401, a full queue): the error takes the answer's place.
      this.messages.splice(this.messages.indexOf(answer), 1);
      view.el.remove();
    }
    if (a.error) this.add({ role: "error", content: a.error });
    this.changed();
  }

  private setRunning(c: AbortController | undefined): void {
    this.running = c;
    this.sendButton.disabled = c !== undefined;
    this.stopButton.disabled = c === undefined;
    this.root.classList.toggle("busy", c !== undefined);
  }

  private clear(): void {
    this.running?.abort();
    this.messages = [];
    this.list.replaceChildren();
    this.changed();
  }
}
