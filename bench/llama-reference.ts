// Records llama-server's answers to a set of seeded /completion requests on stories260K into
// test/fixtures/llama-server-stories260K.json; test/api/llama-equivalence.test.ts replays them on
// Warren and expects the same tokens. With --check it starts Warren too and compares live, streamed
// and not, each request alone and all of them at once.
//
// llama-server comes from bench/llama-server.ts's build (the llama.cpp that node-llama-cpp bundles;
// `bun bench/llama-server.ts --build-only` makes it). Without it, this says so and exits 0.
//   bun bench/llama-reference.ts [--check] [--server PATH]
import { spawn, type Subprocess } from "bun";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { completionBody, streamedCompletion } from "./lib/llama-completion.ts";

const ROOT = resolve(import.meta.dir, "..");
const MODEL = resolve(ROOT, "../shared/models/stories260K.gguf");
const FIXTURE = join(ROOT, "test/fixtures/llama-server-stories260K.json");
/** Both servers: 2 slots of 1024 tokens (llama-server's -c is the whole context; so is Warren's --ctx-size). */
const SERVER_ARGS = ["-c", "2048", "-np", "2", "-t", "1"];

const { values } = parseArgs({ options: { check: { type: "boolean", default: false }, server: { type: "string" } } });

const PROMPT = "Once upon a time";
/** The requests: each samples differently, so each pins down part of the sampler chain. */
const CASES: Array<{ name: string; path: string; body: Record<string, unknown> }> = [
  { name: "defaults, seed 42", path: "/completion", body: { prompt: PROMPT, n_predict: 48, seed: 42 } },
  { name: "hot, top-k 0 (candidates left in vocabulary order)", path: "/completion", body: { prompt: PROMPT, n_predict: 48, seed: 7, temperature: 1.2, top_k: 0, top_p: 1, min_p: 0 } },
  { name: "top-k 0, top-p 0.9", path: "/completion", body: { prompt: PROMPT, n_predict: 48, seed: 8, temperature: 1.1, top_k: 0, top_p: 0.9, min_p: 0 } },
  { name: "all of top-k, top-p, min-p", path: "/completion", body: { prompt: "Lily and Ben", n_predict: 48, seed: 21, temperature: 0.9, top_k: 20, top_p: 0.8, min_p: 0.1 } },
  { name: "penalties over the prompt and the answer", path: "/completion", body: { prompt: PROMPT, n_predict: 48, seed: 9, temperature: 1, repeat_penalty: 1.3, presence_penalty: 0.5, frequency_penalty: 0.3, repeat_last_n: 32 } },
  { name: "XTC", path: "/completion", body: { prompt: PROMPT, n_predict: 48, seed: 3, xtc_probability: 0.5, xtc_threshold: 0.1 } },
  { name: "greedy with the model's probabilities", path: "/completion", body: { prompt: PROMPT, n_predict: 24, temperature: 0, n_probs: 3 } },
  { name: "sampled with post-sampling probabilities", path: "/completion", body: { prompt: PROMPT, n_predict: 16, seed: 5, n_probs: 2, post_sampling_probs: true } },
  { name: "GBNF grammar", path: "/completion", body: { prompt: PROMPT, n_predict: 12, seed: 1, grammar: 'root ::= ("yes" | "no" | " maybe")+' } },
  { name: "logit bias: a banned id and a text", path: "/completion", body: { prompt: PROMPT, n_predict: 32, seed: 4, logit_bias: [[432, false], [" there", -5]] } },
  { name: "ignore_eos bans end-of-generation", path: "/completion", body: { prompt: PROMPT, n_predict: 300, seed: 6, ignore_eos: true } },
  { name: "samplers: top_k then temperature only", path: "/completion", body: { prompt: PROMPT, n_predict: 32, seed: 11, samplers: ["top_k", "temperature"], top_k: 10 } },
  { name: "a stop word", path: "/completion", body: { prompt: PROMPT, n_predict: 64, seed: 42, stop: [" girl"] } },
  { name: "mixed token ids and text", path: "/completion", body: { prompt: [1, 403, "upon a time"], n_predict: 24, seed: 12 } },
  { name: "seed -1 with temperature 0 (greedy all the same)", path: "/completion", body: { prompt: "The dog", n_predict: 24, seed: -1, temperature: 0 } },
  { name: "OpenAI completions, seeded", path: "/v1/completions", body: { prompt: PROMPT, max_tokens: 32, seed: 13, temperature: 1 } },
];

function serverPath(): string {
  if (values.server) return values.server;
  const tag = JSON.parse(readFileSync(join(ROOT, "node_modules/node-llama-cpp/llama/llama.cpp.info.json"), "utf8")).tag as string;
  const base = process.env.WARREN_CACHE_DIR ?? (process.env.XDG_CACHE_HOME ? join(process.env.XDG_CACHE_HOME, "warren") : join(homedir(), ".cache", "warren"));
  return join(base, "llama-server", tag, "build", "bin", "llama-server");
}

async function start(cmd: string[]): Promise<{ url: string; proc: Subprocess }> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const proc = spawn({ cmd: [...cmd, "--host", "127.0.0.1", "--port", String(port)], stdout: "ignore", stderr: "ignore" });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    if (await fetch(`${url}/health`).then((r) => r.ok, () => false)) return { url, proc };
    await Bun.sleep(100);
  }
  proc.kill();
  throw new Error(`${cmd[0]} did not become healthy on port ${port}`);
}

async function ask(url: string, c: (typeof CASES)[number]): Promise<Record<string, unknown>> {
  const r = await fetch(url + c.path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(completionBody(c)) });
  const j = (await r.json()) as Record<string, any>;
  if (c.path === "/v1/completions") return { content: j.choices[0].text, finish_reason: j.choices[0].finish_reason, completion_tokens: j.usage.completion_tokens };
  const out: Record<string, unknown> = { content: j.content, tokens: j.tokens, stop_type: j.stop_type, stopping_word: j.stopping_word, tokens_predicted: j.tokens_predicted, tokens_evaluated: j.tokens_evaluated };
  if (j.completion_probabilities) out.completion_probabilities = j.completion_probabilities;
  return out;
}

/**
 * Each case alone, then all of them at once, twice: `together` says whether llama-server itself gave
 * the same text beside other requests (batched decodes may round logits differently, and a long
 * generation can then drift).
 */
async function record(url: string): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  for (const c of CASES) out.push({ ...c, expected: await ask(url, c) });
  for (let round = 0; round < 2; round++) {
    const together = await Promise.all(CASES.map((c) => ask(url, c)));
    together.forEach((t, i) => {
      const stable = out[i]!.together !== false && t.content === (out[i]!.expected as Record<string, unknown>).content;
      out[i]!.together = stable;
    });
  }
  return out;
}

/** Differences between two servers' answers, streamed and not, alone and all at once (an empty list: none). */
async function compare(a: string, b: string): Promise<string[]> {
  const problems: string[] = [];
  const same = (x: unknown, y: unknown) => JSON.stringify(x) === JSON.stringify(y);
  const alone = await record(a);
  const together = await Promise.all(CASES.map((c) => ask(b, c)));
  for (const [i, c] of CASES.entries()) {
    const want = alone[i]!.expected as Record<string, unknown>;
    const got = await ask(b, c);
    for (const key of ["content", "tokens", "stop_type", "finish_reason"]) if (!same(want[key], got[key])) problems.push(`${c.name}: ${key} differs alone`);
    if (alone[i]!.together && !same(want.content, together[i]!.content)) problems.push(`${c.name}: content differs beside the other requests`);
    const streamed = await streamedCompletion(b, c);
    if (streamed.content !== want.content) problems.push(`${c.name}: streamed content differs`);
  }
  return problems;
}

async function main(): Promise<number> {
  const server = serverPath();
  if (!existsSync(server)) {
    console.log(`no llama-server at ${server}: build it with \`bun bench/llama-server.ts --build-only\` (needs git, cmake and a C++ compiler)`);
    return 0;
  }
  const llama = await start([server, "-m", MODEL, ...SERVER_ARGS]);
  try {
    if (!values.check) {
      const version = ((await (await fetch(`${llama.url}/props`)).json()) as { build_info: string }).build_info;
      const cases = await record(llama.url);
      writeFileSync(FIXTURE, JSON.stringify({ recordedWith: `llama-server ${version} ${SERVER_ARGS.join(" ")}`, model: "stories260K.gguf", cases }, null, 1) + "\n");
      console.log(`recorded ${cases.length} cases from llama-server ${version} into ${FIXTURE}`);
      return 0;
    }
    const warren = await start([process.execPath, join(ROOT, "src/main.ts"), "serve", "-m", MODEL, ...SERVER_ARGS, "--log-level", "error"]);
    try {
      const problems = await compare(llama.url, warren.url);
      console.log(problems.length === 0 ? `Warren matches llama-server on all ${CASES.length} cases (alone, together, streamed)` : problems.join("\n"));
      return problems.length === 0 ? 0 : 1;
    } finally {
      warren.proc.kill();
    }
  } finally {
    llama.proc.kill();
  }
}

if (import.meta.main) process.exit(await main());
