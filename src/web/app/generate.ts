// The raw completion tab: POST /generate with the native fields, streamed or whole. The prompt goes
// to the model as it is (no chat template), which is what this tab is for.
import { errorMessage, type Api } from "./api.ts";
import { answerFigures, describeFigures, parseStops } from "./chat-request.ts";
import { byId, h, numberOf, perFrame } from "./dom.ts";
import { readSse } from "./sse.ts";
import { formValues, restoreForm, type FormValues } from "./store.ts";

/** /generate's numeric fields: name, and the server's default as the placeholder. */
const NUMBER_FIELDS: ReadonlyArray<readonly [name: string, placeholder: string, step: string]> = [
  ["max_tokens", "default", "1"],
  ["temperature", "0.8", "0.05"],
  ["top_p", "0.95", "0.01"],
  ["top_k", "40", "1"],
  ["min_p", "0.05", "0.01"],
  ["seed", "random", "1"],
  ["repeat_penalty", "1", "0.05"],
  ["presence_penalty", "0", "0.05"],
  ["frequency_penalty", "0", "0.05"],
  ["repeat_last_n", "64", "1"],
];

interface Frame {
  text?: string;
  done?: boolean;
  tokens?: number;
  tokens_per_second?: number;
  finish_reason?: string;
  error?: { message?: string };
}

export class GenerateView {
  private readonly root = byId("view-generate", HTMLElement);
  private readonly output = document.createTextNode("");
  private readonly stats = byId("gen-stats", HTMLParagraphElement);
  private readonly runButton = byId("gen-run", HTMLButtonElement);
  private readonly stopButton = byId("gen-stop", HTMLButtonElement);
  private running?: AbortController;

  constructor(
    private readonly api: Api,
    saved: FormValues | undefined,
    changed: () => void,
  ) {
    const fields = byId("gen-fields", HTMLDivElement);
    for (const [name, placeholder, step] of NUMBER_FIELDS) {
      fields.append(h("label", {}, name, h("input", { id: `gen-${name}`, type: "number", step, min: name.endsWith("penalty") && !name.startsWith("repeat") ? "-2" : "0", placeholder })));
    }
    restoreForm(this.root, saved);
    byId("gen-output", HTMLPreElement).append(this.output);
    byId("gen-form", HTMLFormElement).addEventListener("submit", (ev) => {
      ev.preventDefault();
      void this.run();
    });
    this.stopButton.addEventListener("click", () => this.running?.abort());
    this.root.addEventListener("change", changed);
  }

  get saved(): FormValues {
    return formValues(this.root);
  }

  private body(): Record<string, unknown> {
    const body: Record<string, unknown> = { prompt: byId("gen-prompt", HTMLTextAreaElement).value };
    for (const [name] of NUMBER_FIELDS) {
      const v = numberOf(byId(`gen-${name}`, HTMLInputElement));
      if (v !== undefined) body[name] = v;
    }
    const stop = parseStops(byId("gen-stop-strings", HTMLTextAreaElement).value);
    if (stop.length > 0) body.stop = stop;
    if (byId("gen-ignore-eos", HTMLInputElement).checked) body.ignore_eos = true;
    body.stream = byId("gen-stream", HTMLInputElement).checked;
    return body;
  }

  private async run(): Promise<void> {
    if (this.running) return;
    const controller = new AbortController();
    this.setRunning(controller);
    this.output.data = "";
    this.stats.textContent = "";
    const times = { sent: performance.now(), first: undefined as number | undefined, last: undefined as number | undefined };
    let last: Frame = {};
    let pieces = 0;
    let pending = "";
    const frame = perFrame(() => {
      this.output.appendData(pending);
      pending = "";
    });
    try {
      const body = this.body();
      const res = await this.api.post("/generate", body, controller.signal);
      if (!res.ok || !res.body) throw new Error(await errorMessage(res));
      if (body.stream) {
        await readSse(res.body, (data) => {
          const f = JSON.parse(data) as Frame;
          if (f.error) throw new Error(f.error.message ?? "generation failed");
          // The last frame repeats the whole text beside the figures: only pieces are added.
          if (f.done) last = f;
          else if (f.text) {
            times.first ??= performance.now();
            times.last = performance.now();
            pending += f.text;
            frame.request();
            pieces++;
          }
        });
      } else {
        last = ((await res.json()) as { data: Frame }).data;
        this.output.data = last.text ?? "";
      }
      frame.now();
      const figures = describeFigures(answerFigures(times, last.tokens ?? pieces));
      this.stats.textContent = `${figures} · server ${last.tokens_per_second?.toFixed(1) ?? "?"} tokens/s · finish: ${last.finish_reason ?? "?"}`;
    } catch (err) {
      frame.now();
      this.stats.textContent = (err as Error).name === "AbortError" ? `stopped after ${pieces} pieces` : `error: ${(err as Error).message}`;
    } finally {
      this.setRunning(undefined);
    }
  }

  private setRunning(c: AbortController | undefined): void {
    this.running = c;
    this.runButton.disabled = c !== undefined;
    this.stopButton.disabled = c === undefined;
  }
}
