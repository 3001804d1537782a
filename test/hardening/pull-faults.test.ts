// Model pulls that fail midway, next to a server that serves the store they pull into (the fixture
// hub in this process, `warren serve --models-dir STORE` and `warren pull` as child processes):
// a connection that keeps dropping, a file of the wrong size, a file whose SHA-256 is not the
// hub's. None leaves a model under a final name, and the server never lists or serves a half
// model, before, during or after. A second pull of the same model waits for the first's lock and
// finishes the job when the first dies. `warren serve --model hf:...` whose pull fails exits 1 with
// one error line.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "bun";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ensurePulled, PullError, type PullOptions } from "../../src/models/pull.ts";
import { startHub, type FixtureHub } from "../helpers/hub.ts";
import { hubRepos, makeHubModels, MIB, type HubModels } from "../helpers/hub-models.ts";
import { REPO_ROOT } from "../helpers/models.ts";
import { startWarren, type WarrenProcess } from "../helpers/warren-process.ts";

let work: string;
let store: string;
let models: HubModels;
let hub: FixtureHub;
let w: WarrenProcess;
let env: Record<string, string>;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "warren-pull-faults-"));
  store = join(work, "store");
  models = await makeHubModels(work);
  hub = await startHub(hubRepos(models));
  env = { HF_TOKEN: "", HF_TOKEN_PATH: join(work, "no-token"), HF_ENDPOINT: hub.url, WARREN_CACHE_DIR: join(work, "cache") };
  // One good model in the store, so the server has something to serve and list.
  await ensurePulled(opts("hf:warren-test/tiny-chat-GGUF:Q8_0"));
  w = await startWarren(["--models-dir", store, "--threads", "1", "--parallel", "1", "--offline", "--access-log", "off"], { env });
}, 60_000);
afterAll(async () => {
  await w?.stop("SIGKILL");
  hub.releaseStalls();
  await hub.stop();
  rmSync(work, { recursive: true, force: true });
});

const GOOD = "hf_warren-test_tiny-chat.Q8_0";
const opts = (source: string, more: Partial<PullOptions> = {}): PullOptions => ({ source, dir: store, endpoint: hub.url, ...more });
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function failure(p: Promise<unknown>): Promise<PullError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof PullError) return err;
    throw err;
  }
  throw new Error("the pull succeeded");
}

/** What the server lists: exactly the good model, whatever is happening in the store. */
async function listed(): Promise<string[]> {
  const r = await fetch(`${w.url}/v1/models`);
  return ((await r.json()) as { data: Array<{ id: string }> }).data.map((m) => m.id).sort();
}

/** A request naming the model a failed pull was for: unknown, in OpenAI's shape. */
async function expectNotServed(name: string): Promise<void> {
  // Asked for by name to load, the server reads its folder again at once: not there.
  const load = await fetch(`${w.url}/models/load`, { method: "POST", body: JSON.stringify({ model: name }) });
  expect([load.status, ((await load.json()) as any).error.code]).toEqual([404, "model_not_found"]);
  const r = await fetch(`${w.url}/v1/completions`, { method: "POST", body: JSON.stringify({ model: name, prompt: "Hi", max_tokens: 2 }) });
  expect(r.status).toBe(404);
  expect(((await r.json()) as any).error.code).toBe("model_not_found");
  expect(await listed()).toEqual([GOOD]);
  // Nothing but the good model (and its record) under a final name.
  expect(readdirSync(store).filter((f) => !f.startsWith(".")).sort()).toEqual([`${GOOD}.gguf`]);
}

describe("a pull that fails midway leaves no half model, and none is ever served", () => {
  test("a connection that keeps dropping: the pull stops; the server lists nothing new while it runs or after", async () => {
    hub.faults.push({ kind: "cut", file: "warren-test/tiny-chat-GGUF/tiny-chat-F16.gguf", atByte: 100_000, times: 1_000_000 });
    const pulling = failure(ensurePulled(opts("hf:warren-test/tiny-chat-GGUF:F16", { stallTimeoutMs: 500 })));
    let done = false;
    void pulling.finally(() => (done = true));
    const seen = new Set<string>();
    while (!done) {
      for (const id of await listed()) seen.add(id);
      await Bun.sleep(50);
    }
    const e = await pulling;
    // The downloader reconnected at least once before the pull gave up.
    const cuts = 1_000_000 - (hub.faults[0] as { times: number }).times;
    hub.faults.length = 0;
    expect(cuts).toBeGreaterThanOrEqual(2);
    expect(e.code).toBe("stalled");
    expect([...seen]).toEqual([GOOD]);
    await expectNotServed("hf_warren-test_tiny-chat.F16");
  }, 60_000);

  for (const [what, tag, code, said] of [
    ["a file of another size than the hub lists", "Q8_0", "verify", /^hf_warren-test_broken\.Q8_0\.gguf: downloaded \d+ bytes but the hub lists \d+: the download is damaged/],
    ["a file whose SHA-256 is not the hub's", "Q4_0", "verify", /^hf_warren-test_broken\.Q4_0\.gguf: its SHA-256 is [0-9a-f]{64} but the hub lists 0{64}: .*it was deleted, so pull again$/],
  ] as const) {
    test(`${what}: refused, deleted, never listed`, async () => {
      const e = await failure(ensurePulled(opts(`hf:warren-test/broken-GGUF:${tag}`)));
      expect([e.code, e.message]).toEqual([code, expect.stringMatching(said)]);
      expect(readdirSync(join(store, ".partial")).filter((f) => f.includes("broken"))).toEqual([]);
      await expectNotServed(`hf_warren-test_broken.${tag}`);
    });
  }

  test("afterwards the store's own model still answers", async () => {
    const r = await fetch(`${w.url}/v1/completions`, { method: "POST", body: JSON.stringify({ model: GOOD, prompt: "Hi", max_tokens: 2 }) });
    expect(r.status).toBe(200);
  });
});

describe("two pulls of one model at once", () => {
  test("the second waits for the first's lock; when the first dies mid-file, the second takes over and finishes; the file is exact", async () => {
    const file = "warren-test/big-GGUF/big-Q8_0.gguf";
    hub.faults.push({ kind: "stall", file, atByte: 6 * MIB });
    const first = spawn({ cmd: [process.execPath, resolve(REPO_ROOT, "src/main.ts"), "pull", "hf:warren-test/big-GGUF:Q8_0", "--models-dir", store], env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
    const until = Date.now() + 30_000;
    while (hub.bytesServed(file) < 6 * MIB && Date.now() < until) await Bun.sleep(50);
    const notes: string[] = [];
    const second = ensurePulled(opts("hf:warren-test/big-GGUF:Q8_0", { sink: { tty: false, write: (t) => notes.push(t) } }));
    while (!notes.some((n) => n.startsWith("waiting for warren process")) && Date.now() < until) await Bun.sleep(20);
    expect(notes.join("")).toContain(`waiting for warren process ${first.pid} on `);
    expect(await listed()).toEqual([GOOD]);
    first.kill("SIGKILL");
    await first.exited;
    hub.faults.length = 0;
    hub.releaseStalls();
    const r = await second;
    expect(r.downloaded).toBe(true);
    expect(sha256(readFileSync(r.entry.files[0]!))).toBe(sha256(models.big));
    expect(existsSync(join(store, ".partial", "pull.lock"))).toBe(false);
    await Bun.sleep(1_100);
    expect(await listed()).toEqual(["hf_warren-test_big.Q8_0", GOOD]);
  }, 60_000);
});

describe("warren serve --model hf:... whose pull fails", () => {
  const closedPort = () =>
    new Promise<number>((done) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => done(port));
      });
    });

  for (const [what, uri, endpoint, reason] of [
    ["a SHA-256 mismatch", "hf:warren-test/broken-GGUF:Q4_0", undefined, /: hf_warren-test_broken\.Q4_0\.gguf: its SHA-256 is [0-9a-f]{64} but the hub lists 0{64}: /],
    ["a hub that cannot be reached", "hf:warren-test/tiny-chat-GGUF:F16", "closed", /: cannot reach http:\/\/127\.0\.0\.1:\d+\/ \(.+\): check the network/],
  ] as const) {
    test(`${what}: exit 1 and one ERROR line saying why; nothing stored`, async () => {
      const dir = join(work, `serve-${uri.replace(/\W/g, "_")}`);
      const hf = endpoint === "closed" ? `http://127.0.0.1:${await closedPort()}/` : hub.url;
      const p = spawn({
        cmd: [process.execPath, resolve(REPO_ROOT, "src/main.ts"), "serve", "--port", "0", "--log-format", "text", "--model", uri, "--models-dir", dir],
        env: { ...process.env, ...env, HF_ENDPOINT: hf },
        stdout: "pipe",
        stderr: "pipe",
      });
      const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
      expect(code).toBe(1);
      const lines = (out + err).split("\n").filter((l) => l !== "");
      const errors = lines.filter((l) => / ERROR /.test(l));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(new RegExp(`ERROR cannot load model ${uri.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
      expect(errors[0]).toMatch(reason);
      // Only log lines: no stack trace, no downloader output.
      for (const line of lines) expect(line).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z (INFO |WARN |ERROR) /);
      expect(existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".gguf")) : []).toEqual([]);
    }, 30_000);
  }
});
