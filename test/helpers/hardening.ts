// Shared by test/hardening/*: an in-process Warren (the real HTTP engine and app over a fake
// engine, so its HttpServer.stats() can be read), the tiny model on disk, /metrics readings and a
// process's resident memory.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../../src/api/app.ts";
import type { ServiceState } from "../../src/api/state.ts";
import { type HttpServer, type HttpServerOptions, listen } from "../../src/http/server.ts";
import type { Engine } from "../../src/inference/engine.ts";
import { FakeEngine, type FakeEngineOptions } from "../../src/inference/engine-fake.ts";
import { Scheduler } from "../../src/inference/scheduler.ts";
import { createLogger } from "../../src/log.ts";
import { makeModel } from "../../src/models/presets.ts";

/** The fake engine, but every token's text is `width` characters: streams reach megabytes in a few thousand tokens. */
export class WideFakeEngine extends FakeEngine {
  constructor(private readonly width: number, opts: FakeEngineOptions = {}) {
    super(opts);
  }
  override detokenize(tokens: readonly number[]): string {
    return super.detokenize(tokens).repeat(this.width);
  }
}

export interface InProcess {
  url: string;
  port: number;
  server: HttpServer;
  scheduler: Scheduler;
  state: ServiceState;
  app: ReturnType<typeof createApp>;
  stop(): Promise<void>;
}

export function startInProcess(o: { engine?: Engine; maxQueue?: number; apiKeys?: string[]; http?: Partial<HttpServerOptions> } = {}): InProcess {
  const engine = o.engine ?? new FakeEngine({ slots: 2, slotContextSize: 4096 });
  const scheduler = new Scheduler({ engine, maxQueue: o.maxQueue ?? 8 });
  const state: ServiceState = { phase: "ready", scheduler, modelName: engine.info.name };
  let server: HttpServer | undefined;
  const app = createApp({ state, log: createLogger("error", () => {}), apiKeys: o.apiKeys, connections: () => server?.stats().openConnections ?? 0 });
  server = listen((req) => app.handle(req), { hostname: "127.0.0.1", port: 0, ...o.http });
  const s = server;
  return { url: `http://127.0.0.1:${s.port}`, port: s.port, server: s, scheduler, state, app, stop: () => s.stop({ graceful: false }) };
}

/** Values of unlabelled samples in a Prometheus text exposition. */
export async function metrics(url: string, init?: RequestInit): Promise<Record<string, number>> {
  const res = await fetch(`${url}/metrics`, init);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const out: Record<string, number> = {};
  for (const line of (await res.text()).split("\n")) {
    const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (m) out[m[1]! + (m[2] ?? "")] = Number(m[3]);
  }
  return out;
}

let tiny: Promise<string> | undefined;
/** The generated tiny model (0.2M params, < 1 MB), made once per test process. */
export function tinyModel(): Promise<string> {
  tiny ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), "warren-hardening-"));
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, "tiny.gguf");
    await makeModel({ preset: "tiny", out });
    return out;
  })();
  return tiny;
}

/** Resident set size of a process (Linux), bytes. */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

export async function waitUntil(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(20);
  }
}

export const percentile = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

export const postJson = (url: string, body: unknown, init: RequestInit = {}) =>
  fetch(url, { method: "POST", ...init, headers: { "content-type": "application/json", ...(init.headers as Record<string, string>) }, body: JSON.stringify(body) });
