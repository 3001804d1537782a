// `warren bench load` options: the flag table, presets, validation, prompt files.

import { readFileSync } from "node:fs";
import {
  ArgError, getBool, getNumber, getPair, getString, parseArgs, requireRange, type FlagSpec, type ParsedArgs,
} from "../cli/args.ts";
import type { ApiKind, LoadOptions } from "./types.ts";

export const LOAD_FLAGS: readonly FlagSpec[] = [
  { name: "url", type: "string", arg: "URL", help: "server base URL (default http://127.0.0.1:8080)" },
  { name: "api", type: "string", arg: "native|openai", help: "native: POST /generate; openai: POST /v1/completions (default native)" },
  { name: "chat", type: "bool", help: "openai only: POST /v1/chat/completions with one user message" },
  { name: "requests", type: "int", help: "measured requests (default 100)" },
  { name: "concurrency", type: "int", help: "closed loop: requests in flight (default 8); with --rate: in-flight cap" },
  { name: "rate", type: "number", arg: "R", help: "open loop: Poisson arrivals at R requests/s (seeded)" },
  { name: "max-tokens", type: "int", help: "max_tokens per request (default 128)" },
  { name: "prompt", type: "string", arg: "TEXT", help: 'prompt for every request (default "Once upon a time")' },
  { name: "prompts", type: "string", arg: "FILE", help: 'prompts, one per line, or JSONL lines {"prompt": ...}; used in turn' },
  { name: "stream", type: "bool", help: "stream responses (default on; --no-stream turns it off)" },
  { name: "ignore-eos", type: "bool", help: "send ignore_eos: true (Warren, llama-server) so every request runs to max_tokens" },
  { name: "timeout", type: "number", arg: "S", help: "per-request timeout in seconds, body included (default 120)" },
  { name: "warmup", type: "int", help: "requests sent before measuring, not counted (default 0)" },
  { name: "api-key", type: "string", arg: "KEY", help: "sent as Authorization: Bearer KEY (never written to reports)" },
  { name: "fresh-connections", type: "bool", help: "a new connection per request (Connection: close), for servers that reset kept-alive ones (llama-server after a stream)" },
  { name: "seed", type: "int", help: "seed for Poisson arrivals (default 42)" },
  { name: "model", type: "string", arg: "NAME", help: 'openai "model" field (default "default")' },
  { name: "temperature", type: "number", arg: "T", help: "sampling temperature (default 0)" },
  { name: "json", type: "string", arg: "FILE", help: "also write the full report (config, summary, every request) as JSON" },
  { name: "compare", type: "pair", arg: "A.json B.json", help: "print two saved reports side by side with ratios B/A; sends nothing" },
  { name: "preset", type: "string", arg: "NAME", help: "seed: 40 requests, concurrency 8, max_tokens 50, the seed's Chinese prompt, native" },
  { name: "progress", type: "bool", help: "progress on stderr (default on; --no-progress for none)" },
];

/** The seed project's benchmark, so its numbers can be compared directly. */
const PRESETS: Record<string, Partial<Record<string, string | number>>> = {
  seed: { requests: 40, concurrency: 8, "max-tokens": 50, prompt: "人工智能是计算机科学的一个分支", api: "native" },
};

const DEFAULT_URL = "http://127.0.0.1:8080";

type LoadCommand = { kind: "run"; options: LoadOptions } | { kind: "compare"; a: string; b: string };

export function parseLoadArgs(argv: readonly string[]): LoadCommand {
  const p = parseArgs(argv, LOAD_FLAGS);
  const cmp = getPair(p, "compare");
  if (cmp) return { kind: "compare", a: cmp[0], b: cmp[1] };
  return { kind: "run", options: toOptions(p) };
}

function toOptions(p: ParsedArgs): LoadOptions {
  const presetName = getString(p, "preset") ?? null;
  const preset = presetName === null ? {} : PRESETS[presetName];
  if (!preset) throw new ArgError(`unknown --preset "${presetName}" (known: ${Object.keys(PRESETS).join(", ")})`);
  // Explicit flags win over the preset, which wins over the defaults.
  const str = (n: string, d: string) => getString(p, n) ?? (preset[n] as string | undefined) ?? d;
  const num = (n: string, d: number) => getNumber(p, n) ?? (preset[n] as number | undefined) ?? d;
  const api = str("api", "native");
  if (api !== "native" && api !== "openai") throw new ArgError(`--api must be native or openai, got "${api}"`);
  const chat = getBool(p, "chat") ?? false;
  if (chat && api !== "openai") throw new ArgError("--chat needs --api openai");
  const rate = getNumber(p, "rate") ?? null;
  if (rate !== null) requireRange("rate", rate, Number.MIN_VALUE);
  const explicitConc = getNumber(p, "concurrency") ?? (preset.concurrency as number | undefined) ?? null;
  const concurrency = rate === null ? explicitConc ?? 8 : explicitConc;
  if (concurrency !== null) requireRange("concurrency", concurrency, 1, 100_000);
  const prompts = loadPrompts(p, preset);
  return {
    url: checkUrl(str("url", DEFAULT_URL)),
    api: api as ApiKind,
    chat,
    requests: requireRange("requests", num("requests", 100), 1),
    concurrency,
    rate,
    maxTokens: requireRange("max-tokens", num("max-tokens", 128), 1),
    prompts: prompts.prompts,
    promptSource: prompts.source,
    stream: getBool(p, "stream") ?? true,
    ignoreEos: getBool(p, "ignore-eos") ?? false,
    timeoutS: requireRange("timeout", num("timeout", 120), 0.001),
    warmup: requireRange("warmup", num("warmup", 0), 0),
    apiKey: getString(p, "api-key") ?? null,
    freshConnections: getBool(p, "fresh-connections") ?? false,
    seed: num("seed", 42),
    model: str("model", "default"),
    temperature: requireRange("temperature", num("temperature", 0), 0),
    jsonPath: getString(p, "json") ?? null,
    progress: getBool(p, "progress") ?? true,
    preset: presetName,
  };
}

function checkUrl(u: string): string {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw new ArgError(`--url is not a valid URL: "${u}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new ArgError(`--url must be http:// or https://, got "${u}"`);
  return u;
}

function loadPrompts(p: ParsedArgs, preset: Partial<Record<string, string | number>>): { prompts: string[]; source: string } {
  const one = getString(p, "prompt");
  const file = getString(p, "prompts");
  if (one !== undefined && file !== undefined) throw new ArgError("give --prompt or --prompts, not both");
  if (file !== undefined) return { prompts: readPromptFile(file), source: file };
  if (one !== undefined) return { prompts: [one], source: "--prompt" };
  if (typeof preset.prompt === "string") return { prompts: [preset.prompt], source: `preset ${p.flags.get("preset")}` };
  return { prompts: ["Once upon a time"], source: "default" };
}

/**
 * A file is JSONL when every non-empty line is a JSON object with a string "prompt"; a `.jsonl` file
 * that is not is an error (a typo should not silently become a prompt). Otherwise one prompt a line.
 */
export function parsePromptText(text: string, name: string): string[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  if (lines.length === 0) throw new ArgError(`--prompts ${name}: no prompts in file`);
  const parsed = lines.map(promptOfJsonLine);
  if (parsed.every((x) => x !== null)) return parsed as string[];
  if (name.endsWith(".jsonl")) {
    const bad = parsed.findIndex((x) => x === null);
    throw new ArgError(`--prompts ${name}: line ${bad + 1} is not a JSON object with a string "prompt"`);
  }
  return lines;
}

function promptOfJsonLine(line: string): string | null {
  if (!line.trimStart().startsWith("{")) return null;
  try {
    const v: unknown = JSON.parse(line);
    const prompt = typeof v === "object" && v !== null ? (v as { prompt?: unknown }).prompt : undefined;
    return typeof prompt === "string" ? prompt : null;
  } catch {
    return null;
  }
}

function readPromptFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ArgError(`--prompts: cannot read ${path} (${(e as { code?: string }).code ?? "error"})`);
  }
  return parsePromptText(text, path);
}
