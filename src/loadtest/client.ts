// Sends one generation request and times it: end-to-end latency, time to first content chunk, and
// the arrival time of every content chunk. Every failure becomes a classified RequestRecord; this
// function never throws.
//
// Bun's fetch keeps connections alive and pools them per origin, so a closed loop of N workers
// reuses N connections. The timeout covers the whole request, body included (AbortController).

import type { Adapter } from "./protocol.ts";
import { SseParser } from "./sse.ts";
import { describeErrorBody, parseJson } from "./protocol.ts";
import { RequestFailure, fail, type Failure, type RequestRecord, type Usage } from "./types.ts";

export interface ClientConfig {
  readonly baseUrl: string;
  readonly adapter: Adapter;
  readonly timeoutMs: number;
  readonly apiKey: string | null;
  /** Connection: close: no request reuses a connection. */
  readonly freshConnections?: boolean;
}

/** Error codes Bun's fetch reports when no connection could be made at all. */
const CONNECT_CODES = new Set([
  "ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL", "ConnectionRefused", "FailedToOpenSocket",
]);
/** Error bodies are read only this far: enough for a message, not a memory hazard. */
const ERROR_BODY_CHARS = 300;
/**
 * After the end marker the rest of the body (the chunked terminator) is read for this long, so the
 * connection goes back to the keep-alive pool instead of being closed by a cancelled body.
 */
const DRAIN_AFTER_DONE_MS = 1_000;

interface Timing {
  ttftMs: number | null;
  readonly chunkTimesMs: number[];
  /** When the end marker arrived; end-to-end latency stops here, not at the socket's end of body. */
  doneMs: number | null;
}

function endpointUrl(baseUrl: string, path: string): string {
  return baseUrl.replace(/\/+$/, "") + path;
}

export async function sendRequest(cfg: ClientConfig, index: number, prompt: string, runStart: number): Promise<RequestRecord> {
  const t0 = performance.now();
  const timing: Timing = { ttftMs: null, chunkTimesMs: [], doneMs: null };
  const ac = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, cfg.timeoutMs);
  let status: number | null = null;
  let usage: Usage | null = null;
  let failure: Failure | null = null;
  try {
    const res = await fetch(endpointUrl(cfg.baseUrl, cfg.adapter.path), {
      method: "POST",
      headers: headers(cfg.apiKey, cfg.freshConnections === true),
      body: JSON.stringify(cfg.adapter.body(prompt)),
      signal: ac.signal,
    });
    status = res.status;
    usage = await readResponse(res, cfg.adapter, timing, t0);
  } catch (e) {
    failure = classify(e, status, timedOut, cfg.timeoutMs);
  } finally {
    clearTimeout(timer);
  }
  return {
    index,
    startMs: t0 - runStart,
    e2eMs: failure ? performance.now() - t0 : timing.doneMs ?? performance.now() - t0,
    ttftMs: timing.ttftMs,
    chunkTimesMs: timing.chunkTimesMs,
    status,
    usage: failure ? null : usage,
    failure,
  };
}

function headers(apiKey: string | null, fresh: boolean): Record<string, string> {
  const h: Record<string, string> = { "content-type": "application/json", accept: "application/json, text/event-stream" };
  if (apiKey) h.authorization = `Bearer ${apiKey}`;
  if (fresh) h.connection = "close";
  return h;
}

async function readResponse(res: Response, adapter: Adapter, timing: Timing, t0: number): Promise<Usage> {
  if (res.status < 200 || res.status > 299) {
    const text = describeErrorBody(await res.text()).slice(0, ERROR_BODY_CHARS);
    return fail("http", `HTTP ${res.status}`, `HTTP ${res.status}: ${text || res.statusText}`);
  }
  // The content type decides, not --stream: a server may answer a stream request with plain JSON.
  if ((res.headers.get("content-type") ?? "").includes("text/event-stream")) {
    return readStream(res, adapter, timing, t0);
  }
  return adapter.full(parseJson(await res.text(), "response body"));
}

async function readStream(res: Response, adapter: Adapter, timing: Timing, t0: number): Promise<Usage> {
  if (!res.body) return fail("malformed", "event stream without a body");
  const parser = new SseParser();
  const decoder = adapter.stream();
  const reader = res.body.getReader();
  let done = false;
  const handle = (data: string) => {
    if (done) return;
    const step = decoder.onData(data);
    if (step === "content") {
      const t = performance.now() - t0;
      timing.chunkTimesMs.push(t);
      timing.ttftMs ??= t;
    } else if (step === "done") {
      done = true;
      timing.doneMs = performance.now() - t0;
    }
  };
  for (;;) {
    const { value, done: eof } = await reader.read();
    if (eof) break;
    for (const ev of parser.push(value)) handle(ev.data);
    if (done) {
      await drain(reader);
      break;
    }
  }
  if (!done) {
    const tail = parser.end();
    for (const ev of tail.events) handle(ev.data);
    if (!done && tail.pendingData) fail("malformed", "stream cut inside an event");
  }
  return decoder.finish();
}

async function drain(reader: { read(): Promise<{ done: boolean }>; cancel(): Promise<void> }): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), DRAIN_AFTER_DONE_MS)));
  try {
    for (;;) {
      const r = await Promise.race([reader.read(), late]);
      if (r === "late") {
        reader.cancel().catch(() => {});
        return;
      }
      if (r.done) return;
    }
  } catch {
    // The generation is complete; a connection that fails now does not fail the request.
  } finally {
    clearTimeout(timer);
  }
}

function classify(e: unknown, status: number | null, timedOut: boolean, timeoutMs: number): Failure {
  if (timedOut) return { kind: "timeout", reason: `> ${timeoutMs / 1000} s`, message: `no complete response within ${timeoutMs / 1000} s` };
  if (e instanceof RequestFailure) return e.failure;
  const err = e as { code?: unknown; message?: unknown; name?: unknown };
  const code = typeof err?.code === "string" ? err.code : typeof err?.name === "string" ? err.name : "error";
  const message = typeof err?.message === "string" ? err.message : String(e);
  if (status === null && CONNECT_CODES.has(code)) return { kind: "connect", reason: code, message };
  if (status === null) return { kind: "connection_lost", reason: `${code} before response headers`, message };
  return { kind: "connection_lost", reason: `${code} during response body`, message };
}
