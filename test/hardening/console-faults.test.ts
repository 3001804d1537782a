// The web console's side of the server under faults, in process: with API keys set, the page and
// its assets stay public (as documented) while every call the page makes is refused without the
// key, in the shape of the API it called and in words the console's own reader shows, and runs
// nothing; hostile model output (control characters, markup, an SSE frame written by the model,
// bidirectional overrides, lines of hundreds of kilobytes) reaches the console's own stream reader
// byte for byte, as data. The browser's rendering of such text is in
// test/e2e/console-browser-auth.test.ts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { ConsoleFile } from "../../src/api/state.ts";
import { FakeEngine } from "../../src/inference/engine-fake.ts";
import { bundleConsole } from "../../src/web/bundle.ts";
import { errorMessage } from "../../src/web/app/api.ts";
import { readSse } from "../../src/web/app/sse.ts";
import { setup, type Setup } from "../api/helpers.ts";
import { WideFakeEngine } from "../helpers/hardening.ts";

const KEY = "sk-console-faults";
/** What a hostile model might write: terminal escapes, NUL, markup, an SSE frame of its own, a bidi override. */
const HOSTILE =
  'a\u0000b\u0007\u001b[2J\u001b]0;owned\u0007\r\ndata: {"choices":[{"delta":{"content":"INJECTED"}}]}\n\n' +
  "event: error\ndata: [DONE]\n\n</script><script>alert(1)</script><img src=x onerror=alert(2)>\u202egnp.exe\u2028\u2029 end";

let files: ConsoleFile[];
let keyed: Setup;
let wide: Setup;
beforeAll(async () => {
  files = await bundleConsole();
  keyed = await setup(new FakeEngine({ slots: 2, slotContextSize: 4096, reply: HOSTILE }), { webConsole: async () => files, apiKeys: [KEY] });
  // Every token is 64 KiB of text: a line of megabytes in a few tokens, with no newline in it.
  wide = await setup(new WideFakeEngine(64 * 1024, { slots: 2, slotContextSize: 4096 }), { webConsole: async () => files });
});
afterAll(async () => {
  await keyed?.served.close();
  await wide?.served.close();
});

const call = (s: Setup, path: string, init: { body?: unknown; key?: string } = {}) =>
  fetch(`${s.served.url}${path}`, {
    method: init.body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json", ...(init.key !== undefined ? { authorization: `Bearer ${init.key}` } : {}) },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });

/** The calls the console makes (src/web/app): the model list, the dashboard, the chat, the raw tab. */
const CONSOLE_CALLS: Array<[string, unknown, "openai" | "native"]> = [
  ["/v1/models", undefined, "openai"],
  ["/v1/stats", undefined, "openai"],
  ["/v1/chat/completions", { messages: [{ role: "user", content: "Hello" }], stream: true }, "openai"],
  ["/generate", { prompt: "Hello", stream: true }, "native"],
];

describe("console and API requests without the key (--api-key set)", () => {
  test("the page and its assets are public, with or without a key, wrong or right", async () => {
    for (const f of files) {
      for (const key of [undefined, "sk-wrong", KEY]) {
        const r = await call(keyed, f.path, { key });
        expect(`${f.path} ${key} ${r.status}`).toBe(`${f.path} ${key} 200`);
        await r.arrayBuffer();
      }
    }
  });

  test("every call the page makes: 401 in the called API's shape, with a challenge, in words the console shows; nothing runs", async () => {
    const before = keyed.scheduler.stats();
    for (const [path, body, shape] of CONSOLE_CALLS) {
      for (const [key, code] of [[undefined, "missing_api_key"], ["sk-wrong", "invalid_api_key"]] as const) {
        const r = await call(keyed, path, { body, key });
        expect([path, r.status, r.headers.get("content-type"), r.headers.get("www-authenticate")]).toEqual([path, 401, "application/json", 'Bearer realm="warren"']);
        const json = (await r.clone().json()) as any;
        if (shape === "openai") expect(json).toEqual({ error: { message: expect.any(String), type: "authentication_error", param: null, code } });
        else expect(json).toEqual({ success: false, error: { code, message: expect.any(String) } });
        // The console's reader of error answers finds the server's sentence.
        expect(await errorMessage(r)).toBe(`401: ${json.error.message}`);
      }
    }
    const after = keyed.scheduler.stats();
    expect([after.promptTokens, after.generatedTokens, after.busySlots, after.queueDepth]).toEqual([before.promptTokens, before.generatedTokens, 0, 0]);
    // With the key, each works.
    for (const [path, body] of CONSOLE_CALLS) {
      const r = await call(keyed, path, { body, key: KEY });
      expect(`${path} ${r.status}`).toBe(`${path} 200`);
      await r.arrayBuffer();
    }
  });
});

describe("hostile model output, as the console reads it", () => {
  test("chat stream: the console's SSE reader gets the model's text exactly, and nothing the model wrote becomes an event", async () => {
    const r = await call(keyed, "/v1/chat/completions", { key: KEY, body: { messages: [{ role: "user", content: "Hello" }], stream: true, max_tokens: 1000 } });
    let content = "";
    let events = 0;
    await readSse(r.body!, (data) => {
      events++;
      const chunk = JSON.parse(data) as { object: string; choices: Array<{ delta: { content?: string } }> };
      expect(chunk.object).toBe("chat.completion.chunk");
      content += chunk.choices[0]?.delta.content ?? "";
    });
    // An event the model's own "data: ..." had made would have added INJECTED once more, or ended the stream early.
    expect(content).toBe(HOSTILE);
    expect(events).toBeGreaterThan(HOSTILE.length / 2);
  });

  test("raw /generate stream: the same text, frame by frame, ending in its done frame", async () => {
    const r = await call(keyed, "/generate", { key: KEY, body: { prompt: "Hello", stream: true, max_tokens: 1000 } });
    let text = "";
    let done: { done?: boolean; text?: string } | undefined;
    await readSse(r.body!, (data) => {
      const f = JSON.parse(data) as { text?: string; done?: boolean };
      if (f.done) done = f;
      else text += f.text ?? "";
    });
    expect(text).toBe(HOSTILE);
    expect(done).toMatchObject({ done: true, text: HOSTILE });
  });

  test("a line of megabytes with no newline streams whole, in order", async () => {
    const r = await call(wide, "/v1/chat/completions", { body: { messages: [{ role: "user", content: "Hello" }], stream: true, max_tokens: 32, ignore_eos: true } });
    const pieces: string[] = [];
    await readSse(r.body!, (data) => pieces.push((JSON.parse(data) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? ""));
    const text = pieces.join("");
    expect(text.length).toBe(32 * 64 * 1024);
    expect(text).not.toContain("\n");
    const whole = await call(wide, "/v1/chat/completions", { body: { messages: [{ role: "user", content: "Hello" }], max_tokens: 32, ignore_eos: true } });
    expect(((await whole.json()) as any).choices[0].message.content).toBe(text);
    const s = wide.scheduler.stats();
    expect([s.busySlots, s.queueDepth]).toEqual([0, 0]);
  });
});
