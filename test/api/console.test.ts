// GET / and /console/*: the page and its assets with a strict CSP, compressed and cached; public
// when API keys are set while every API route (/v1/stats included) still needs a key; absent
// with --no-webui; a failed bundle answers 500 and is tried again.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { ConsoleFile } from "../../src/api/state.ts";
import { loadConfig } from "../../src/config.ts";
import { FakeEngine } from "../../src/inference/engine-fake.ts";
import { bundleConsole } from "../../src/web/bundle.ts";
import { setup, type Setup } from "./helpers.ts";

/** The budget for everything the page loads, compressed (it is about 12 KB today). */
const MAX_GZIP_BYTES = 300 * 1024;

let files: ConsoleFile[];
let open: Setup;
let keyed: Setup;
let off: Setup;
beforeAll(async () => {
  files = await bundleConsole();
  open = await setup(new FakeEngine(), { webConsole: async () => files });
  keyed = await setup(new FakeEngine(), { webConsole: async () => files, apiKeys: ["sk-console"] });
  off = await setup(new FakeEngine(), { apiKeys: ["sk-console"] });
});
afterAll(async () => {
  await Promise.all([open, keyed, off].map((s) => s?.served.close()));
});

const get = (s: Setup, path: string, headers: Record<string, string> = {}) => s.served.fetch(`${s.served.url}${path}`, { headers: { "accept-encoding": "identity", ...headers } });
const assets = () => files.filter((f) => f.path !== "/").map((f) => f.path);

describe("GET / and its assets", () => {
  test("the page, with a CSP that allows this origin's script, style and fetches only", async () => {
    const res = await get(open, "/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html;charset=utf-8");
    const csp = res.headers.get("content-security-policy")!;
    const directives = Object.fromEntries(csp.split(/;\s*/).map((d) => [d.split(" ")[0], d.split(" ").slice(1).join(" ")]));
    expect(directives).toMatchObject({ "default-src": "'none'", "script-src": "'self'", "style-src": "'self'", "connect-src": "'self'", "frame-ancestors": "'none'" });
    expect(csp).not.toContain("unsafe");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("cache-control")).toBe("no-cache");
    const html = await res.text();
    expect(html).toContain("<title>Warren console</title>");
    for (const path of assets()) expect(html).toContain(path);
  });

  test("assets: their types, cached for good (hashed names), gzip when asked, 304 on a matching ETag", async () => {
    expect(assets()).toHaveLength(2);
    for (const path of assets()) {
      const plain = await get(open, path);
      expect(plain.status).toBe(200);
      expect(plain.headers.get("content-type")).toMatch(path.endsWith(".js") ? /^text\/javascript/ : /^text\/css/);
      expect(plain.headers.get("cache-control")).toContain("immutable");
      expect(plain.headers.get("content-encoding")).toBeNull();
      const body = new Uint8Array(await plain.arrayBuffer());
      const gz = await get(open, path, { "accept-encoding": "gzip, deflate" });
      expect(gz.headers.get("content-encoding")).toBe("gzip");
      // fetch decodes gzip itself: the same bytes arrive either way.
      expect(new Uint8Array(await gz.arrayBuffer())).toEqual(body);
      expect((await get(open, path, { "accept-encoding": "gzip;q=0" })).headers.get("content-encoding")).toBeNull();
      const again = await get(open, path, { "if-none-match": plain.headers.get("etag")! });
      expect(again.status).toBe(304);
      expect(await again.text()).toBe("");
    }
    expect((await get(open, "/console/nothing-here.js")).status).toBe(404);
  });

  test(`everything the page loads stays under ${MAX_GZIP_BYTES / 1024} KB compressed`, () => {
    const sizes = files.map((f) => ({ path: f.path, raw: f.text.length, gzip: Bun.gzipSync(new TextEncoder().encode(f.text), { level: 9 }).byteLength }));
    const total = sizes.reduce((n, s) => n + s.gzip, 0);
    console.log(`console: ${sizes.map((s) => `${s.path} ${(s.raw / 1024).toFixed(1)} KB (${(s.gzip / 1024).toFixed(1)} KB gzip)`).join(", ")}; ${(total / 1024).toFixed(1)} KB gzip in all`);
    expect(total).toBeLessThan(MAX_GZIP_BYTES);
  });
});

describe("with API keys", () => {
  test("the page and its assets are public", async () => {
    for (const path of ["/", ...assets()]) expect((await get(keyed, path)).status).toBe(200);
  });

  test("every API route the page calls still needs the key", async () => {
    for (const path of ["/v1/stats", "/v1/models", "/metrics"]) {
      expect((await get(keyed, path)).status).toBe(401);
      expect((await get(keyed, path, { authorization: "Bearer sk-console" })).status).toBe(200);
    }
    const chat = await keyed.served.fetch(`${keyed.served.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ messages: [{ role: "user", content: "x" }] }) });
    expect(chat.status).toBe(401);
  });

  test("only the console's paths are opened: other unknown paths still ask for a key", async () => {
    expect((await get(keyed, "/favicon.ico")).status).toBe(401);
    expect((await get(keyed, "/v1/console")).status).toBe(401);
  });
});

describe("--no-webui", () => {
  test("the flag and its variable turn the console off; it is on by default", () => {
    expect(loadConfig([], {}).webui).toBe(true);
    expect(loadConfig(["--no-webui"], {}).webui).toBe(false);
    expect(loadConfig([], { WARREN_WEBUI: "false" }).webui).toBe(false);
    expect(() => loadConfig(["--no-webui=yes"], {})).toThrow(/takes no value/);
  });

  test("without a console, / is an ordinary unknown path: 404, and 401 when keys are set", async () => {
    const plain = await setup(new FakeEngine());
    try {
      expect((await get(plain, "/")).status).toBe(404);
      expect((await get(plain, assets()[0]!)).status).toBe(404);
    } finally {
      await plain.served.close();
    }
    expect((await get(off, "/")).status).toBe(401);
    expect((await get(off, "/", { authorization: "Bearer sk-console" })).status).toBe(404);
  });
});

test("a bundle that fails answers 500 and is tried again on the next request", async () => {
  let calls = 0;
  const s = await setup(new FakeEngine(), {
    webConsole: async () => {
      calls++;
      if (calls === 1) throw new Error("syntax error in app/main.ts");
      return files;
    },
  });
  try {
    const first = await get(s, "/");
    expect(first.status).toBe(500);
    expect(((await first.json()) as { error: { code: string } }).error.code).toBe("console_unavailable");
    expect((await get(s, "/")).status).toBe(200);
    expect((await get(s, "/")).status).toBe(200);
    expect(calls).toBe(2);
  } finally {
    await s.served.close();
  }
});
