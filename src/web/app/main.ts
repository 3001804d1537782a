// The console's entry: tabs, the API-key panel, the status line, and saving what the views hold.
import { Api } from "./api.ts";
import { ChatView, type ModelEntry } from "./chat.ts";
import { Dashboard } from "./dashboard.ts";
import { byId } from "./dom.ts";
import { GenerateView } from "./generate.ts";
import type { Stats } from "./series.ts";
import { loadSaved, save } from "./store.ts";

const VIEWS = ["chat", "generate", "dashboard"] as const;
type View = (typeof VIEWS)[number];
const VIEW_ITEM = "warren.console.view";

const api = new Api();
const saved = loadSaved();
let chat: ChatView | undefined;
let generate: GenerateView | undefined;
const persist = () => {
  if (chat && generate) save({ messages: chat.saved.messages, forms: { chat: chat.saved.form, generate: generate.saved } });
};
chat = new ChatView(api, { messages: saved.messages, form: saved.forms.chat }, persist);
generate = new GenerateView(api, saved.forms.generate, persist);
const dashboard = new Dashboard(api, showStatus);

function show(view: View): void {
  for (const v of VIEWS) {
    byId(`view-${v}`, HTMLElement).hidden = v !== view;
    byId(`tab-${v}`, HTMLButtonElement).setAttribute("aria-selected", String(v === view));
  }
  dashboard.show(view === "dashboard");
  sessionStorage.setItem(VIEW_ITEM, view);
}

function showStatus(s: Stats | undefined, error?: string): void {
  const status = byId("server-status", HTMLElement);
  status.classList.toggle("down", s === undefined);
  status.textContent = s
    ? `${s.model ?? "no model"} · ${s.ready ? "ready" : "loading"} · ${s.slots.busy}/${s.slots.total} slots busy · ${s.queue_depth} queued`
    : `server: ${error ?? "unreachable"}`;
}

/** The key panel shows while the server answers 401; it hides once a call with the key succeeds. */
function setUpAuth(): void {
  const panel = byId("auth", HTMLElement);
  const input = byId("api-key", HTMLInputElement);
  const message = byId("auth-message", HTMLElement);
  api.onAuth = (needed) => {
    message.textContent = needed ? (api.hasKey ? "The server refused this key." : "This server needs an API key.") : "";
    if (needed === !panel.hidden) return;
    panel.hidden = !needed;
    if (needed) input.focus();
  };
  byId("auth-form", HTMLFormElement).addEventListener("submit", (ev) => {
    ev.preventDefault();
    api.setKey(input.value, byId("api-key-remember", HTMLInputElement).checked);
    input.value = "";
    void loadModels();
  });
}

async function loadModels(): Promise<void> {
  try {
    const list = await api.getJson<{ data: ModelEntry[] }>("/v1/models");
    chat?.setModels(list.data, typeof saved.forms.chat?.["chat-model"] === "string" ? saved.forms.chat["chat-model"] : undefined);
  } catch (err) {
    showStatus(undefined, (err as Error).message);
  }
}

for (const v of VIEWS) byId(`tab-${v}`, HTMLButtonElement).addEventListener("click", () => show(v));
byId("chat-model-refresh", HTMLButtonElement).addEventListener("click", () => void loadModels());
setUpAuth();
const last = sessionStorage.getItem(VIEW_ITEM);
show(VIEWS.includes(last as View) ? (last as View) : "chat");
void loadModels();
dashboard.start();
