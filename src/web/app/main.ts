// The console's entry: tabs, the API-key panel, the status line, and saving what the views hold.
import { Api, errorMessage } from "./api.ts";
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
// The views call persist only on user actions, after both exist.
const persist = () => save({ messages: chat.saved.messages, forms: { chat: chat.saved.form, generate: generate.saved } });
const chat = new ChatView(api, { messages: saved.messages, form: saved.forms.chat }, persist);
const generate = new GenerateView(api, saved.forms.generate, persist);
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

/** While the model loads, /v1/models answers 503: asked again this often (ms) until it answers. */
const MODELS_RETRY_MS = 2000;

async function loadModels(): Promise<void> {
  const res = await api.call("/v1/models").catch(() => undefined);
  if (res?.ok) {
    const list = (await res.json()) as { data: ModelEntry[] };
    const preferred = saved.forms.chat?.["chat-model"];
    chat.setModels(list.data, typeof preferred === "string" ? preferred : undefined);
  } else if (res?.status !== 401) {
    // A 401 waits for a key (the key form calls this again); anything else is tried again.
    showStatus(undefined, res ? await errorMessage(res) : "unreachable");
    setTimeout(() => void loadModels(), MODELS_RETRY_MS);
  }
}

for (const v of VIEWS) byId(`tab-${v}`, HTMLButtonElement).addEventListener("click", () => show(v));
byId("chat-model-refresh", HTMLButtonElement).addEventListener("click", () => void loadModels());
setUpAuth();
const last = sessionStorage.getItem(VIEW_ITEM);
show(VIEWS.includes(last as View) ? (last as View) : "chat");
void loadModels();
dashboard.start();
