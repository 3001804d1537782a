// Failures on the Anthropic Messages routes: every one a JSON body in Anthropic's shape
// ({"type":"error","error":{type,message}}) with the right status, naming the field at fault,
// as the official SDK sees them (its error classes) and as raw HTTP.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import { FakeEngine } from "../../src/inference/engine-fake.ts";
import { setup, waitFor, type Setup } from "./helpers.ts";
import { anthropic, apiError, parseSse, QWEN_SYNTAX, rawMessages } from "./anthropic-helpers.ts";
import { FailingEngine } from "../helpers/inference.ts";

let s: Setup;
let client: Anthropic;
beforeAll(async () => {
  s = await setup(new FakeEngine({ slots: 2, slotContextSize: 1024, chatSyntax: QWEN_SYNTAX }));
  client = anthropic(s.served);
});
afterAll(() => s.served.close());

const user = (content: string) => [{ role: "user" as const, content }];
const base = { model: "claude-test", max_tokens: 8, messages: user("hi") };
const weather = { name: "get_weather", input_schema: { type: "object" as const, properties: { city: { type: "string" } } } };

/** The SDK's view of a 400: BadRequestError, Anthropic's body, and the message (returned). */
async function badRequest(p: Promise<unknown>): Promise<string> {
  const e = await apiError(p);
  expect(e).toBeInstanceOf(Anthropic.BadRequestError);
  expect(e.error).toEqual({ type: "error", error: { type: "invalid_request_error", message: expect.any(String) } });
  return e.apiMessage!;
}

const post = async (path: string, body: string, headers: Record<string, string> = {}) => {
  const res = await s.served.fetch(`${s.served.url}${path}`, { method: "POST", body, headers: { "content-type": "application/json", ...headers } });
  return { status: res.status, body: (await res.json()) as any, headers: res.headers };
};

describe("bad input: 400 naming the field", () => {
  test("image and document blocks", async () => {
    const image = { type: "image" as const, source: { type: "url" as const, url: "https://example.com/cat.png" } };
    const msg = await badRequest(client.messages.create({ ...base, messages: [{ role: "user", content: [{ type: "text", text: "What is it?" }, image] }] }));
    expect(msg).toBe("messages[0].content[1]: image blocks are not supported: the model reads text only");
    const doc = { type: "document" as const, source: { type: "text" as const, media_type: "text/plain" as const, data: "x" } };
    expect(await badRequest(client.messages.create({ ...base, messages: [{ role: "user", content: [doc] }] }))).toStartWith("messages[0].content[0]: document");
    const inResult = { type: "tool_result" as const, tool_use_id: "toolu_1", content: [image] };
    const history = [...user("hi"), { role: "assistant" as const, content: [{ type: "tool_use" as const, id: "toolu_1", name: "get_weather", input: {} }] }];
    const nested = await badRequest(client.messages.create({ ...base, tools: [weather], messages: [...history, { role: "user", content: [inResult] }] }));
    expect(nested).toStartWith("messages[2].content[0].content[0]: ");
  });

  test("a tool_result without a matching tool_use, and a tool_use left without its result", async () => {
    const orphan = await badRequest(client.messages.create({ ...base, messages: [{ role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_x", content: "42" }] }] }));
    expect(orphan).toStartWith("messages[0].content[0]: ");
    expect(orphan).toContain('"toolu_x"');
    const unanswered = await badRequest(
      client.messages.create({
        ...base,
        tools: [weather],
        messages: [...user("a"), { role: "assistant", content: [{ type: "tool_use", id: "toolu_1", name: "get_weather", input: {} }] }, ...user("b")],
      }),
    );
    expect(unanswered).toStartWith("messages[1]: ");
    expect(unanswered).toContain("messages[2]");
    const r = await post("/v1/messages", JSON.stringify({ ...base, messages: [{ role: "user", content: [{ type: "tool_result", content: "x" }] }] }));
    expect(r.body.error.message).toStartWith("messages[0].content[0].tool_use_id: ");
  });

  test("blocks in the wrong role, unknown blocks, server tools, refused fields", async () => {
    const toolUseFromUser = { role: "user" as const, content: [{ type: "tool_use" as const, id: "t", name: "get_weather", input: {} }] };
    expect(await badRequest(client.messages.create({ ...base, messages: [toolUseFromUser] }))).toStartWith("messages[0].content[0]: a user message cannot hold");
    const r = await post("/v1/messages", JSON.stringify({ ...base, messages: [{ role: "user", content: [{ type: "hologram" }] }] }));
    expect(r.status).toBe(400);
    expect(r.body.error.message).toContain('"hologram"');
    const server = await badRequest(client.messages.create({ ...base, tools: [{ type: "web_search_20250305", name: "web_search" }] }));
    expect(server).toStartWith("tools[0].type: ");
    const mcp = await post("/v1/messages", JSON.stringify({ ...base, mcp_servers: [{ type: "url", url: "https://x", name: "x" }] }));
    expect(mcp.body.error.message).toStartWith("mcp_servers: ");
  });

  test("tools on a template without a tool-call syntax", async () => {
    const plain = await setup(new FakeEngine());
    const msg = await badRequest(anthropic(plain.served).messages.create({ ...base, tools: [weather] }));
    expect(msg).toStartWith("tools: ");
    await plain.served.close();
  });

  test("schema validation: the field and its rule, in Anthropic's shape", async () => {
    expect(await badRequest(client.messages.create({ ...base, temperature: 1.5 } as Anthropic.MessageCreateParamsNonStreaming))).toBe("temperature: must be a number from 0 to 1");
    const missing = await post("/v1/messages", JSON.stringify({ messages: user("hi") }));
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual({ type: "error", error: { type: "invalid_request_error", message: expect.stringContaining("max_tokens") } });
    const empty = await post("/v1/messages/count_tokens", JSON.stringify({ messages: [] }));
    expect(empty.body.error.message).toStartWith("messages");
    const json = await post("/v1/messages", "{nope");
    expect(json.status).toBe(400);
    expect(json.body.type).toBe("error");
  });
});

describe("other failures", () => {
  test("unknown /v1/messages routes are a 404 in Anthropic's shape; other /v1 routes keep OpenAI's", async () => {
    const r = await post("/v1/messages/batches", "{}");
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ type: "error", error: { type: "not_found_error", message: expect.any(String) } });
    expect((await post("/v1/nope", "{}")).body.error.code).toBe("not_found");
  });

  test("while the model loads: 503 overloaded_error", async () => {
    s.state.phase = "loading";
    try {
      const e = await apiError(client.messages.create(base));
      expect(e.status).toBe(503);
      expect(e.error).toEqual({ type: "error", error: { type: "overloaded_error", message: "the model is still loading" } });
      expect((await apiError(client.messages.countTokens({ model: "x", messages: user("hi") }))).status).toBe(503);
    } finally {
      s.state.phase = "ready";
    }
  });

  test("queue full: 503 overloaded_error with Retry-After", async () => {
    const q = await setup(new FakeEngine({ slots: 1, decodeDelayMs: 2 }), { maxQueue: 0 });
    const c = anthropic(q.served);
    const ac = new AbortController();
    const holder = await c.messages.create({ ...base, max_tokens: 400, stream: true }, { signal: ac.signal });
    const it = holder[Symbol.asyncIterator]();
    await it.next();
    await waitFor(() => q.scheduler.stats().busySlots === 1, "the first request to hold the slot");
    const e = await apiError(c.messages.create(base));
    expect(e.status).toBe(503);
    expect(e.type).toBe("overloaded_error");
    expect(e.headers?.get("retry-after")).toBe("1");
    ac.abort();
    await it.next().catch(() => {});
    await waitFor(() => q.scheduler.stats().busySlots === 0, "the aborted stream's slot to be freed");
    expect(q.scheduler.stats().requests.cancelled).toBe(1);
    await q.served.close();
  });

  test("a generation failure: 500 api_error, or mid-stream an error event the SDK raises", async () => {
    const f = await setup(new FailingEngine({ slots: 1 }));
    const c = anthropic(f.served);
    const whole = await apiError(c.messages.create({ ...base, max_tokens: 50 }));
    expect(whole.status).toBe(500);
    expect(whole.type).toBe("api_error");
    expect(whole.apiMessage).toContain("device lost");
    const streamed = await apiError(c.messages.stream({ ...base, max_tokens: 50 }).finalMessage());
    expect(streamed.type).toBe("api_error");
    expect(streamed.apiMessage).toContain("device lost");
    const events = parseSse(await (await rawMessages(f.served, { ...base, max_tokens: 50, stream: true })).text());
    expect(events.at(-1)).toEqual({ event: "error", data: { type: "error", error: { type: "api_error", message: expect.stringContaining("device lost") } } });
    await f.served.close();
  });
});

describe("x-api-key auth", () => {
  test("a wrong or missing key: 401 authentication_error; the right key works on both routes", async () => {
    const a = await setup(new FakeEngine(), { apiKeys: ["sk-ant-right"] });
    const wrong = await apiError(anthropic(a.served, "sk-ant-wrong").messages.create(base));
    expect(wrong).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(wrong.error).toEqual({ type: "error", error: { type: "authentication_error", message: "invalid API key" } });
    const missing = await rawMessages(a.served, base);
    expect(missing.status).toBe(401);
    expect(((await missing.json()) as any).error.type).toBe("authentication_error");
    const right = anthropic(a.served, "sk-ant-right");
    expect((await right.messages.create(base)).content).toHaveLength(1);
    expect((await right.messages.countTokens({ model: "x", messages: user("hi") })).input_tokens).toBe(20);
    const raw = await rawMessages(a.served, base, { "x-api-key": "sk-ant-right", "anthropic-version": "2023-06-01" });
    expect(raw.status).toBe(200);
    await a.served.close();
  });
});
