// The product end to end: the real CLI process, real sockets, real models.
// Covers the seed's functional test.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, existsSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { makeModel } from "../../src/models/presets.ts";
import { QWEN_TEMPLATE_PATH } from "../helpers/chat.ts";
import { STORIES_ORACLE, requireStories } from "../helpers/models.ts";
import { startWarren, type WarrenProcess } from "../helpers/warren-process.ts";

async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond() && Date.now() < until) await Bun.sleep(10);
}

const post = (url: string, body: unknown) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

describe("warren serve with the default generated model", () => {
  let dir: string;
  let w: WarrenProcess;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "warren-e2e-"));
    // No --model: generates models/default.gguf under the working directory on first run.
    w = await startWarren(["--threads", "1", "--parallel", "4"], { cwd: dir });
  });
  afterAll(async () => {
    await w?.stop("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  test("an explicit --threads wins over auto: nothing is measured", () => {
    expect(w.log()).not.toContain("threads auto");
    expect(w.log()).toMatch(/threads=1\//);
  });

  test("generated the default model and said it is a random-weight smoke-test model", () => {
    expect(existsSync(join(dir, "models/default.gguf"))).toBe(true);
    expect(w.log()).toContain("RANDOM-WEIGHT");
    expect(w.log()).toMatch(/ready: model .*threads=1.*slots=4/);
  });

  test("GET /health", async () => {
    const r = await fetch(`${w.url}/health`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ success: true, data: { status: "healthy", model_loaded: true } });
  });

  test('POST /generate {"prompt":"Hello","max_tokens":5}', async () => {
    const r = await post(`${w.url}/generate`, { prompt: "Hello", max_tokens: 5 });
    expect(r.status).toBe(200);
    const body = (await r.json()) as any;
    expect(body.success).toBe(true);
    expect(body.data.tokens).toBeLessThanOrEqual(5);
    expect(typeof body.data.text).toBe("string");
    expect(body.data.tokens_per_second).toBeGreaterThan(0);
  });

  test("the seed's load test: 40 requests at concurrency 8, max_tokens 50 -> 40/40, none over 50 tokens", async () => {
    const prompt = "人工智能是计算机科学的一个分支";
    const results: Array<{ ok: boolean; tokens: number }> = [];
    let next = 0;
    const worker = async () => {
      while (next < 40) {
        next++;
        const r = await post(`${w.url}/generate`, { prompt, max_tokens: 50 });
        const body = (await r.json()) as any;
        results.push({ ok: r.status === 200 && body.success === true, tokens: body.data?.tokens ?? -1 });
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(results.length).toBe(40);
    expect(results.filter((r) => r.ok).length).toBe(40);
    for (const r of results) {
      expect(r.tokens).toBeGreaterThan(0);
      expect(r.tokens).toBeLessThanOrEqual(50);
    }
    // The access log has one line per request with its tokens.
    await waitUntil(() => /POST \/generate 200 .*tokens=\d+/.test(w.log()), 2000);
    expect(w.log()).toMatch(/POST \/generate 200 .*tokens=\d+/);
  });

  test("log lines carry method, path, status, duration and tokens", async () => {
    await post(`${w.url}/generate`, { prompt: "log me", max_tokens: 3 });
    // Access lines are written in batches, at most 100 ms late.
    const line = /INFO  POST \/generate 200 ms=[\d.]+ prompt_tokens=\d+ tokens=3/;
    await waitUntil(() => line.test(w.log()), 2000);
    expect(w.log()).toMatch(line);
  });

  test("SIGTERM drains and exits 0", async () => {
    const code = await w.stop("SIGTERM");
    expect(code).toBe(0);
  });
});

describe("warren serve --model stories260K (real trained model)", () => {
  let w: WarrenProcess;
  beforeAll(async () => {
    w = await startWarren(["--model", requireStories(), "--threads", "1", "--parallel", "2", "--ctx-per-slot", "256"]);
  });
  afterAll(async () => {
    await w?.stop("SIGKILL");
  });

  test("greedy /generate returns exactly llama.cpp's text", async () => {
    const r = await post(`${w.url}/generate`, { prompt: "Once upon a time", max_tokens: 30, temperature: 0 });
    const body = (await r.json()) as any;
    expect(body.data.text).toBe(STORIES_ORACLE);
    expect(body.data.tokens).toBe(30);
  });

  test("streamed /generate concatenates to the same text", async () => {
    const r = await post(`${w.url}/generate`, { prompt: "Once upon a time", max_tokens: 30, temperature: 0, stream: true });
    expect(r.headers.get("content-type")).toStartWith("text/event-stream");
    const frames = (await r.text()).split("\n\n").filter((f) => f.startsWith("data: ")).map((f) => JSON.parse(f.slice(6)));
    expect(frames.slice(0, -1).map((f) => f.text).join("")).toBe(STORIES_ORACLE);
    expect(frames.at(-1).done).toBe(true);
  });
});

describe.if(process.platform === "linux")("warren serve --cpus 0 (the whole server on one CPU)", () => {
  let w: WarrenProcess;
  beforeAll(async () => {
    // --threads auto: the count is measured among the CPUs the server was given.
    w = await startWarren(["--model", requireStories(), "--cpus", "0", "--parallel", "2", "--ctx-per-slot", "256"]);
  });
  afterAll(async () => {
    await w?.stop("SIGKILL");
  });

  test("every thread of the process, the decode's included, may run on CPU 0 only; auto picked 1 of 1", async () => {
    // A request first, so the threads that decode exist.
    await (await post(`${w.url}/generate`, { prompt: "Once upon a time", max_tokens: 5 })).json();
    const tasks = readdirSync(`/proc/${w.proc.pid}/task`);
    const lists = new Set(tasks.map((t) => /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/${w.proc.pid}/task/${t}/status`, "utf8"))![1]!));
    expect(tasks.length).toBeGreaterThan(3);
    expect([...lists]).toEqual(["0"]);
    expect(w.log()).toContain("cpus: every thread confined to 0");
    expect(w.log()).toMatch(/threads=1\/1 cores/);
  });

  test("and answers as without it: greedy text is llama.cpp's", async () => {
    const body = (await (await post(`${w.url}/generate`, { prompt: "Once upon a time", max_tokens: 30, temperature: 0 })).json()) as any;
    expect(body.data.text).toBe(STORIES_ORACLE);
  });
});

describe("warren serve --chat-template FILE (a tool template for a model without one)", () => {
  let w: WarrenProcess;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "warren-tpl-"));
    const { path } = await makeModel({ preset: "tiny", out: join(dir, "plain.gguf") });
    // No --threads: the default, auto, measures the count at load.
    w = await startWarren(["--model", path, "--parallel", "1", "--chat-template", QWEN_TEMPLATE_PATH]);
  }, 60_000);
  afterAll(async () => {
    await w?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the banner and /v1/models say the template has tools and reasoning", async () => {
    expect(w.log()).toMatch(/chat-template=JinjaTemplate \(tools: yes, reasoning: yes\)/);
    const models = (await (await fetch(`${w.url}/v1/models`)).json()) as { data: Array<{ capabilities: string[] }> };
    expect(models.data[0]!.capabilities).toEqual(["completion", "chat", "tools", "reasoning"]);
  });

  test("--threads auto (the default) measured each candidate and uses a valid count, shown in the banner and /metrics", async () => {
    const m = w.log().match(/threads auto: (\d+) \(measured in (\d+) ms; threads (.*)\)/);
    expect(m).not.toBeNull();
    const picked = Number(m![1]);
    expect(picked).toBeGreaterThanOrEqual(1);
    expect(picked).toBeLessThanOrEqual(availableParallelism());
    expect(m![3]).toContain("1: ");
    expect(w.log()).toContain(`threads=${picked}/${availableParallelism()} cores`);
    const metrics = await (await fetch(`${w.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^warren_threads ${picked}$`, "m"));
  });

  test("a forced tool call comes back as tool_calls", async () => {
    const body = {
      messages: [{ role: "user", content: "Weather?" }],
      tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string", maxLength: 20 } } } } }],
      tool_choice: "required",
      temperature: 0,
      max_tokens: 200,
    };
    const res = await post(`${w.url}/v1/chat/completions`, body);
    const json = (await res.json()) as { choices: Array<{ finish_reason: string; message: { tool_calls: Array<{ function: { name: string; arguments: string } }> } }> };
    expect(json.choices[0]!.finish_reason).toBe("tool_calls");
    expect(json.choices[0]!.message.tool_calls[0]!.function.name).toBe("get_weather");
    expect(typeof JSON.parse(json.choices[0]!.message.tool_calls[0]!.function.arguments).city).toBe("string");
  });
});

describe("access log: JSON lines off a terminal, written asynchronously, all flushed at SIGTERM", () => {
  test("every answered request has its complete line, even when SIGTERM comes right after the last answer", async () => {
    // --log-format auto (the default) picks JSON: stderr is a pipe here.
    const w = await startWarren(["--threads", "1", "--parallel", "2", "--log-format", "auto"], { cwd: mkdtempSync(join(tmpdir(), "warren-log-")) });
    const n = 300;
    for (let i = 0; i < n; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => fetch(`${w.url}/health`, { headers: { "x-request-id": `r-${i + j}` } })));
    expect(await w.stop("SIGTERM")).toBe(0);
    const lines = w.log().split("\n").filter((l) => l !== "");
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const e of entries) {
      expect(typeof e.time).toBe("string");
      expect(["debug", "info", "warn", "error"]).toContain(e.level as string);
      expect(typeof e.msg).toBe("string");
    }
    // startWarren's own readiness probes are logged too: count the requests this test sent.
    const access = entries.filter((e) => e.path === "/health" && String(e.request_id).startsWith("r-"));
    expect(access).toHaveLength(n);
    expect(new Set(access.map((e) => e.request_id))).toEqual(new Set(Array.from({ length: n }, (_, i) => `r-${i}`)));
    for (const e of access) {
      expect(e).toMatchObject({ level: "info", method: "GET", status: 200, msg: "GET /health 200" });
      expect(Number.isFinite(e.ms) && (e.ms as number) >= 0).toBe(true);
    }
    expect(entries.at(-1)!.msg).toBe("stopped");
  });

  test("--access-log off: no request lines, the rest still logged", async () => {
    const w = await startWarren(["--threads", "1", "--access-log", "off"], { cwd: mkdtempSync(join(tmpdir(), "warren-log-")) });
    for (let i = 0; i < 5; i++) await fetch(`${w.url}/health`);
    expect(await w.stop("SIGTERM")).toBe(0);
    expect(w.log()).toContain("listening on");
    expect(w.log()).not.toContain("GET /health");
  });
});

describe("startup failures are one clear line and a non-zero exit", () => {
  const cases: Array<[string, string[], RegExp]> = [
    ["an unknown built-in chat template", ["--model", requireStories(), "--chat-template", "nosuchwrapper"], /unknown chat template .*nosuchwrapper.* \(built-in: .*chatML/],
    ["an unreadable chat template file", ["--chat-template", "/nonexistent/t.jinja"], /--chat-template="\/nonexistent\/t.jinja": cannot read it/],
    ["a bad flag value", ["--port", "nope"], /--port="nope": must be an integer/],
    ["a CPU list that is not one", ["--cpus", "3-1"], /--cpus="3-1": the range 3-1 runs backwards/],
    ["a CPU the process may not use", ["--cpus", "1023"], /--cpus=1023: (CPU 1023 is not available to this process|confining to CPUs needs Linux)/],
    ["a missing model file", ["--model", "/nonexistent/x.gguf"], /cannot load model .*no such file/],
    ["a file that is not GGUF", ["--model", import.meta.path], /not a GGUF file/],
  ];
  for (const [name, args, message] of cases) {
    test(name, async () => {
      const proc = Bun.spawn({ cmd: [process.execPath, join(import.meta.dir, "../../src/main.ts"), "serve", "--port", "0", ...args], stdout: "pipe", stderr: "pipe" });
      const code = await proc.exited;
      const err = await new Response(proc.stderr).text();
      expect(code).not.toBe(0);
      expect(err).toMatch(message);
      expect(err).not.toMatch(/^\s+at /m); // no stack trace
    });
  }
});
