// Soak: many mixed requests against one server (short, streamed, cancelled mid-stream, invalid,
// OpenAI-shaped, operations), every outcome checked, the server's resident memory sampled as it
// goes. A leak shows as RSS that keeps growing after the warm-up; any unexpected answer is a failure.
import { readFileSync } from "node:fs";
import { Rng } from "../fuzz/mutate.ts";

type Kind = "short" | "stream" | "cancel" | "invalid" | "openai" | "ops";
const MIX: ReadonlyArray<[Kind, number]> = [["short", 35], ["stream", 25], ["cancel", 15], ["invalid", 15], ["openai", 5], ["ops", 5]];

interface SoakOptions {
  url: string;
  /** The server's pid, for RSS (Linux /proc). */
  pid?: number;
  requests: number;
  concurrency: number;
  seed: number;
  /** RSS is compared between the end and this many completed requests. */
  warmup: number;
  /** One RSS sample per this many completed requests. */
  sampleEvery: number;
  apiKey?: string;
  onProgress?: (done: number, rssBytes: number | undefined) => void;
}

interface SoakResult {
  requests: number;
  byKind: Record<Kind, { count: number; failed: number }>;
  failures: string[];
  failed: number;
  /** [completed requests, RSS bytes] */
  rss: Array<[number, number]>;
  /** Median of the first five samples from the warm-up on (one sample alone moves by a GC cycle). */
  rssAfterWarmup?: number;
  /** Median of the last five samples. */
  rssEnd?: number;
  /** (end - after warm-up) / after warm-up */
  rssGrowth?: number;
  ms: number;
}

export function rssOf(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function pickKind(r: Rng): Kind {
  let x = r.int(100);
  for (const [kind, weight] of MIX) if ((x -= weight) < 0) return kind;
  return "short";
}

/** Invalid requests and the exact status each must get. */
const INVALID: ReadonlyArray<[string, RequestInit & { path?: string }, number]> = [
  ["bad JSON", { method: "POST", body: '{"prompt": "x",' }, 400],
  ["no prompt", { method: "POST", body: '{"max_tokens": 3}' }, 400],
  ["max_tokens 0", { method: "POST", body: '{"prompt": "x", "max_tokens": 0}' }, 400],
  ["context exceeded", { method: "POST", body: '{"prompt": "x", "max_tokens": 32768}' }, 400],
  ["wrong type", { method: "POST", body: '{"prompt": 42}' }, 400],
  ["unknown route", { method: "GET", path: "/nope" }, 404],
];

/** One request of `kind`; returns undefined when the outcome is the expected one, else what went wrong. */
async function one(o: SoakOptions, kind: Kind, r: Rng, i: number): Promise<string | undefined> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (o.apiKey) headers.authorization = `Bearer ${o.apiKey}`;
  const gen = (body: object, init: RequestInit = {}) => fetch(`${o.url}/generate`, { method: "POST", headers, body: JSON.stringify(body), ...init });
  switch (kind) {
    case "short": {
      const max = 1 + r.int(8);
      const res = await gen({ prompt: `soak ${i}`, max_tokens: max });
      const body = (await res.json()) as { success?: boolean; data?: { tokens: number } };
      return res.status === 200 && body.success === true && body.data!.tokens <= max ? undefined : `short: ${res.status} ${JSON.stringify(body).slice(0, 120)}`;
    }
    case "stream": {
      const res = await gen({ prompt: `stream ${i}`, max_tokens: 8 + r.int(16), stream: true });
      const text = await res.text();
      return res.status === 200 && text.includes('"done":true') ? undefined : `stream: ${res.status} ${text.slice(-120)}`;
    }
    case "cancel": {
      const ac = new AbortController();
      const res = await gen({ prompt: `cancel ${i}`, max_tokens: 200, ignore_eos: true, stream: true }, { signal: ac.signal });
      if (res.status !== 200) return `cancel: ${res.status}`;
      const reader = res.body!.getReader();
      for (let k = r.int(3); k >= 0; k--) if ((await reader.read()).done) break;
      ac.abort();
      await reader.cancel().catch(() => {});
      return undefined;
    }
    case "invalid": {
      const [name, init, status] = r.pick(INVALID);
      const res = await fetch(`${o.url}${init.path ?? "/generate"}`, { ...init, headers });
      await res.arrayBuffer();
      return res.status === status ? undefined : `invalid (${name}): ${res.status}, expected ${status}`;
    }
    case "openai": {
      const res = await fetch(`${o.url}/v1/completions`, { method: "POST", headers, body: JSON.stringify({ model: "any", prompt: `openai ${i}`, max_tokens: 4 }) });
      const body = (await res.json()) as { choices?: unknown[] };
      return res.status === 200 && body.choices?.length === 1 ? undefined : `openai: ${res.status} ${JSON.stringify(body).slice(0, 120)}`;
    }
    case "ops": {
      const res = await fetch(`${o.url}${r.int(2) === 0 ? "/health" : "/metrics"}`, { headers });
      await res.arrayBuffer();
      return res.status === 200 ? undefined : `ops: ${res.status}`;
    }
  }
}

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const t0 = performance.now();
  const res: SoakResult = { requests: 0, byKind: Object.fromEntries(MIX.map(([k]) => [k, { count: 0, failed: 0 }])) as SoakResult["byKind"], failures: [], failed: 0, rss: [], ms: 0 };
  const sample = () => {
    const bytes = o.pid === undefined ? undefined : rssOf(o.pid);
    if (bytes !== undefined) res.rss.push([res.requests, bytes]);
    o.onProgress?.(res.requests, bytes);
  };
  let next = 0;
  const worker = async () => {
    while (next < o.requests) {
      const i = next++;
      const r = new Rng((o.seed * 0x9e3779b1) ^ (i * 0x85ebca6b));
      const kind = pickKind(r);
      const problem = await one(o, kind, r, i).catch((err: Error) => `${kind}: ${err.name}: ${err.message}`);
      res.requests++;
      res.byKind[kind].count++;
      if (problem !== undefined) {
        res.failed++;
        res.byKind[kind].failed++;
        if (res.failures.length < 20) res.failures.push(`#${i} ${problem}`);
      }
      if (res.requests % o.sampleEvery === 0) sample();
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  if (res.requests % o.sampleEvery !== 0) sample();
  const after = res.rss.filter(([done]) => done >= o.warmup).map(([, bytes]) => bytes);
  if (after.length >= 10) {
    res.rssAfterWarmup = median(after.slice(0, 5));
    res.rssEnd = median(after.slice(-5));
  }
  if (res.rssAfterWarmup !== undefined && res.rssEnd !== undefined) res.rssGrowth = (res.rssEnd - res.rssAfterWarmup) / res.rssAfterWarmup;
  res.ms = performance.now() - t0;
  return res;
}
