// The web console in headless Chromium against a server with an API key and a scripted model
// (Qwen-style template) that thinks first and then answers with markup: the page asks for the key
// and works once given it; the answer's <script>, <img onerror> and <b> show as text and never run,
// and so do control characters, a model-written SSE frame and a 256 KiB line (streamed to the page);
// the reasoning shows apart from the answer; Copy copies the answer. The chat screenshot is saved
// under a temporary directory and checked; WARREN_DOCS_SCREENSHOTS=1 also writes docs/console-chat.png.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { makeModel } from "../../src/models/presets.ts";
import { skipUnlessCi } from "../helpers/apt.ts";
import { ensureChromium, launchChromium, pngSize } from "../helpers/browser.ts";
import { QWEN_TEMPLATE_PATH } from "../helpers/chat.ts";
import { REPO_ROOT } from "../helpers/models.ts";
import { startWarren, type WarrenProcess } from "../helpers/warren-process.ts";

// The callbacks given to page.evaluate and waitForFunction run in the page: its globals, untyped
// here (the DOM's types are for src/web/app only).
declare const document: any, window: any, navigator: any;

const chromiumBin = await ensureChromium();
if (chromiumBin.why) console.warn(`\n*** ${process.env.CI ? "FAILING" : "SKIPPING"} console browser tests: ${chromiumBin.why} ***\n`);

const KEY = "sk-console-test";
const VIEWPORT = { width: 1200, height: 760 };
/** What the model writes to every prompt: a thought, then markup that must stay text. */
const SCRIPT = [
  "<think>",
  "\nThe user says hello",
  " and asks for some markup",
  ".\n",
  "</think>",
  "\n\n",
  "Hello! Markup comes out as text:",
  " <script>window.__xss = 1</script>",
  ' <img src=x onerror="window.__xss = 2">',
  " <b>not bold</b>",
  " &amp; stays &amp;.",
];

describe.skipIf(skipUnlessCi(chromiumBin.bin !== undefined))("web console in Chromium: API key, markup in answers, reasoning", () => {
  let dir: string;
  let shots: string;
  let warren: WarrenProcess;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    if (chromiumBin.bin === undefined) throw new Error(chromiumBin.why);
    dir = mkdtempSync(join(tmpdir(), "warren-console-auth-"));
    shots = mkdtempSync(join(tmpdir(), "warren-console-screenshots-"));
    const model = (await makeModel({ preset: "tiny", out: join(dir, "scripted.gguf"), chatTemplate: readFileSync(QWEN_TEMPLATE_PATH, "utf8"), script: SCRIPT })).path;
    [warren, browser] = await Promise.all([
      startWarren(["--model", model, "--threads", "1", "--parallel", "2", "--access-log", "off"], { env: { WARREN_API_KEY: KEY } }),
      launchChromium(chromiumBin.bin),
    ]);
    const context = await browser.newContext({ viewport: VIEWPORT });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: warren.url });
    page = await context.newPage();
    page.on("console", (m) => {
      // The browser logs each 401 the page is meant to get before it has a key.
      if (m.type() === "error" && !m.text().includes("status of 401")) problems.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await warren?.stop("SIGKILL");
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (shots) console.log(`console screenshots kept in ${shots}`);
  });

  test("the page is public; the API asks for the key, a wrong key is refused, the right one works", async () => {
    const res = await page.goto(`${warren.url}/`);
    expect(res!.status()).toBe(200);
    await page.waitForSelector("#auth", { state: "visible" });
    expect(await page.textContent("#auth-message")).toBe("This server needs an API key.");
    expect(await page.locator("#chat-model option").count()).toBe(0);
    await page.fill("#api-key", "sk-wrong");
    await page.click("#auth-form button");
    await page.waitForFunction(() => document.getElementById("auth-message")!.textContent === "The server refused this key.");
    expect(await page.isVisible("#auth")).toBe(true);
    await page.fill("#api-key", KEY);
    await page.click("#auth-form button");
    await page.waitForSelector("#auth", { state: "hidden" });
    await page.waitForSelector("#chat-model option", { state: "attached" });
    await page.waitForFunction(() => document.getElementById("server-status")!.textContent!.includes("ready"));
    // Kept for this tab only: "remember" was not ticked.
    expect(await page.evaluate(() => [sessionStorage.getItem("warren.console.apiKey"), localStorage.getItem("warren.console.apiKey")])).toEqual([KEY, null]);
    // Nor is it in the saved forms.
    expect(await page.evaluate(() => localStorage.getItem("warren.console.v1") ?? "")).not.toContain(KEY);
    await page.reload();
    await page.waitForSelector("#chat-model option", { state: "attached" });
    expect(await page.isVisible("#auth")).toBe(false);
    expect(problems).toEqual([]);
  });

  test("markup in an answer is shown as text and never runs; the reasoning shows apart from the answer", async () => {
    const direct = await fetch(`${warren.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "Hello" }] }),
    });
    const expected = ((await direct.json()) as { choices: Array<{ message: { content: string; reasoning_content: string } }> }).choices[0]!.message;
    expect(expected.content).toContain("<script>window.__xss = 1</script>");
    expect(expected.reasoning_content).toBe("The user says hello and asks for some markup.");
    await page.fill("#chat-input", "Hello");
    await page.click("#chat-send");
    await page.waitForSelector(".msg.assistant:not(.streaming) .figures:text-matches('finish: stop')");
    const answer = page.locator(".msg.assistant").last();
    expect(await answer.locator("> .text").textContent()).toBe(expected.content);
    expect(await answer.locator(".reasoning").isVisible()).toBe(true);
    expect(await answer.locator(".reasoning .text").textContent()).toBe(expected.reasoning_content);
    expect(await answer.locator("> .text").textContent()).not.toContain("The user says hello");
    // Nothing ran and no element was made from the text.
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(await page.locator("#chat-messages script, #chat-messages img, #chat-messages b").count()).toBe(0);
    // The view for the docs: the thought opened.
    await answer.locator(".reasoning summary").click();
    await page.fill("#chat-system", "You are a helpful assistant.");
    await page.locator("#chat-system").blur();
    const png = await page.screenshot();
    await answer.locator(".copy").click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(expected.content);
    await Bun.write(join(shots, "console-chat.png"), png);
    expect(pngSize(png)).toEqual(VIEWPORT);
    expect(png.byteLength).toBeGreaterThan(10_000);
    expect(png.byteLength).toBeLessThan(1_000_000);
    if (process.env.WARREN_DOCS_SCREENSHOTS === "1") copyFileSync(join(shots, "console-chat.png"), join(REPO_ROOT, "docs/console-chat.png"));
    const docs = new Uint8Array(readFileSync(join(REPO_ROOT, "docs/console-chat.png")));
    expect(pngSize(docs)).toEqual(VIEWPORT);
    expect(docs.byteLength).toBeLessThan(300_000);
    expect(problems).toEqual([]);
  });

  test("hostile output (control characters, an SSE frame in the text, a bidi override, a 256 KiB line) stays text and the page stays usable", async () => {
    // The server's side (these bytes reach the console's reader exactly) is test/hardening/console-faults.test.ts;
    // here the browser gets them as the server streams them, and renders them.
    const line = "x".repeat(256 * 1024);
    const hostile = [
      "a\u0000b\u0007\u001b[2J\u001b]0;owned\u0007\r\n",
      'data: {"choices":[{"delta":{"content":"INJECTED"}}]}\n\n',
      '</script><script>window.__xss = 3</script><img src=x onerror="window.__xss = 4">',
      "\u202egnp.exe\u2028\u2029 ",
      line,
      " end",
    ];
    const chunk = (delta: object, finish: string | null = null) =>
      `data: ${JSON.stringify({ object: "chat.completion.chunk", model: "scripted", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    const body = [chunk({ role: "assistant", content: "" }), ...hostile.map((c) => chunk({ content: c })), chunk({}, "stop"), "data: [DONE]\n\n"].join("");
    await page.route("**/v1/chat/completions", (route) => route.fulfill({ status: 200, headers: { "content-type": "text/event-stream" }, body }), { times: 1 });
    const before = await page.locator(".msg.assistant").count();
    await page.fill("#chat-input", "Hostile");
    await page.click("#chat-send");
    await page.waitForFunction((n) => {
      const el = document.querySelectorAll(".msg.assistant")[n];
      return el !== undefined && !el.classList.contains("streaming") && /finish: stop/.test(el.querySelector(".figures")!.textContent);
    }, before);
    const answer = page.locator(".msg.assistant").nth(before);
    expect(await answer.locator("> .text").textContent()).toBe(hostile.join(""));
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(await page.locator("#chat-messages script, #chat-messages img, #chat-messages b").count()).toBe(0);
    // The long line wraps inside the conversation: nothing is pushed out sideways.
    const overflow = await page.evaluate(() => {
      const list = document.getElementById("chat-messages")!;
      return [list.scrollWidth <= list.clientWidth, document.documentElement.scrollWidth <= document.documentElement.clientWidth];
    });
    expect(overflow).toEqual([true, true]);
    // And the page still works: cleared (the long answer would not fit a prompt), the next answer comes from the server.
    await page.click("#chat-clear");
    await page.fill("#chat-input", "Hello again");
    await page.click("#chat-send");
    await page.waitForSelector(".msg.assistant:not(.streaming) .figures:text-matches('finish: stop')");
    expect(await page.locator(".msg.assistant").count()).toBe(1);
    expect(await page.locator(".msg.assistant > .text").textContent()).toContain("Markup comes out as text");
    expect(problems).toEqual([]);
  });
});
