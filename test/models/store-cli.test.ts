// `warren pull`, `warren models` and `warren rm` as a user runs them, against the fixture hub
// (in process, output captured): what they print, their exit codes, and where files land.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { memoryIo } from "../../src/cli/io.ts";
import { runStoreCli, type StoreCommand } from "../../src/models/store-cli.ts";
import { startHub, type FixtureHub } from "../helpers/hub.ts";
import { hubRepos, makeHubModels } from "../helpers/hub-models.ts";

let work: string;
let hub: FixtureHub;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "warren-store-cli-"));
  hub = await startHub(hubRepos(await makeHubModels(work)));
});
afterAll(async () => {
  await hub.stop();
  rmSync(work, { recursive: true, force: true });
});

/** Runs one command with the hub as HF_ENDPOINT and the cache under `cache`; no HF_TOKEN unless given. */
async function run(cmd: StoreCommand, args: string[], opts: { cache?: string; env?: Record<string, string>; tty?: boolean } = {}) {
  const io = memoryIo(opts.tty ?? false);
  const code = await runStoreCli(cmd, args, { cacheDir: opts.cache ?? join(work, "cache"), env: { HF_ENDPOINT: hub.url, HF_TOKEN_PATH: join(work, "no-token"), ...opts.env }, io });
  return { code, out: io.stdout(), err: io.stderr() };
}

describe("warren pull / models / rm", () => {
  const cache = () => join(work, "cache");
  const store = () => join(cache(), "models");

  test("pull: into <cache dir>/models by default, progress on stderr, where it went on stdout", async () => {
    const r = await run("pull", ["hf:warren-test/tiny-chat-GGUF:Q8_0"]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/^pulling hf:warren-test\/tiny-chat-GGUF:Q8_0: .*\n/);
    expect(r.err).toContain("100% (");
    expect(r.err).not.toContain("\r");
    expect(r.out).toMatch(new RegExp(`^pulled hf_warren-test_tiny-chat\\.Q8_0 \\(226 KiB\\) in \\d+\\.\\d s: ${store()}/hf_warren-test_tiny-chat\\.Q8_0\\.gguf\\n`));
    expect(r.out).toEndWith("serve it: warren serve --model hf:warren-test/tiny-chat-GGUF:Q8_0\n");
    expect(existsSync(join(store(), "hf_warren-test_tiny-chat.Q8_0.gguf"))).toBe(true);
  });

  test("pull on a terminal draws one bar with \\r; a second pull says the model is there", async () => {
    const dir = join(work, "tty-store");
    const r = await run("pull", ["hf:warren-test/tiny-chat-GGUF:F16", "--models-dir", dir], { tty: true });
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/\rpulling hf:warren-test\/tiny-chat-GGUF:F16 \[#+\] 100% \(.*\), .*\/s\x1b\[K\n/);
    const again = await run("pull", ["hf:warren-test/tiny-chat-GGUF:F16", "--models-dir", dir]);
    expect(again.code).toBe(0);
    expect(again.err).toBe("");
    expect(again.out).toContain("hf:warren-test/tiny-chat-GGUF:F16 is already in the store: hf_warren-test_tiny-chat.F16 (");
    expect(again.out).toContain("`warren rm hf_warren-test_tiny-chat.F16` first to download it again");
  });

  test("WARREN_MODELS_DIR and WARREN_CACHE_DIR-style cache dirs pick the store; --models-dir wins", async () => {
    const viaEnv = join(work, "env-store");
    expect((await run("pull", ["hf:warren-test/tiny-chat-GGUF:F16"], { env: { WARREN_MODELS_DIR: viaEnv } })).code).toBe(0);
    expect(existsSync(join(viaEnv, "hf_warren-test_tiny-chat.F16.gguf"))).toBe(true);
    const flag = join(work, "flag-store");
    expect((await run("pull", ["hf:warren-test/tiny-chat-GGUF:F16", "--models-dir", flag], { env: { WARREN_MODELS_DIR: viaEnv } })).code).toBe(0);
    expect(existsSync(join(flag, "hf_warren-test_tiny-chat.F16.gguf"))).toBe(true);
  });

  test("--hf-endpoint wins over HF_ENDPOINT", async () => {
    const r = await run("pull", ["hf:warren-test/tiny-chat-GGUF:F16", "--models-dir", join(work, "ep-store"), "--hf-endpoint", hub.url], { env: { HF_ENDPOINT: "http://127.0.0.1:1/" } });
    expect(r.code).toBe(0);
  });

  test("models: a table of name, size, quant, params, context, template and source", async () => {
    expect((await run("pull", ["hf:warren-test/tiny-chat-GGUF:F32"])).code).toBe(0);
    const r = await run("models", []);
    expect(r.code).toBe(0);
    const lines = r.out.split("\n");
    expect(lines[0]).toMatch(/^NAME\s+SIZE\s+QUANT\s+PARAMS\s+CONTEXT\s+TEMPLATE\s+SOURCE$/);
    const row = (name: string) => lines.find((l) => l.startsWith(`${name} `))!.split(/\s{2,}/);
    expect(row("hf_warren-test_tiny-chat.Q8_0")).toEqual(["hf_warren-test_tiny-chat.Q8_0", "226 KiB", "Q8_0", "197K", "2048", "JinjaTemplate (tools, reasoning)", "hf:warren-test/tiny-chat-GGUF:Q8_0"]);
    // The split model: one row, both parts' bytes, its template-less header.
    expect(row("hf_warren-test_tiny-chat.F32")).toEqual(["hf_warren-test_tiny-chat.F32", "787 KiB", "F32", "197K", "2048", "none", "hf:warren-test/tiny-chat-GGUF:F32"]);
    expect(r.out).toContain(`2 models in ${store()}; serve one with \`warren serve --model NAME\``);
  });

  test("models --json", async () => {
    const r = await run("models", ["--json"]);
    const rows = JSON.parse(r.out) as Array<{ name: string; quant: string; params: number; context: number; tools: boolean; reasoning: boolean; files: string[]; sources: string[] }>;
    const q8 = rows.find((x) => x.name === "hf_warren-test_tiny-chat.Q8_0")!;
    expect(q8).toMatchObject({ quant: "Q8_0", params: 196928, context: 2048, tools: true, reasoning: true, sources: ["hf:warren-test/tiny-chat-GGUF:Q8_0"] });
    expect(rows.find((x) => x.name === "hf_warren-test_tiny-chat.F32")!.files).toHaveLength(2);
  });

  test("rm by name or URI; a name that is not there is exit 1 and named", async () => {
    const r = await run("rm", ["hf:warren-test/tiny-chat-GGUF:F32", "hf_warren-test_tiny-chat.Q8_0"]);
    expect(r.code).toBe(0);
    expect(r.out).toBe("removed hf_warren-test_tiny-chat.F32 (787 KiB): 3 files\nremoved hf_warren-test_tiny-chat.Q8_0 (226 KiB): 2 files\n");
    expect((await run("models", [])).out).toBe(`no models in ${store()}: pull one with \`warren pull hf:USER/REPO:QUANT\`\n`);
    const again = await run("rm", ["hf_warren-test_tiny-chat.Q8_0"]);
    expect(again.code).toBe(1);
    expect(again.err).toBe(`warren rm: no model hf_warren-test_tiny-chat.Q8_0 in ${store()} (\`warren models\` lists them)\n`);
  });

  test("a failed pull: one line on stderr, exit 1, nothing in the store", async () => {
    const dir = join(work, "fail-store");
    const r = await run("pull", ["hf:warren-test/tiny-chat-GGUF:Q5_K_M", "--models-dir", dir]);
    expect(r.code).toBe(1);
    expect(r.err).toBe("warren pull: warren-test/tiny-chat-GGUF has no Q5_K_M GGUF file; it has F16, F32, Q8_0: pull one of those, e.g. warren pull hf:warren-test/tiny-chat-GGUF:F16\n");
    expect(r.out).toBe("");
    const gated = await run("pull", ["hf:warren-test/gated-GGUF:Q8_0", "--models-dir", dir]);
    expect(gated.code).toBe(1);
    expect(gated.err).toContain("then set HF_TOKEN to an access token");
    const withToken = await run("pull", ["hf:warren-test/gated-GGUF:Q8_0", "--models-dir", dir], { env: { HF_TOKEN: hub.token } });
    expect(withToken.code).toBe(0);
  });

  test("usage errors are exit 2; --help is exit 0", async () => {
    expect((await run("pull", [])).code).toBe(2);
    const notUri = await run("pull", ["llama3"]);
    expect(notUri.code).toBe(2);
    expect(notUri.err).toContain('"llama3" is not a model URI: use hf:USER/REPO:QUANT');
    expect((await run("pull", ["hf:a/b:Q8_0", "--bogus"])).code).toBe(2);
    expect((await run("rm", [])).code).toBe(2);
    expect((await run("models", ["extra"])).code).toBe(2);
    const help = await run("pull", ["--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toContain("usage: warren pull URI");
    expect(help.out).toContain("--models-dir <DIR>");
  });
});
