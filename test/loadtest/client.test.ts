// Error classification of single requests against local stub servers (127.0.0.1, ephemeral ports).

import { afterAll, describe, expect, test } from "bun:test";
import { sendRequest, type ClientConfig } from "../../src/loadtest/client.ts";
import { parseLoadArgs } from "../../src/loadtest/options.ts";
import { createAdapter } from "../../src/loadtest/protocol.ts";
import { startStub, type StubBehavior } from "../../src/loadtest/stub-server.ts";
import type { RequestRecord } from "../../src/loadtest/types.ts";

function config(url: string, extra: string[] = [], timeoutMs = 5_000): ClientConfig {
  const c = parseLoadArgs(["--url", url, "--max-tokens", "4", ...extra]);
  if (c.kind !== "run") throw new Error("unreachable");
  return { baseUrl: url, adapter: createAdapter(c.options), timeoutMs, apiKey: c.options.apiKey };
}

const stubs = new Map<StubBehavior, ReturnType<typeof startStub>>();
function stubFor(b: StubBehavior) {
  let s = stubs.get(b);
  if (!s) stubs.set(b, (s = startStub({ behavior: () => b })));
  return s;
}
afterAll(async () => {
  for (const s of stubs.values()) await s.stop();
});

async function one(b: StubBehavior, extra: string[] = [], timeoutMs?: number): Promise<RequestRecord> {
  return sendRequest(config(stubFor(b).url, extra, timeoutMs), 0, "hello", performance.now());
}

describe("successful requests", () => {
  const variants: [string, string[]][] = [
    ["native stream", []],
    ["native no-stream", ["--no-stream"]],
    ["openai completions stream", ["--api", "openai"]],
    ["openai completions no-stream", ["--api", "openai", "--no-stream"]],
    ["openai chat stream", ["--api", "openai", "--chat"]],
    ["openai chat no-stream", ["--api", "openai", "--chat", "--no-stream"]],
  ];
  for (const [name, extra] of variants) {
    test(name, async () => {
      const r = await one("ok", extra);
      expect(r.failure).toBeNull();
      expect(r.status).toBe(200);
      expect(r.usage).toEqual({ tokens: 4, promptTokens: 5, finishReason: "length" });
      const streamed = !extra.includes("--no-stream");
      // The chat stream's opening role-only delta is not a content chunk.
      expect(r.chunkTimesMs.length).toBe(streamed ? 4 : 0);
      expect(r.ttftMs === null).toBe(!streamed);
      if (streamed) expect(r.ttftMs!).toBeLessThanOrEqual(r.e2eMs);
    });
  }
});

describe("failure classification", () => {
  test("connection refused", async () => {
    const r = await sendRequest(config("http://127.0.0.1:1"), 0, "x", performance.now());
    expect(r.failure).toMatchObject({ kind: "connect", reason: "ECONNREFUSED" });
    expect(r.status).toBeNull();
  });

  test("HTTP 503 keeps the status and the server's message", async () => {
    const r = await one("http503");
    expect(r.failure).toMatchObject({ kind: "http", reason: "HTTP 503" });
    expect(r.failure!.message).toContain("queue full");
    expect(r.status).toBe(503);
  });

  test("timeout", async () => {
    const t0 = performance.now();
    const r = await one("hang", [], 200);
    expect(r.failure).toMatchObject({ kind: "timeout" });
    expect(performance.now() - t0).toBeLessThan(3_000);
  });

  const cases: [string, StubBehavior, string[], object][] = [
    ["malformed native stream", "malformed", [], { kind: "malformed", reason: "invalid JSON in stream event" }],
    ["malformed native body", "malformed", ["--no-stream"], { kind: "malformed", reason: "invalid JSON in response body" }],
    ["malformed openai stream", "malformed", ["--api", "openai"], { kind: "malformed", reason: "invalid JSON in stream chunk" }],
    ["native stream cut before the final event", "cut", [], { kind: "malformed", reason: "stream ended before the final event" }],
    ["openai stream cut before [DONE]", "cut", ["--api", "openai"], { kind: "malformed", reason: "stream ended before [DONE]" }],
    ["native error event mid-stream", "error_event", [], { kind: "server_error", reason: "engine_failed" }],
    ["native success:false body", "error_event", ["--no-stream"], { kind: "server_error", reason: "engine_failed" }],
    ["openai error chunk", "error_event", ["--api", "openai"], { kind: "server_error", reason: "server_error" }],
  ];
  for (const [name, behavior, extra, want] of cases) {
    test(name, async () => {
      const r = await one(behavior, extra);
      expect(r.failure).toMatchObject(want);
      expect(r.usage).toBeNull();
    });
  }

  test("connection closed in the middle of a stream", async () => {
    const server = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(s) {
          s.write("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n");
          const event = 'data: {"text":"a","tokens":1}\n\n';
          s.write(`${event.length.toString(16)}\r\n${event}\r\n`);
          setTimeout(() => s.end(), 20);
        },
      },
    });
    try {
      const r = await sendRequest(config(`http://127.0.0.1:${server.port}`), 0, "x", performance.now());
      expect(r.failure?.kind).toBe("connection_lost");
      expect(r.chunkTimesMs.length).toBe(1);
    } finally {
      server.stop(true);
    }
  });

  test("a native final event with finish_reason error is a failed request", async () => {
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () =>
        new Response('data: {"text":"a","tokens":1}\n\ndata: {"done":true,"tokens":1,"prompt_tokens":1,"finish_reason":"error"}\n\n', {
          headers: { "content-type": "text/event-stream" },
        }),
    });
    try {
      const r = await sendRequest(config(`http://127.0.0.1:${server.port}`), 0, "x", performance.now());
      expect(r.failure).toMatchObject({ kind: "server_error", reason: "finish_reason error" });
    } finally {
      server.stop(true);
    }
  });
});

describe("keep-alive after a stream", () => {
  test("the connection is reused even when the body's end comes after the final event", async () => {
    // Writes the final event, then the chunked terminator 30 ms later: a client that cancels the
    // body at the final event would lose the connection and open a new one for every request.
    const ports = new Set<number>();
    const server = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(s) {
          ports.add(s.remotePort);
        },
        data(s) {
          const ev = 'data: {"done":true,"tokens":1,"prompt_tokens":1,"finish_reason":"length"}\n\n';
          s.write(`HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n${ev.length.toString(16)}\r\n${ev}\r\n`);
          setTimeout(() => s.write("0\r\n\r\n"), 30);
        },
      },
    });
    try {
      const cfg = config(`http://127.0.0.1:${server.port}`);
      for (let i = 0; i < 4; i++) {
        const t0 = performance.now();
        const r = await sendRequest(cfg, i, "x", t0);
        const wallMs = performance.now() - t0;
        expect(r.failure).toBeNull();
        // Latency ends at the final event, not at the terminator 30 ms later.
        expect(r.e2eMs).toBeLessThan(wallMs - 10);
      }
      expect(ports.size).toBe(1);
    } finally {
      server.stop(true);
    }
  });
});
