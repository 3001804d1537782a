// Serving an app to the official `openai` SDK in tests, in-process or over a real socket.
// Switch every API test between the two with MODE below.
import OpenAI from "openai";
import { createApp } from "../../src/api/app.ts";
import type { ApiDeps, ServiceState } from "../../src/api/state.ts";
import type { Engine } from "../../src/inference/engine.ts";
import type { ModelRegistry } from "../../src/inference/registry.ts";
import { Scheduler } from "../../src/inference/scheduler.ts";
import { createLogger } from "../../src/log.ts";

type Mode = "in-process" | "socket";
/**
 * The one-line switch. "socket" runs every API test through src/http/server.ts on 127.0.0.1;
 * "in-process" hands requests to app.handle (WARREN_API_TEST_MODE=in-process picks it for one run).
 */
const MODE: Mode = process.env.WARREN_API_TEST_MODE === "in-process" ? "in-process" : "socket";

interface Handles {
  handle(req: Request): Promise<Response>;
}

export interface Served {
  /** Server root, e.g. http://127.0.0.1:PORT (no trailing slash). */
  url: string;
  fetch: typeof fetch;
  close(): Promise<void>;
}

async function serve(app: Handles, mode: Mode = MODE): Promise<Served> {
  if (mode === "in-process") return { url: "http://localhost", fetch: inProcessFetch(app), close: async () => {} };
  // A computed specifier keeps this file compiling while the HTTP engine is absent.
  const serverModule = "../../src/http/server.ts";
  const { listen } = (await import(serverModule)) as {
    listen(h: (r: Request) => Promise<Response>, o: { hostname: string; port: number }): { port: number; stop(o?: { graceful?: boolean }): Promise<void> };
  };
  const server = listen((req) => app.handle(req), { hostname: "127.0.0.1", port: 0 });
  return { url: `http://127.0.0.1:${server.port}`, fetch: globalThis.fetch, close: () => server.stop({ graceful: false }) };
}

/** fetch over app.handle. An abort cancels the body as a dropped connection would: app.handle has no socket to close. */
function inProcessFetch(app: Handles): typeof fetch {
  const f = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const req = input instanceof Request ? new Request(input, init) : new Request(String(input), init);
    const res = await app.handle(req);
    const signal = init?.signal ?? undefined;
    if (!signal || !res.body) return res;
    return new Response(abortable(res.body, signal), { status: res.status, statusText: res.statusText, headers: res.headers });
  };
  return f as typeof fetch;
}

function abortable(body: ReadableStream<Uint8Array>, signal: AbortSignal): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    start(controller) {
      signal.addEventListener(
        "abort",
        () => {
          reader.cancel().catch(() => {});
          try {
            controller.error(new DOMException("The operation was aborted", "AbortError"));
          } catch {}
        },
        { once: true },
      );
    },
    async pull(controller) {
      const r = await reader.read();
      if (r.done) controller.close();
      else controller.enqueue(r.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/** The APIError a promise rejects with (fails the test if it resolves or throws something else). */
export async function apiError(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (err) {
    if (err instanceof OpenAI.APIError) return err;
    throw err;
  }
  throw new Error("expected an APIError");
}

export function sdk(s: Served, apiKey = "sk-test"): OpenAI {
  return new OpenAI({ apiKey, baseURL: `${s.url}/v1`, fetch: s.fetch, maxRetries: 0, timeout: 30_000 });
}

export interface Setup {
  state: ServiceState;
  scheduler: Scheduler;
  app: ReturnType<typeof createApp>;
  served: Served;
  client: OpenAI;
}

/** A ready service over `engine`, served and with an SDK client. */
export async function setup(engine: Engine, over: Partial<ApiDeps> & { maxQueue?: number } = {}): Promise<Setup> {
  const scheduler = new Scheduler({ engine, maxQueue: over.maxQueue ?? 8 });
  const state: ServiceState = { phase: "ready", scheduler, modelName: engine.info.name };
  const app = createApp({ state, log: createLogger("error", () => {}), ...over });
  const served = await serve(app);
  return { state, scheduler, app, served, client: sdk(served, over.apiKeys?.[0]) };
}

/** A ready service over a model registry (several models, routed by name), served and with an SDK client. */
export async function setupModels(models: ModelRegistry, over: Partial<ApiDeps> = {}): Promise<Omit<Setup, "scheduler">> {
  const state: ServiceState = { phase: "ready", models };
  const app = createApp({ state, log: createLogger("error", () => {}), ...over });
  const served = await serve(app);
  return { state, app, served, client: sdk(served, over.apiKeys?.[0]) };
}

export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict reader of the Prometheus text format (0.0.4): every line is a HELP, a TYPE or a sample;
 * anything else throws, so a malformed exposition fails the test.
 */
export function parseProm(text: string): { samples: Sample[]; types: Map<string, string> } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const name = "[a-zA-Z_:][a-zA-Z0-9_:]*";
  const sampleRe = new RegExp(`^(${name})(\\{(.*)\\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)( -?[0-9]+)?$`);
  const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === "TYPE") {
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(meta[3]!)) throw new Error(`bad TYPE line: ${line}`);
        types.set(meta[2]!, meta[3]!);
      }
      continue;
    }
    const m = sampleRe.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const body = m[3] ?? "";
    labelRe.lastIndex = 0;
    while (labelRe.lastIndex < body.length) {
      const l = labelRe.exec(body);
      if (!l) throw new Error(`bad labels in: ${line}`);
      labels[l[1]!] = l[2]!.replace(/\\n/g, "\n").replace(/\\(["\\])/g, "$1");
    }
    samples.push({ name: m[1]!, labels, value: Number(m[4]!.replace("Inf", "Infinity")) });
  }
  return { samples, types };
}

export function sampleValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const s = samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value;
}

/**
 * "complete" when `text` is one JSON value (with surrounding whitespace), "prefix" when it is cut
 * short but every character so far fits JSON's grammar, "invalid" otherwise. For output that a
 * grammar constrained and max_tokens cut off.
 */
export function jsonPrefixStatus(text: string): "complete" | "prefix" | "invalid" {
  const EOF = Symbol("eof");
  let i = 0;
  const peek = () => (i < text.length ? text[i]! : EOF);
  const ws = () => {
    while (peek() === " " || peek() === "\n" || peek() === "\t" || peek() === "\r") i++;
  };
  const fail = (): never => {
    throw new Error("invalid");
  };
  const expectChar = (c: string) => {
    if (peek() === EOF) throw EOF;
    if (peek() !== c) fail();
    i++;
  };
  const literal = (word: string) => {
    for (const c of word) expectChar(c);
  };
  const string = () => {
    expectChar('"');
    for (;;) {
      const c = peek();
      if (c === EOF) throw EOF;
      i++;
      if (c === '"') return;
      if (c === "\\") {
        if (peek() === EOF) throw EOF;
        i++;
      } else if (c < " ") fail();
    }
  };
  const number = () => {
    const m = /^-?(0|[1-9][0-9]*)?(\.[0-9]*)?([eE][-+]?[0-9]*)?/.exec(text.slice(i))!;
    if (m[0].length === 0) fail();
    i += m[0].length;
    if (peek() === EOF) throw EOF;
  };
  const value = (): void => {
    ws();
    const c = peek();
    if (c === EOF) throw EOF;
    if (c === "{") return container("}", () => (string(), ws(), expectChar(":"), value()));
    if (c === "[") return container("]", value);
    if (c === '"') return string();
    if (c === "t") return literal("true");
    if (c === "f") return literal("false");
    if (c === "n") return literal("null");
    return number();
  };
  const container = (close: string, member: () => void) => {
    i++;
    ws();
    if (peek() === close) return void i++;
    for (;;) {
      ws();
      member();
      ws();
      if (peek() === close) return void i++;
      expectChar(",");
    }
  };
  try {
    value();
    ws();
    return i === text.length ? "complete" : "invalid";
  } catch (e) {
    return e === EOF ? "prefix" : "invalid";
  }
}
