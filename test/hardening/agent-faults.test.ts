// Malformed agent traffic on the three chat APIs (OpenAI chat completions, Responses, Anthropic
// Messages), against the real engine with a tool-calling template, over a real socket: tool-call
// histories that do not pair up, arguments that are not JSON objects, content of the wrong type,
// tool schemas that cannot be enforced (not objects, recursive without end, too deep, keywords
// with wrong values), and tool_choice naming a tool that is not there. Each is a 4xx in the API's
// own error shape naming the field at fault, streamed or not; nothing is left running and the
// server answers a good request afterwards.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LlamaEngine } from "../../src/inference/llama/engine.ts";
import { setup, type Setup } from "../api/helpers.ts";
import { makeTemplatedModel } from "../helpers/chat.ts";

let dir: string;
let engine: LlamaEngine;
let s: Setup;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "warren-agent-faults-"));
  engine = await LlamaEngine.load({ modelPath: await makeTemplatedModel(dir), slots: 2, slotContextSize: 2048, threads: 1 });
  s = await setup(engine);
}, 60_000);
afterAll(async () => {
  await s?.served.close();
  await engine?.dispose();
  await rm(dir, { recursive: true, force: true });
});

type Api = "chat" | "responses" | "messages";
const PATHS: Record<Api, string> = { chat: "/v1/chat/completions", responses: "/v1/responses", messages: "/v1/messages" };

async function post(api: Api, body: unknown): Promise<{ status: number; type: string; body: any }> {
  const r = await fetch(`${s.served.url}${PATHS[api]}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const text = await r.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: r.status, type: r.headers.get("content-type") ?? "", body: json };
}

/** The error's message, after checking that the body is exactly the API's error shape for a 400. */
function errorMessage(api: Api, body: any): string {
  if (api === "messages") {
    expect(body).toEqual({ type: "error", error: { type: "invalid_request_error", message: expect.any(String) } });
    return body.error.message;
  }
  expect(body).toEqual({ error: { message: expect.any(String), type: "invalid_request_error", param: expect.anything(), code: expect.any(String) } });
  // The param OpenAI clients read is the field the message starts with.
  expect(body.error.message.startsWith(`${body.error.param}: `)).toBe(true);
  return body.error.message;
}

// The same faults, spelled in each API's own history.
const user = { role: "user", content: "What is the weather in Paris?" };
const WEATHER = { type: "object", properties: { city: { type: "string" } }, required: ["city"] };
const chatTool = (parameters: unknown, name = "get_weather") => ({ type: "function", function: { name, parameters } });
const respTool = (parameters: unknown, name = "get_weather") => ({ type: "function", name, parameters });
const msgTool = (input_schema: unknown, name = "get_weather") => ({ name, input_schema });
const call = (id: string, args = '{"city":"Paris"}') => ({ id, type: "function", function: { name: "get_weather", arguments: args } });
const chat = (messages: unknown[], extra: object = {}) => ({ messages, max_tokens: 4, ...extra });
const responses = (input: unknown[], extra: object = {}) => ({ input, max_output_tokens: 4, ...extra });
const messages = (msgs: unknown[], extra: object = {}) => ({ messages: msgs, max_tokens: 4, ...extra });
const fnCall = (callId: string, args = '{"city":"Paris"}') => ({ type: "function_call", call_id: callId, name: "get_weather", arguments: args });
const fnOut = (callId: string, output: unknown = "18 C") => ({ type: "function_call_output", call_id: callId, output });
const toolUse = (id: string, input: unknown = { city: "Paris" }) => ({ type: "tool_use", id, name: "get_weather", input });
const toolResult = (id: string, content: unknown = "18 C") => ({ type: "tool_result", tool_use_id: id, content });

let deep: object = { type: "string" };
for (let i = 0; i < 500; i++) deep = { type: "object", properties: { a: deep } };
const LOOP = { $ref: "#/$defs/a", $defs: { a: { anyOf: [{ $ref: "#/$defs/b" }, { type: "string" }] }, b: { $ref: "#/$defs/a" } } };

/** [api, fault, body, what the message must say (it starts with the field)]. */
const CASES: Array<[Api, string, unknown, RegExp]> = [
  // History that does not pair up.
  ["chat", "a tool message with no call of its id", chat([user, { role: "tool", tool_call_id: "call_x", content: "18 C" }]), /^messages\[1\]: a tool result, but no earlier tool call has the id "call_x"/],
  ["chat", "a tool message with no call at all", chat([user, { role: "tool", content: "18 C" }]), /^messages\[1\]: .*no unanswered tool call/],
  ["chat", "two calls of one turn with the same id", chat([user, { role: "assistant", tool_calls: [call("c1"), call("c1")] }, { role: "tool", tool_call_id: "c1", content: "1" }, { role: "tool", tool_call_id: "c1", content: "2" }]), /^messages\[1\]\.tool_calls\[1\]\.id: the id "c1" is already an earlier call's in the same turn/],
  ["chat", "a result answering a call already answered", chat([user, { role: "assistant", tool_calls: [call("c1")] }, { role: "tool", tool_call_id: "c1", content: "1" }, { role: "tool", tool_call_id: "c1", content: "2" }]), /^messages\[3\]: .*"c1" \(or it was answered already\)/],
  ["chat", "a call left without its result", chat([user, { role: "assistant", tool_calls: [call("c1")] }, user]), /^messages\[1\]: the tool call "c1" to "get_weather" has no tool result before messages\[2\]/],
  ["responses", "an output for an unknown call_id", responses([user, fnOut("call_x")]), /^input\[1\]: a tool result, but no earlier tool call has the id "call_x"/],
  ["responses", "two calls of one turn with the same call_id", responses([user, fnCall("c1"), fnCall("c1"), fnOut("c1"), fnOut("c1")]), /^input\[2\]\.call_id: the id "c1" is already an earlier call's/],
  ["responses", "a call left without its output", responses([user, fnCall("c1"), user]), /^input\[1\]: the tool call "c1" .* has no tool result before input\[2\]/],
  ["messages", "a tool_result for an unknown tool_use_id", messages([user, { role: "user", content: [toolResult("toolu_x")] }]), /^messages\[1\]\.content\[0\]: a tool result, but no earlier tool call has the id "toolu_x"/],
  ["messages", "two tool_use blocks with the same id", messages([user, { role: "assistant", content: [toolUse("t1"), toolUse("t1")] }, { role: "user", content: [toolResult("t1"), toolResult("t1")] }]), /^messages\[1\]\.content\[1\]\.id: the id "t1" is already an earlier call's/],
  ["messages", "a tool_result without its tool_use_id", messages([user, { role: "user", content: [{ type: "tool_result", content: "x" }] }]), /^messages\[1\]\.content\[0\]\.tool_use_id: /],
  // Arguments that are not a JSON object.
  ["chat", "arguments that are not JSON", chat([user, { role: "assistant", tool_calls: [call("c1", "{city: Paris")] }, { role: "tool", tool_call_id: "c1", content: "1" }]), /^messages\[1\]\.tool_calls\[0\]\.function\.arguments: must be a JSON text/],
  ["chat", "arguments that are a JSON list", chat([user, { role: "assistant", tool_calls: [call("c1", '["Paris"]')] }, { role: "tool", tool_call_id: "c1", content: "1" }]), /^messages\[1\]\.tool_calls\[0\]\.function\.arguments: must be a JSON object .*; got a list$/],
  ["chat", "arguments that are a JSON string", chat([user, { role: "assistant", tool_calls: [call("c1", '"Paris"')] }, { role: "tool", tool_call_id: "c1", content: "1" }]), /arguments: must be a JSON object .*; got a string$/],
  ["chat", "arguments that are JSON null", chat([user, { role: "assistant", tool_calls: [call("c1", "null")] }, { role: "tool", tool_call_id: "c1", content: "1" }]), /arguments: must be a JSON object .*; got null$/],
  ["chat", "arguments sent as an object, not as JSON text", chat([user, { role: "assistant", tool_calls: [{ id: "c1", type: "function", function: { name: "get_weather", arguments: { city: "Paris" } } }] }]), /^messages\.1\.tool_calls: /],
  ["responses", "arguments that are a JSON number", responses([user, fnCall("c1", "42"), fnOut("c1")]), /^input\[1\]\.arguments: must be a JSON object .*; got a number$/],
  ["responses", "arguments that are not JSON", responses([user, fnCall("c1", "{"), fnOut("c1")]), /^input\[1\]\.arguments: must be a JSON text/],
  ["messages", "a tool_use input that is a list", messages([user, { role: "assistant", content: [toolUse("t1", ["Paris"])] }, { role: "user", content: [toolResult("t1")] }]), /^messages\[1\]\.content\[0\]\.input: must be an object/],
  ["messages", "a tool_use input that is JSON text", messages([user, { role: "assistant", content: [toolUse("t1", '{"city":"Paris"}')] }, { role: "user", content: [toolResult("t1")] }]), /^messages\[1\]\.content\[0\]\.input: must be an object/],
  // Content of the wrong type.
  ["chat", "a message's content as a number", chat([{ role: "user", content: 42 }]), /^messages\.0\.content: /],
  ["chat", "a tool message without content", chat([user, { role: "assistant", tool_calls: [call("c1")] }, { role: "tool", tool_call_id: "c1", content: null }]), /^messages\[2\]\.content: a tool message needs content/],
  ["chat", "an image part", chat([{ role: "user", content: [{ type: "image_url", image_url: { url: "data:," } }] }]), /^messages\[0\]\.content\[0\]: only text parts/],
  ["chat", "tool_calls that are not a list", chat([user, { role: "assistant", tool_calls: { id: "c1" } }]), /^messages\.1\.tool_calls: /],
  ["responses", "a function_call_output whose output is a number", responses([user, fnCall("c1"), fnOut("c1", 5)]), /^input: /],
  ["responses", "an input_image part", responses([{ role: "user", content: [{ type: "input_image", image_url: "data:," }] }]), /^input\[0\]\.content\[0\]\.type: only text parts/],
  ["messages", "a message's content as a number", messages([{ role: "user", content: 5 }]), /^messages\.0\.content: /],
  ["messages", "a tool_result whose content is an object", messages([user, { role: "assistant", content: [toolUse("t1")] }, { role: "user", content: [toolResult("t1", { temp: 18 })] }]), /^messages\.2\.content: /],
  ["messages", "a tool_result in an assistant message", messages([user, { role: "assistant", content: [toolResult("t1")] }]), /^messages\[1\]\.content\[0\]: a assistant message cannot hold a "tool_result" block/],
  // Tool schemas.
  ["chat", "parameters that are a string", chat([user], { tools: [chatTool("object")] }), /^tools\[0\]\.function: the parameters of "get_weather" must be a JSON Schema object; got a string$/],
  ["chat", "parameters that are a list", chat([user], { tools: [chatTool([WEATHER])] }), /^tools\[0\]\.function: .* must be a JSON Schema object; got a list$/],
  ["chat", "parameters of type string", chat([user], { tools: [chatTool({ type: "string" })] }), /^tools\[0\]\.function: the parameters of "get_weather" must describe an object \(type "object"\).*; got type "string"$/],
  ["chat", "a $ref loop that writes nothing", chat([user], { tools: [chatTool(LOOP)] }), /^tools\[0\]\.function: .* cannot be enforced: unsupported JSON Schema keyword "\$ref" at #\/\$defs\/a: leads back to this definition/],
  ["chat", "a schema nested 500 deep", chat([user], { tools: [chatTool(deep)] }), /^tools\[0\]\.function: .* cannot be enforced: JSON Schema nested deeper than 64 levels/],
  ["chat", "minLength that is not a number", chat([user], { tools: [chatTool({ type: "object", properties: { city: { type: "string", minLength: "3" } } })] }), /keyword "minLength" at #\/properties\/city: "3" \(must be a whole number/],
  ["chat", "minItems above maxItems", chat([user], { tools: [chatTool({ type: "object", properties: { days: { type: "array", minItems: 3, maxItems: 1 } } })] }), /keyword "minItems" at #\/properties\/days: 3 is more than maxItems 1: nothing can match/],
  ["chat", "required that is not a list", chat([user], { tools: [chatTool({ type: "object", properties: {}, required: "city" })] }), /keyword "required" at #: must be a list of property names/],
  ["chat", "an unknown type", chat([user], { tools: [chatTool({ type: "object", properties: { city: { type: "text" } } })] }), /keyword "type" at #\/properties\/city: "text"/],
  ["chat", "an unsupported keyword", chat([user], { tools: [chatTool({ type: "object", properties: { city: { type: "string", pattern: "^[A-Z]" } } })] }), /keyword "pattern" at #\/properties\/city/],
  ["chat", "tool_choice naming a missing tool", chat([user], { tools: [chatTool(WEATHER)], tool_choice: { type: "function", function: { name: "get_time" } } }), /^tool_choice: names the function "get_time", which is not among the tools \(get_weather\)$/],
  ["chat", "tool_choice required without tools", chat([user], { tool_choice: "required" }), /^tool_choice: "required" needs tools/],
  ["chat", "two tools of one name", chat([user], { tools: [chatTool(WEATHER), chatTool(WEATHER)] }), /^tools\[1\]\.function: two tools are named "get_weather"$/],
  ["responses", "parameters that are a list", responses([user], { tools: [respTool([1])] }), /^tools\[0\]: .* must be a JSON Schema object; got a list$/],
  ["responses", "parameters of type array", responses([user], { tools: [respTool({ type: "array", items: { type: "string" } })] }), /^tools\[0\]: .* must describe an object .*; got type "array"$/],
  ["responses", "a $ref loop", responses([user], { tools: [respTool(LOOP)] }), /^tools\[0\]: .*leads back to this definition/],
  ["responses", "tool_choice naming a missing tool", responses([user], { tools: [respTool(WEATHER)], tool_choice: { type: "function", name: "get_time" } }), /^tool_choice: names the function "get_time"/],
  ["messages", "an input_schema that is a string", messages([user], { tools: [msgTool("object")] }), /^tools\[0\]: .* must be a JSON Schema object; got a string$/],
  ["messages", "an input_schema of type string", messages([user], { tools: [msgTool({ type: "string" })] }), /^tools\[0\]: .* must describe an object .*; got type "string"$/],
  ["messages", "an input_schema nested 500 deep", messages([user], { tools: [msgTool(deep)] }), /^tools\[0\]: .* nested deeper than 64 levels/],
  ["messages", "maxLength below 0", messages([user], { tools: [msgTool({ type: "object", properties: { city: { type: "string", maxLength: -1 } } })] }), /keyword "maxLength" at #\/properties\/city: -1/],
  ["messages", "tool_choice naming a missing tool", messages([user], { tools: [msgTool(WEATHER)], tool_choice: { type: "tool", name: "get_time" } }), /^tool_choice\.name: "get_time" is not among the tools \(get_weather\)$/],
  // Scalars or lists where an object belongs: refused as sent, never rebuilt into an object.
  ["chat", "chat_template_kwargs as a string", chat([user], { chat_template_kwargs: "ab" }), /^chat_template_kwargs: /],
  ["chat", "a json_schema's schema as a string", chat([user], { response_format: { type: "json_schema", json_schema: { name: "x", schema: "ab" } } }), /^response_format: /],
  ["chat", "stream_options as a number", chat([user], { stream_options: 5 }), /^stream_options: /],
  ["responses", "chat_template_kwargs as a list", responses([user], { chat_template_kwargs: ["x"] }), /^chat_template_kwargs: /],
  ["responses", "a text format's schema as a list", responses([user], { text: { format: { type: "json_schema", name: "x", schema: [1] } } }), /^text: /],
  ["messages", "chat_template_kwargs as a number", messages([user], { chat_template_kwargs: 5 }), /^chat_template_kwargs: /],
];

describe("malformed agent requests: a 400 in the API's own shape, naming the field", () => {
  for (const [api, fault, body, said] of CASES) {
    test(`${api}: ${fault}`, async () => {
      for (const stream of [false, true]) {
        const r = await post(api, { ...(body as object), stream });
        // Refused before any answer starts: a JSON error, never an event stream.
        expect([r.status, r.type]).toEqual([400, "application/json"]);
        expect(errorMessage(api, r.body)).toMatch(said);
      }
    });
  }

  test("a recursive schema that writes JSON on every turn is not a fault: it is enforced", async () => {
    const tree = { $ref: "#/$defs/node", $defs: { node: { type: "object", properties: { name: { type: "string", maxLength: 8 }, next: { $ref: "#/$defs/node" } }, required: ["name"] } } };
    const r = await post("chat", chat([user], { tools: [chatTool(tree, "walk")], tool_choice: "required", max_tokens: 48, temperature: 0 }));
    expect(r.status).toBe(200);
    expect(r.body.choices[0].message.tool_calls?.[0]?.function.name ?? r.body.choices[0].finish_reason).toMatch(/^(walk|length)$/);
  });

  test("afterwards nothing is left running and every API answers a good request", async () => {
    const stats = s.scheduler.stats();
    expect([stats.busySlots, stats.queueDepth]).toEqual([0, 0]);
    const round = [user, { role: "assistant", tool_calls: [call("c1")] }, { role: "tool", tool_call_id: "c1", content: "18 C" }];
    expect((await post("chat", chat(round, { tools: [chatTool(WEATHER)] }))).status).toBe(200);
    expect((await post("responses", responses([user, fnCall("c1"), fnOut("c1")], { tools: [respTool(WEATHER)] }))).status).toBe(200);
    const history = [user, { role: "assistant", content: [toolUse("t1")] }, { role: "user", content: [toolResult("t1")] }];
    expect((await post("messages", messages(history, { tools: [msgTool(WEATHER)] }))).status).toBe(200);
    // A later turn may reuse an id of an earlier, answered turn: its results pair within it.
    expect((await post("chat", chat([...round, user, { role: "assistant", tool_calls: [call("c1")] }, { role: "tool", tool_call_id: "c1", content: "19 C" }]))).status).toBe(200);
  });
});
