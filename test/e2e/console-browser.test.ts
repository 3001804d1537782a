// The web console in a real headless Chromium against a real `warren serve` (tiny random-weight
// model): the page loads, a chat streams and grows, Stop cancels and the server's busy slots return
// to 0, the model picker sends the chosen model, the raw /generate tab matches the API, the
// dashboard follows the server, and the conversation survives a reload. Screenshots are saved under
// a temporary directory and checked; WARREN_DOCS_SCREENSHOTS=1 also writes docs/console-dashboard.png.
// Needs Chromium: installed with apt-get when missing and root; otherwise skipped, except in CI.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { ensureModel } from "../../src/models/presets.ts";
import { skipUnlessCi } from "../helpers/apt.ts";
import { ensureChromium, launchChromium, pngSize } from "../helpers/browser.ts";
import { REPO_ROOT } from "../helpers/models.ts";
import { startWarren, type WarrenProcess } from "../helpers/warren-process.ts";

// The callbacks given to page.evaluate and waitForFunction run in the page: its globals, untyped
// here (the DOM's types are for src/web/app only).
declare const document: any, window: any, MutationObserver: any;

const chromiumBin = await ensureChromium();
if (chromiumBin.why) console.warn(`\n*** ${process.env.CI ? "FAILING" : "SKIPPING"} console browser tests: ${chromiumBin.why} ***\n`);

const VIEWPORT = { width: 1200, height: 760 };
/** Room for answers that take many seconds even on a fast machine (the tiny model makes ~500-2000 tokens/s). */
const CTX_SIZE = 16384;

interface Stats {
  slots: { busy: number };
  requests: { finished: Record<string, number> };
  tokens: { generated: number };
}

describe.skipIf(skipUnlessCi(chromiumBin.bin !== undefined))("web console in Chromium", () => {
  let dir: string;
  /** Kept after the run: the screenshots are the test's artifacts. */
  let shots: string;
  let warren: WarrenProcess;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  /** Console errors and uncaught page errors: a CSP violation or a script error lands here. */
  const problems: string[] = [];

  beforeAll(async () => {
    if (chromiumBin.bin === undefined) throw new Error(chromiumBin.why);
    dir = mkdtempSync(join(tmpdir(), "warren-console-"));
    shots = mkdtempSync(join(tmpdir(), "warren-console-screenshots-"));
    const model = join(dir, "tiny.gguf");
    await ensureModel(model, "tiny");
    [warren, browser] = await Promise.all([
      startWarren(["--model", model, "--threads", "1", "--parallel", "2", "--ctx-per-slot", String(CTX_SIZE), "--access-log", "off"]),
      launchChromium(chromiumBin.bin),
    ]);
    context = await browser.newContext({ viewport: VIEWPORT });
    page = await context.newPage();
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    await page.goto(`${warren.url}/`);
    await page.waitForSelector("#chat-model option", { state: "attached" });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await warren?.stop("SIGKILL");
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (shots) console.log(`console screenshots kept in ${shots}`);
  });

  const stats = async (): Promise<Stats> => (await fetch(`${warren.url}/v1/stats`)).json() as Promise<Stats>;
  const answers = () => page.locator(".msg.assistant");
  /** Waits for the assistant answer number `n` (from 1) to finish streaming; returns its figures line. */
  async function finished(n: number): Promise<string> {
    await page.waitForFunction((i) => {
      const el = document.querySelectorAll(".msg.assistant")[i - 1];
      return el !== undefined && !el.classList.contains("streaming") && el.querySelector(".figures")!.textContent !== "";
    }, n);
    return (await answers().nth(n - 1).locator(".figures").textContent())!;
  }
  async function send(text: string, maxTokens: number): Promise<void> {
    await page.click("#tab-chat");
    await page.fill("#chat-max-tokens", String(maxTokens));
    await page.fill("#chat-input", text);
    await page.click("#chat-send");
  }

  test("the page loads with no script error and lists the server's model", async () => {
    const models = (await (await fetch(`${warren.url}/v1/models`)).json()) as { data: Array<{ id: string }> };
    expect(await page.locator("#chat-model option").allTextContents()).toEqual(models.data.map((m) => m.id));
    expect(await page.textContent("#chat-model-info")).toContain(`context ${CTX_SIZE} tokens`);
    await page.waitForFunction(() => document.getElementById("server-status")!.textContent!.includes("ready"));
    expect(problems).toEqual([]);
  });

  test("a chat streams through /v1/chat/completions and the answer grows as it streams", async () => {
    const bodies: Array<Record<string, unknown>> = [];
    page.on("request", (r) => {
      if (r.url().endsWith("/v1/chat/completions")) bodies.push(r.postDataJSON());
    });
    // Every change to the answer's text, as the page sees it.
    await page.evaluate(() => {
      const w = window as unknown as { lengths: number[] };
      w.lengths = [];
      new MutationObserver(() => {
        const last = [...document.querySelectorAll(".msg.assistant > .text")].pop();
        if (last) w.lengths.push(last.textContent!.length);
      }).observe(document.getElementById("chat-messages")!, { subtree: true, childList: true, characterData: true });
    });
    await page.fill("#chat-temperature", "0.7");
    await send("Tell me a story", 1200);
    const figures = await finished(1);
    expect(figures).toMatch(/^TTFT \d+ ms · 1200 tokens · [\d.]+ tokens\/s · finish: length$/);
    const lengths = await page.evaluate(() => (window as unknown as { lengths: number[] }).lengths);
    // Distinct, growing lengths, the first a small part of the whole: the text arrived in pieces,
    // not at the end. (The page draws at most once per frame, so there are fewer steps than tokens.)
    expect(new Set(lengths).size).toBeGreaterThanOrEqual(5);
    expect(lengths[0]!).toBeLessThan(lengths[lengths.length - 1]! / 2);
    expect(lengths).toEqual([...lengths].sort((a, b) => a - b));
    expect(bodies[0]).toMatchObject({ stream: true, max_tokens: 1200, temperature: 0.7, messages: [{ role: "user", content: "Tell me a story" }] });
    const text = (await answers().first().locator("> .text").textContent())!;
    expect(text.length).toBe(lengths[lengths.length - 1]!);
    // Multi-turn: the next request carries the first exchange.
    await send("And then?", 5);
    await finished(2);
    expect(bodies[1]!.messages).toEqual([
      { role: "user", content: "Tell me a story" },
      { role: "assistant", content: text },
      { role: "user", content: "And then?" },
    ]);
  });

  test("Stop cancels a long answer and the server's busy slots return to 0", async () => {
    // A fresh conversation, so that the whole context is left for the answer.
    await page.click("#chat-clear");
    const before = await stats();
    await send("Go on for a long time", CTX_SIZE - 100);
    await page.waitForFunction(() => ([...document.querySelectorAll(".msg.assistant > .text")].pop()?.textContent?.length ?? 0) > 40);
    expect((await stats()).slots.busy).toBe(1);
    expect(await page.isEnabled("#chat-send")).toBe(false);
    await page.click("#chat-stop-button");
    const figures = await finished(1);
    expect(figures).toContain("stopped");
    let now = await stats();
    for (let i = 0; i < 100 && now.slots.busy !== 0; i++) now = await Bun.sleep(30).then(stats);
    expect(now.slots.busy).toBe(0);
    expect(now.requests.finished.cancelled).toBe((before.requests.finished.cancelled ?? 0) + 1);
    // Cut early: far fewer tokens than asked for.
    expect(now.tokens.generated - before.tokens.generated).toBeLessThan(CTX_SIZE / 2);
    expect(await page.isEnabled("#chat-send")).toBe(true);
  });

  test("the model picker lists every model of /v1/models and sends the chosen one", async () => {
    const real = (await (await fetch(`${warren.url}/v1/models`)).json()) as { data: Array<Record<string, unknown>> };
    const second = { ...real.data[0]!, id: "warren-second", max_model_len: 1234 };
    // This server has one model; the picker is shown a second one, as a multi-model server would list it.
    await page.route("**/v1/models", (route) => route.fulfill({ json: { object: "list", data: [...real.data, second] } }));
    const sent: string[] = [];
    page.on("request", (r) => {
      if (r.url().endsWith("/v1/chat/completions")) sent.push((r.postDataJSON() as { model: string }).model);
    });
    try {
      await page.click("#chat-model-refresh");
      await page.waitForFunction(() => document.querySelectorAll("#chat-model option").length === 2);
      await page.selectOption("#chat-model", "warren-second");
      expect(await page.textContent("#chat-model-info")).toContain("context 1234 tokens");
      await send("Which model?", 5);
      await finished(2);
      expect(await answers().nth(1).locator(".who").textContent()).toBe("assistant · warren-second");
      await page.selectOption("#chat-model", String(real.data[0]!.id));
      await send("And now?", 5);
      await finished(3);
      expect(sent.slice(-2)).toEqual(["warren-second", String(real.data[0]!.id)]);
    } finally {
      await page.unroute("**/v1/models");
    }
  });

  test("the raw /generate tab sends the seed's fields and shows what the API answers", async () => {
    await page.click("#tab-generate");
    await page.fill("#gen-prompt", "Once upon a time");
    await page.fill("#gen-max_tokens", "24");
    await page.fill("#gen-temperature", "0");
    await page.fill("#gen-seed", "7");
    await page.click("#gen-run");
    await page.waitForFunction(() => document.getElementById("gen-stats")!.textContent !== "");
    expect(await page.textContent("#gen-stats")).toMatch(/24 tokens .* finish: length$/);
    const shown = await page.textContent("#gen-output");
    const direct = await fetch(`${warren.url}/generate`, { method: "POST", body: JSON.stringify({ prompt: "Once upon a time", max_tokens: 24, temperature: 0, seed: 7 }) });
    expect(shown).toBe(((await direct.json()) as { data: { text: string } }).data.text);
  });

  test("JSON-schema mode: a schema that does not parse is caught in the page; a good one gives JSON that fits it", async () => {
    await page.click("#tab-chat");
    const before = await answers().count();
    await page.check("#chat-json");
    await page.fill("#chat-schema", "{not json");
    await page.fill("#chat-max-tokens", "200");
    await page.fill("#chat-input", "Answer in JSON");
    await page.click("#chat-send");
    expect(await page.textContent("#chat-settings-error")).toContain("does not parse");
    expect(await answers().count()).toBe(before);
    const schema = { type: "object", properties: { answer: { type: "string", maxLength: 12 } }, required: ["answer"], additionalProperties: false };
    await page.fill("#chat-schema", JSON.stringify(schema));
    await page.click("#chat-send");
    expect(await page.isVisible("#chat-settings-error")).toBe(false);
    expect(await finished(before + 1)).toContain("finish: stop");
    const parsed = JSON.parse((await answers().nth(before).locator("> .text").textContent())!) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(["answer"]);
    expect(typeof parsed.answer).toBe("string");
    expect((parsed.answer as string).length).toBeLessThanOrEqual(12);
    await page.uncheck("#chat-json");
  });

  test("the dashboard follows the server: busy slots and tokens/s while a request runs, back to 0 after", async () => {
    await page.click("#tab-dashboard");
    const value = (metric: string, series: string) => page.getAttribute(`[data-metric=${metric}] [data-series="${series}"]`, "data-value");
    const controller = new AbortController();
    const res = await fetch(`${warren.url}/generate`, {
      method: "POST",
      body: JSON.stringify({ prompt: "Load", max_tokens: CTX_SIZE - 64, ignore_eos: true, stream: true }),
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    void (async () => {
      while (!(await reader.read().catch(() => ({ done: true }))).done);
    })();
    await page.waitForFunction(() => document.querySelector('[data-metric=slots] [data-series="busy"]')?.getAttribute("data-value") === "1", null, { timeout: 10_000 });
    await page.waitForFunction(() => Number(document.querySelector('[data-metric=tokens] [data-series="tokens"]')?.getAttribute("data-value") || 0) > 10, null, { timeout: 10_000 });
    await page.waitForFunction(() => document.querySelector('[data-metric=itl] [data-series="itl50"]')?.getAttribute("data-value") !== "", null, { timeout: 15_000 });
    controller.abort();
    await page.waitForFunction(() => document.querySelector('[data-metric=slots] [data-series="busy"]')?.getAttribute("data-value") === "0", null, { timeout: 10_000 });
    expect(Number(await value("memory", "memory"))).toBeGreaterThan(10);
    expect(Number(await value("connections", "connections"))).toBeGreaterThanOrEqual(1);
    // The charts are drawn: the tokens chart's canvas has coloured pixels, not only its grid.
    const coloured = await page.evaluate(() => {
      const c = document.querySelector("[data-metric=tokens] canvas");
      const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 2]! > 180 && d[i]! < 100) n++;
      return n;
    });
    expect(coloured).toBeGreaterThan(20);
    const png = await page.screenshot();
    await Bun.write(join(shots, "console-dashboard.png"), png);
    expect(pngSize(png)).toEqual(VIEWPORT);
    expect(png.byteLength).toBeGreaterThan(10_000);
    expect(png.byteLength).toBeLessThan(1_000_000);
    if (process.env.WARREN_DOCS_SCREENSHOTS === "1") copyFileSync(join(shots, "console-dashboard.png"), join(REPO_ROOT, "docs/console-dashboard.png"));
    expect(problems).toEqual([]);
  });

  test("the conversation and settings survive a reload (localStorage); Clear empties them", async () => {
    const count = await answers().count();
    expect(count).toBe(4);
    await page.reload();
    await page.waitForSelector("#chat-model option", { state: "attached" });
    await page.click("#tab-chat");
    expect(await answers().count()).toBe(count);
    expect(await page.inputValue("#chat-temperature")).toBe("0.7");
    expect(await answers().first().locator(".figures").textContent()).toContain("stopped");
    await page.click("#chat-clear");
    expect(await page.locator(".msg").count()).toBe(0);
    await page.reload();
    await page.waitForSelector("#chat-model option", { state: "attached" });
    expect(await page.locator(".msg").count()).toBe(0);
    expect(problems).toEqual([]);
  });

  test("the screenshot written for the docs is a small PNG of the expected size", () => {
    const png = new Uint8Array(readFileSync(join(shots, "console-dashboard.png")));
    expect(pngSize(png)).toEqual(VIEWPORT);
    const docs = new Uint8Array(readFileSync(join(REPO_ROOT, "docs/console-dashboard.png")));
    expect(pngSize(docs)).toEqual(VIEWPORT);
    expect(docs.byteLength).toBeLessThan(300_000);
  });
});
