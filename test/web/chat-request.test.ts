// The chat form's request body and an answer's figures, and the SSE reader the console streams with.
import { describe, expect, test } from "bun:test";
import { answerFigures, chatBody, describeFigures, parseStops, schemaFormat, type ChatSettings } from "../../src/web/app/chat-request.ts";
import { readSse } from "../../src/web/app/sse.ts";

const base: ChatSettings = { model: "m1", system: "", stop: "", jsonMode: false, schema: "" };

describe("chat request body", () => {
  test("empty fields are left out (the server's defaults apply); set ones use the API's names", () => {
    expect(chatBody(base, [{ role: "user", content: "hi" }])).toEqual({
      model: "m1",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const body = chatBody({ ...base, system: "Be brief.", temperature: 0, topP: 0.5, topK: 7, maxTokens: 30, seed: 42, stop: "END\n\\n\\n" }, [
      { role: "user", content: "a" },
      { role: "assistant", content: "b" },
      { role: "user", content: "c" },
    ]);
    expect(body).toMatchObject({ temperature: 0, top_p: 0.5, top_k: 7, max_tokens: 30, seed: 42, stop: ["END", "\n\n"] });
    expect(body.messages).toEqual([
      { role: "system", content: "Be brief." },
      { role: "user", content: "a" },
      { role: "assistant", content: "b" },
      { role: "user", content: "c" },
    ]);
  });

  test("stop strings: one per line, escapes for newline, tab and backslash", () => {
    expect(parseStops("")).toEqual([]);
    expect(parseStops("a\n\nb")).toEqual(["a", "b"]);
    expect(parseStops("\\n\\t\\\\x")).toEqual(["\n\t\\x"]);
  });

  test("JSON-schema mode sends the schema as response_format; a bad schema is a readable error", () => {
    const schema = { type: "object", properties: { answer: { type: "string" } } };
    expect(chatBody({ ...base, jsonMode: true, schema: JSON.stringify(schema) }, []).response_format).toEqual({
      type: "json_schema",
      json_schema: { name: "console", schema },
    });
    expect(() => schemaFormat("{nope")).toThrow(/does not parse/);
    expect(() => schemaFormat("[1]")).toThrow(/must be a JSON object/);
    expect(() => chatBody({ ...base, jsonMode: true, schema: "null" }, [])).toThrow(/must be a JSON object/);
  });

  test("figures: TTFT from sending, tokens/s over the tokens after the first", () => {
    const f = answerFigures({ sent: 1000, first: 1250, last: 2250 }, 101);
    expect(f).toEqual({ ttftMs: 250, tokens: 101, tokensPerSecond: 100 });
    expect(describeFigures(f)).toBe("TTFT 250 ms · 101 tokens · 100.0 tokens/s");
    expect(describeFigures(answerFigures({ sent: 0 }, 0))).toBe("0 tokens");
    expect(describeFigures(answerFigures({ sent: 0, first: 5, last: 5 }, 1))).toBe("TTFT 5 ms · 1 token");
  });
});

describe("readSse", () => {
  const stream = (text: string, cut: number[]) => {
    const bytes = new TextEncoder().encode(text);
    const points = [0, ...cut.filter((c) => c > 0 && c < bytes.length), bytes.length];
    return new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 1; i < points.length; i++) c.enqueue(bytes.slice(points[i - 1], points[i]));
        c.close();
      },
    });
  };
  const text = 'data: {"a":"é"}\n\n: keep-alive\n\ndata: {"b":2}\r\n\r\ndata: [DONE]\n\ndata: {"after":1}\n\n';

  test("events in order whole, split at every byte offset, and byte by byte; nothing after [DONE]", async () => {
    const length = new TextEncoder().encode(text).length;
    const cuts = [[], ...Array.from({ length }, (_, i) => [i]), Array.from({ length }, (_, i) => i)];
    for (const cut of cuts) {
      const got: string[] = [];
      await readSse(stream(text, cut), (d) => got.push(d));
      expect(got).toEqual(['{"a":"é"}', '{"b":2}']);
    }
  });

  test("an aborted fetch rejects with AbortError", async () => {
    const server = Bun.serve({
      port: 0,
      fetch: () =>
        new Response(
          new ReadableStream({
            start(c) {
              c.enqueue(new TextEncoder().encode("data: 1\n\n"));
            },
          }),
          { headers: { "content-type": "text/event-stream" } },
        ),
    });
    try {
      const controller = new AbortController();
      const res = await fetch(`http://127.0.0.1:${server.port}/`, { signal: controller.signal });
      const got: string[] = [];
      const done = readSse(res.body!, (d) => {
        got.push(d);
        controller.abort();
      });
      expect(await done.then(() => "resolved", (e: Error) => e.name)).toBe("AbortError");
      expect(got).toEqual(["1"]);
    } finally {
      server.stop(true);
    }
  });
});
