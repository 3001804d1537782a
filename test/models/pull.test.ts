// Pulls into a store from the fixture hub (test/helpers/hub.ts), in process: the happy paths,
// resumes, verification and every failure's message. Nothing here reaches the internet.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HubError } from "../../src/models/hub.ts";
import { ensurePulled, PullError, type PullOptions } from "../../src/models/pull.ts";
import { listStore, STAGING_DIR } from "../../src/models/store.ts";
import { skipUnlessCi } from "../helpers/apt.ts";
import { startHub, type FixtureHub } from "../helpers/hub.ts";
import { BIG_BYTES, hubRepos, makeHubModels, MIB, type HubModels } from "../helpers/hub-models.ts";
import { STORIES_MODEL } from "../helpers/models.ts";

const sha256 = (b: Uint8Array | Buffer) => createHash("sha256").update(b).digest("hex");

let work: string;
let models: HubModels;
let hub: FixtureHub;
let n = 0;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "warren-pull-"));
  models = await makeHubModels(work);
  hub = await startHub(hubRepos(models));
});

afterAll(async () => {
  await hub.stop();
  rmSync(work, { recursive: true, force: true });
});

/** A fresh store per test; `lines` collects what the pull wrote. */
function setup(extra: Partial<PullOptions> = {}) {
  const dir = join(work, `store-${n++}`);
  const lines: string[] = [];
  const opts = (source: string, more: Partial<PullOptions> = {}): PullOptions => ({
    source,
    dir,
    endpoint: hub.url,
    sink: { tty: false, write: (t) => lines.push(t) },
    ...extra,
    ...more,
  });
  return { dir, lines, opts };
}

async function failure(p: Promise<unknown>): Promise<PullError | HubError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof PullError || err instanceof HubError) return err;
    throw err;
  }
  throw new Error("the pull succeeded");
}

const requestsSince = (from: number) => hub.requests.slice(from);
/** Whatever is left in the store directory besides verified models. */
const staged = (dir: string) => (existsSync(join(dir, STAGING_DIR)) ? readdirSync(join(dir, STAGING_DIR)).filter((f) => f !== "pull.lock") : []);

describe("pull from the fixture hub", () => {
  test("hf:user/repo:Q8_0 lands in the store under node-llama-cpp's name, byte for byte, with its source recorded", async () => {
    const { dir, lines, opts } = setup();
    const r = await ensurePulled(opts("hf:warren-test/tiny-chat-GGUF:Q8_0"));
    expect(r.downloaded).toBe(true);
    expect(r.entry.name).toBe("hf_warren-test_tiny-chat.Q8_0");
    expect(sha256(readFileSync(r.entry.files[0]!))).toBe(sha256(models.chatQ8));
    expect(r.entry.meta?.sources).toEqual(["hf:warren-test/tiny-chat-GGUF:Q8_0"]);
    expect(r.entry.meta?.files[0]?.sha256).toBe(sha256(models.chatQ8));
    expect(lines.at(-1)).toContain("verifying hf_warren-test_tiny-chat.Q8_0.gguf");
    expect(lines.some((l) => /100% \(.* of .*\)/.test(l))).toBe(true);
    expect(staged(dir)).toEqual([]);
  });

  test("a second pull, in any spelling of the URI, is answered from the store without a request", async () => {
    const { opts } = setup();
    await ensurePulled(opts("hf:warren-test/tiny-chat-GGUF:Q8_0"));
    const before = hub.requests.length;
    for (const uri of ["hf:warren-test/tiny-chat-GGUF:q8_0", "hf://warren-test/tiny-chat-GGUF:Q8_0", "huggingface:warren-test/tiny-chat-GGUF:Q8_0"]) {
      expect((await ensurePulled(opts(uri))).downloaded).toBe(false);
    }
    expect(await ensurePulled(opts("hf:warren-test/tiny-chat-GGUF:Q8_0", { offline: true }))).toMatchObject({ downloaded: false });
    expect(requestsSince(before)).toEqual([]);
  });

  test("another URI for a file already stored (hf:user/repo picks F16 here) adds a source and downloads nothing; a changed file is fetched again", async () => {
    const { opts } = setup();
    const first = await ensurePulled(opts("hf:warren-test/tiny-chat-GGUF:F16"));
    let before = hub.requests.length;
    const again = await ensurePulled(opts("hf:warren-test/tiny-chat-GGUF"));
    expect(again).toMatchObject({ downloaded: false, entry: { name: "hf_warren-test_tiny-chat.F16" } });
    expect(again.entry.meta?.sources).toEqual(["hf:warren-test/tiny-chat-GGUF:F16", "hf:warren-test/tiny-chat-GGUF"]);
    expect(requestsSince(before).filter((q) => q.range !== undefined)).toEqual([]);
    // Same size, other bytes: not the hub's file, so it is replaced.
    const bytes = readFileSync(first.entry.files[0]!);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0xff, bytes.length - 1);
    writeFileSync(first.entry.files[0]!, bytes);
    rmSync(join(first.entry.files[0]!, "../.meta"), { recursive: true });
    before = hub.requests.length;
    const fixed = await ensurePulled(opts("hf:warren-test/tiny-chat-GGUF:F16"));
    expect(fixed.downloaded).toBe(true);
    expect(sha256(readFileSync(fixed.entry.files[0]!))).toBe(sha256(models.chatF16));
    expect(requestsSince(before).some((q) => q.range !== undefined)).toBe(true);
  });

  test.skipIf(skipUnlessCi(existsSync(STORIES_MODEL)))("stories260K (needs ../shared/models/stories260K.gguf)", async () => {
    const { opts } = setup();
    const r = await ensurePulled(opts("hf:warren-test/stories260K-GGUF:F32"));
    expect(sha256(readFileSync(r.entry.files[0]!))).toBe(sha256(readFileSync(STORIES_MODEL)));
  });

  test("a split GGUF: both parts fetched, verified and stored; the store shows one model", async () => {
    const { dir, opts } = setup();
    const r = await ensurePulled(opts("hf:warren-test/tiny-chat-GGUF:F32"));
    expect(r.entry.files.map((f) => f.split("/").pop())).toEqual(["hf_warren-test_tiny-chat.F32-00001-of-00002.gguf", "hf_warren-test_tiny-chat.F32-00002-of-00002.gguf"]);
    expect(r.entry.files.map((f) => sha256(readFileSync(f)))).toEqual(models.split.map(sha256));
    expect(r.entry.bytes).toBe(models.split[0].length + models.split[1].length);
    expect(listStore(dir).map((e) => e.name)).toEqual(["hf_warren-test_tiny-chat.F32"]);
  });

  test("hf:user/repo/file.gguf and a plain http URL", async () => {
    const { opts } = setup();
    const byFile = await ensurePulled(opts("hf:warren-test/tiny-chat-GGUF/tiny-chat-F16.gguf"));
    expect(sha256(readFileSync(byFile.entry.files[0]!))).toBe(sha256(models.chatF16));
    const cdn = hub.requests.find((r) => r.path.startsWith("/cdn/") && r.path.endsWith("tiny-chat-F16.gguf"))!.path;
    const byUrl = await ensurePulled(opts(`${hub.url}${cdn.slice(1)}`));
    expect(byUrl.entry.name).toBe("tiny-chat-F16");
    expect(sha256(readFileSync(byUrl.entry.files[0]!))).toBe(sha256(models.chatF16));
  });

  test("a connection cut mid-file: the downloader reconnects and the file is still exact", async () => {
    const { opts } = setup();
    const file = "warren-test/tiny-chat-GGUF/tiny-chat-F16.gguf";
    hub.faults.push({ kind: "cut", file, atByte: Math.floor(models.chatF16.length / 2), times: 1 });
    const before = hub.requests.length;
    const r = await ensurePulled(opts("hf:warren-test/tiny-chat-GGUF:F16"));
    expect(hub.faults[0]).toMatchObject({ times: 0 });
    hub.faults.length = 0;
    expect(requestsSince(before).filter((q) => q.range !== undefined).length).toBeGreaterThanOrEqual(2);
    expect(sha256(readFileSync(r.entry.files[0]!))).toBe(sha256(models.chatF16));
  });

  test("a download that stalls before anything is saved says so, rather than promising a resume", async () => {
    const { dir, opts } = setup({ stallTimeoutMs: 1_500 });
    hub.faults.push({ kind: "stall", file: "warren-test/big-GGUF/big-Q8_0.gguf", atByte: 64 * 1024 });
    const e = await failure(ensurePulled(opts("hf:warren-test/big-GGUF:Q8_0")));
    hub.faults.length = 0;
    hub.releaseStalls();
    expect(e.code).toBe("stalled");
    const kept = staged(dir).length > 0;
    expect(e.message).toEndWith(kept ? "the partial download is kept: run the same command again to resume" : "nothing was saved yet: run the same command again");
    expect(listStore(dir)).toEqual([]);
  });

  test("a stalled download stops with the partial kept; the next pull resumes from the last whole chunk", async () => {
    const { dir, opts } = setup({ stallTimeoutMs: 1_500 });
    const file = "warren-test/big-GGUF/big-Q8_0.gguf";
    hub.faults.push({ kind: "stall", file, atByte: 11 * MIB });
    const e = await failure(ensurePulled(opts("hf:warren-test/big-GGUF:Q8_0")));
    expect(e.code).toBe("stalled");
    expect(e.message).toMatch(/^no data for 2 s while pulling hf:warren-test\/big-GGUF:Q8_0 \(.* of 12\.0 MiB\): .* the partial download is kept: run the same command again to resume$/);
    expect(staged(dir)).toEqual(["hf_warren-test_big.Q8_0.gguf.ipull"]);
    expect(listStore(dir)).toEqual([]);
    hub.faults.length = 0;
    hub.releaseStalls();
    const before = hub.requests.length;
    const r = await ensurePulled(opts("hf:warren-test/big-GGUF:Q8_0", { stallTimeoutMs: undefined }));
    // ipull saves progress per 5 MiB chunk: the two whole chunks are not asked for again.
    const ranges = requestsSince(before).flatMap((q) => (q.range ? [/bytes=(\d+)-(\d+)/.exec(q.range)!.slice(1).map(Number) as [number, number]] : []));
    expect(Math.min(...ranges.map(([a]) => a))).toBe(10 * MIB);
    expect(ranges.reduce((sum, [a, b]) => sum + b - a + 1, 0)).toBe(BIG_BYTES - 10 * MIB);
    expect(sha256(readFileSync(r.entry.files[0]!))).toBe(sha256(models.big));
    expect(staged(dir)).toEqual([]);
  });

  test("two pulls of one model at once: one downloads, the other waits for it and finds it in the store", async () => {
    const { opts } = setup();
    const [a, b] = await Promise.all([ensurePulled(opts("hf:warren-test/tiny-chat-GGUF:Q8_0")), ensurePulled(opts("hf:warren-test/tiny-chat-GGUF:Q8_0"))]);
    expect([a.downloaded, b.downloaded].sort()).toEqual([false, true]);
    expect(a.entry.files).toEqual(b.entry.files);
  });
});

describe("a gated repo", () => {
  test("without a token: refused before any download, saying to accept the terms and set HF_TOKEN", async () => {
    const { opts } = setup();
    const e = await failure(ensurePulled(opts("hf:warren-test/gated-GGUF:Q8_0")));
    expect(e.code).toBe("gated");
    expect(e.message).toBe(`warren-test/gated-GGUF is gated or private (401): accept its terms at ${hub.url}warren-test/gated-GGUF, then set HF_TOKEN to an access token (${hub.url}settings/tokens)`);
  });

  test("with HF_TOKEN: sent as a bearer token to the manifest and the file, and the pull succeeds", async () => {
    const { opts } = setup();
    const before = hub.requests.length;
    const r = await ensurePulled(opts("hf:warren-test/gated-GGUF:Q8_0", { token: hub.token }));
    expect(sha256(readFileSync(r.entry.files[0]!))).toBe(sha256(models.chatQ8));
    const seen = requestsSince(before);
    for (const kind of ["/v2/warren-test/gated-GGUF/manifests/", "/warren-test/gated-GGUF/resolve/"]) {
      expect(seen.some((q) => q.path.startsWith(kind) && q.auth === `Bearer ${hub.token}`)).toBe(true);
    }
  });

  test("with a token the hub refuses", async () => {
    const { opts } = setup();
    const e = await failure(ensurePulled(opts("hf:warren-test/gated-GGUF:Q8_0", { token: "hf_wrong" })));
    expect(e.code).toBe("gated");
    expect(e.message).toMatch(/^warren-test\/gated-GGUF is gated or private and the hub refused HF_TOKEN \(401\): check that the token can read it/);
  });
});

describe("failures say what happened and leave nothing under a final name", () => {
  test("a repo that does not exist", async () => {
    const { opts } = setup();
    const e = await failure(ensurePulled(opts("hf:warren-test/no-such-GGUF:Q8_0")));
    expect(e.code).toBe("not_found");
    expect(e.message).toBe(`warren-test/no-such-GGUF does not exist on ${hub.url}: check the user/repo spelling (a private repo also needs HF_TOKEN)`);
  });

  test("a quant the repo does not have: the error lists the ones it has", async () => {
    const { opts } = setup();
    const e = await failure(ensurePulled(opts("hf:warren-test/tiny-chat-GGUF:Q4_K_M")));
    expect(e.code).toBe("no_quant");
    expect(e.message).toBe("warren-test/tiny-chat-GGUF has no Q4_K_M GGUF file; it has F16, F32, Q8_0: pull one of those, e.g. warren pull hf:warren-test/tiny-chat-GGUF:F16");
  });

  test("a file the repo does not have", async () => {
    const { opts } = setup();
    const e = await failure(ensurePulled(opts("hf:warren-test/tiny-chat-GGUF/nope.gguf")));
    expect(e.code).toBe("no_file");
    expect(e.message).toContain("warren-test/tiny-chat-GGUF has no file nope.gguf; its GGUF files: tiny-chat-Q8_0.gguf, tiny-chat-F16.gguf,");
  });

  for (const [what, tag, pattern] of [
    ["a size other than the hub lists", "Q8_0", /^hf_warren-test_broken\.Q8_0\.gguf: downloaded (\d+) bytes but the hub lists (\d+): the download is damaged/],
    ["a SHA-256 other than the hub lists", "Q4_0", /^hf_warren-test_broken\.Q4_0\.gguf: its SHA-256 is [0-9a-f]{64} but the hub lists 0{64}: .* it was deleted, so pull again$/],
    ["a file that is not GGUF (an HTML page)", "F16", /^hf_warren-test_broken\.F16\.gguf is not a GGUF file \(the URL served something else, an HTML page perhaps\)/],
  ] as const) {
    test(`verification: ${what} is deleted, never stored`, async () => {
      const { dir, opts } = setup();
      const e = await failure(ensurePulled(opts(`hf:warren-test/broken-GGUF:${tag}`)));
      expect(e.code).toBe("verify");
      expect(e.message).toMatch(pattern);
      const m = /downloaded (\d+) bytes but the hub lists (\d+)/.exec(e.message);
      if (m) expect(Number(m[2]) - Number(m[1])).toBe(100);
      expect(listStore(dir)).toEqual([]);
      expect(readdirSync(dir).filter((f) => f.endsWith(".gguf"))).toEqual([]);
      expect(staged(dir)).toEqual([]);
    });
  }

  test("not enough disk space: refused before downloading", async () => {
    const { dir, opts } = setup();
    const before = hub.requests.length;
    const e = await failure(ensurePulled(opts("hf:warren-test/broken-GGUF:Q2_K")));
    expect(e.code).toBe("disk_full");
    expect(e.message).toMatch(/^hf_warren-test_broken\.Q2_K\.gguf needs 1024 TiB more but the disk holding .* has .* free: free some space, or pull into another disk with --models-dir$/);
    expect(requestsSince(before).filter((q) => q.range !== undefined)).toEqual([]);
    expect(listStore(dir)).toEqual([]);
  });

  test("no network: the hub's address refuses connections; the error comes at once", async () => {
    const closed = await new Promise<number>((done) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => done(port));
      });
    });
    const { opts } = setup();
    const t0 = performance.now();
    const e = await failure(ensurePulled(opts("hf:warren-test/tiny-chat-GGUF:Q8_0", { endpoint: `http://127.0.0.1:${closed}/` })));
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(e.code).toBe("unreachable");
    expect(e.message).toMatch(new RegExp(`^cannot reach http://127\\.0\\.0\\.1:${closed}/ \\(.+\\): check the network, or point --hf-endpoint \\(HF_ENDPOINT\\) at a mirror`));
  });

  test("--offline: a model not in the store is named, and nothing is requested", async () => {
    const { dir, opts } = setup();
    const before = hub.requests.length;
    const e = await failure(ensurePulled(opts("hf:warren-test/tiny-chat-GGUF:Q8_0", { offline: true })));
    expect(e.code).toBe("offline");
    expect(e.message).toBe(
      `hf:warren-test/tiny-chat-GGUF:Q8_0 is not in the model store (${dir}) and --offline forbids downloading it: run \`warren pull hf:warren-test/tiny-chat-GGUF:Q8_0\` where the hub is reachable, or leave out --offline`,
    );
    expect(requestsSince(before)).toEqual([]);
  });

  test("not a model URI", async () => {
    const { opts } = setup();
    const e = await failure(ensurePulled(opts("hf:just-a-name")));
    expect(e.code).toBe("bad_uri");
  });
});
