// A fake generation server speaking Warren's native API and the OpenAI API, for testing the load
// tool without a model (`warren bench stub` serves it too). Deterministic: token i of every response
// is the same, prompt tokens are the prompt's code points, and misbehaviour is chosen per request.

export type StubBehavior = "ok" | "http503" | "hang" | "malformed" | "error_event" | "cut";

export interface StubOptions {
  readonly hostname?: string;
  readonly port?: number;
  /** Delay before each token, ms. */
  readonly tokenDelayMs?: number;
  /** End with finish_reason "stop" after this many tokens unless the request says ignore_eos. */
  readonly eosAfter?: number;
  /** false: report no token usage at all (native: no tokens fields; openai: no usage object). */
  readonly usage?: boolean;
  /** Chooses what happens to the n-th request received (0-based). */
  readonly behavior?: (n: number) => StubBehavior;
}

interface StubStats {
  received: number;
  inFlight: number;
  peakInFlight: number;
  bodies: Record<string, unknown>[];
  authorization: (string | null)[];
  /** Client ports seen: one per TCP connection, so keep-alive reuse can be checked. */
  clientPorts: Set<number>;
}

export interface Stub {
  readonly port: number;
  readonly url: string;
  readonly stats: StubStats;
  stop(): Promise<void>;
}

/** Multi-byte tokens on purpose: clients must cope with UTF-8 split across reads. */
const tokenText = (i: number) => (i % 3 === 0 ? "人工" : i % 3 === 1 ? " tok" : "智能");
const encoder = new TextEncoder();
const frame = (v: unknown) => `data: ${typeof v === "string" ? v : JSON.stringify(v)}\n\n`;

interface Gen {
  readonly api: "native" | "completions" | "chat";
  readonly prompt: string;
  readonly maxTokens: number;
  readonly stream: boolean;
  readonly ignoreEos: boolean;
  readonly includeUsage: boolean;
}

export function startStub(opts: StubOptions = {}): Stub {
  const stats: StubStats = { received: 0, inFlight: 0, peakInFlight: 0, bodies: [], authorization: [], clientPorts: new Set() };
  const server = Bun.serve({
    hostname: opts.hostname ?? "127.0.0.1",
    port: opts.port ?? 0,
    idleTimeout: 0,
    fetch: async (req, srv) => {
      const peer = srv.requestIP(req);
      if (peer) stats.clientPorts.add(peer.port);
      const api = routeOf(new URL(req.url).pathname, req.method);
      if (!api) return Response.json({ success: false, error: { code: "not_found", message: "no such route" } }, { status: 404 });
      const body = (await req.json().catch(() => ({}))) as Record<string, unknown>;
      const n = stats.received++;
      stats.bodies.push(body);
      stats.authorization.push(req.headers.get("authorization"));
      stats.inFlight++;
      stats.peakInFlight = Math.max(stats.peakInFlight, stats.inFlight);
      const gen = toGen(api, body);
      const res = await respond(gen, opts.behavior?.(n) ?? "ok", opts, req.signal);
      if (!gen.stream || !res.body) stats.inFlight--;
      else return trackEnd(res, () => stats.inFlight--);
      return res;
    },
  });
  const port = server.port!;
  return { port, url: `http://127.0.0.1:${port}`, stats, stop: () => server.stop(true) };
}

function routeOf(path: string, method: string): Gen["api"] | null {
  if (method !== "POST") return null;
  if (path === "/generate") return "native";
  if (path === "/v1/completions") return "completions";
  if (path === "/v1/chat/completions") return "chat";
  return null;
}

function toGen(api: Gen["api"], b: Record<string, unknown>): Gen {
  const messages = Array.isArray(b.messages) ? (b.messages as { content?: unknown }[]) : [];
  const prompt = api === "chat" ? messages.map((m) => String(m.content ?? "")).join("\n") : String(b.prompt ?? "");
  const so = b.stream_options as { include_usage?: unknown } | undefined;
  return {
    api, prompt, maxTokens: typeof b.max_tokens === "number" ? b.max_tokens : 16, stream: b.stream === true,
    ignoreEos: b.ignore_eos === true, includeUsage: so?.include_usage === true,
  };
}

async function respond(g: Gen, behavior: StubBehavior, o: StubOptions, signal: AbortSignal): Promise<Response> {
  if (behavior === "http503") {
    const err = g.api === "native"
      ? { success: false, error: { code: "overloaded", message: "queue full" } }
      : { error: { message: "queue full", type: "overloaded" } };
    return Response.json(err, { status: 503, headers: { "retry-after": "1" } });
  }
  if (behavior === "hang") {
    await new Promise<void>((r) => signal.addEventListener("abort", () => r(), { once: true }));
    return new Response("too late", { status: 500 });
  }
  if (!g.stream) {
    if (behavior === "malformed") return new Response("{not json", { headers: { "content-type": "application/json" } });
    if (behavior === "error_event") return Response.json(errorPayload(g), { status: 200 });
    const n = tokenCount(g, o);
    if (o.tokenDelayMs) await Bun.sleep(o.tokenDelayMs * n);
    return Response.json(fullBody(g, n, o));
  }
  return sse(events(g, behavior, o));
}

function tokenCount(g: Gen, o: StubOptions): number {
  return o.eosAfter !== undefined && !g.ignoreEos ? Math.min(o.eosAfter, g.maxTokens) : g.maxTokens;
}

function finishOf(g: Gen, n: number): string {
  return n < g.maxTokens ? "stop" : "length";
}

function fullText(n: number): string {
  return Array.from({ length: n }, (_, i) => tokenText(i)).join("");
}

function errorPayload(g: Gen): unknown {
  return g.api === "native"
    ? { success: false, error: { code: "engine_failed", message: "boom" } }
    : { error: { message: "boom", type: "server_error" } };
}

function fullBody(g: Gen, n: number, o: StubOptions): unknown {
  const usage = o.usage !== false;
  const promptTokens = Array.from(g.prompt).length;
  const text = fullText(n);
  if (g.api === "native") {
    const counts = usage ? { tokens: n, prompt_tokens: promptTokens } : {};
    return { success: true, data: { id: "stub", text, ...counts, finish_reason: finishOf(g, n), response_time: 0.01, tokens_per_second: 100 } };
  }
  const choice = g.api === "chat"
    ? { index: 0, message: { role: "assistant", content: text }, finish_reason: finishOf(g, n) }
    : { index: 0, text, finish_reason: finishOf(g, n) };
  const u = usage ? { usage: { prompt_tokens: promptTokens, completion_tokens: n, total_tokens: promptTokens + n } } : {};
  return { id: "stub", object: g.api === "chat" ? "chat.completion" : "text_completion", choices: [choice], ...u };
}

async function* events(g: Gen, behavior: StubBehavior, o: StubOptions): AsyncGenerator<string> {
  yield ": keep-alive\n\n";
  if (g.api === "chat") yield frame({ choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] });
  const n = tokenCount(g, o);
  for (let i = 0; i < n; i++) {
    if (o.tokenDelayMs) await Bun.sleep(o.tokenDelayMs);
    if (i === 1 && behavior === "malformed") yield 'data: {"text": "x", tok\n\n';
    if (i === 1 && behavior === "error_event") yield frame(g.api === "native" ? { error: { code: "engine_failed", message: "boom" } } : errorPayload(g));
    if (i === 1 && behavior === "cut") return;
    yield frame(chunkOf(g, i, i === n - 1 ? finishOf(g, n) : null));
  }
  yield* tail(g, n, o);
}

function chunkOf(g: Gen, i: number, finish: string | null): unknown {
  const t = tokenText(i);
  if (g.api === "native") return { text: t, tokens: i + 1 };
  if (g.api === "chat") return { choices: [{ index: 0, delta: { content: t }, finish_reason: finish }] };
  return { choices: [{ index: 0, text: t, finish_reason: finish }] };
}

function* tail(g: Gen, n: number, o: StubOptions): Generator<string> {
  const full = fullBody(g, n, o) as { data?: Record<string, unknown>; usage?: unknown };
  if (g.api === "native") {
    yield frame({ done: true, ...full.data });
    return;
  }
  if (g.includeUsage && full.usage) yield frame({ choices: [], usage: full.usage });
  yield frame("[DONE]");
}

function sse(gen: AsyncGenerator<string>): Response {
  const stream = new ReadableStream<Uint8Array>({
    async pull(c) {
      const next = await gen.next();
      if (next.done) c.close();
      else c.enqueue(encoder.encode(next.value));
    },
    cancel() {
      void gen.return(undefined);
    },
  });
  return new Response(stream, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
}

/** Counts a streamed response as in flight until its body has been fully sent or cancelled. */
function trackEnd(res: Response, onEnd: () => void): Response {
  let ended = false;
  const end = () => {
    if (!ended) {
      ended = true;
      onEnd();
    }
  };
  const reader = res.body!.getReader();
  const stream = new ReadableStream<Uint8Array>({
    async pull(c) {
      const r = await reader.read();
      if (r.done) {
        end();
        c.close();
      } else c.enqueue(r.value);
    },
    cancel(reason) {
      end();
      return reader.cancel(reason);
    },
  });
  return new Response(stream, { status: res.status, headers: res.headers });
}
