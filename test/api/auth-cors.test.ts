// API keys and CORS, through the SDK where a client would use it and raw fetch for the headers.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { keyCheck } from "../../src/api/auth.ts";
import { apiKeysFrom, loadConfig } from "../../src/config.ts";
import { FakeEngine } from "../../src/inference/engine-fake.ts";
import { sdk, setup, type Setup } from "./helpers.ts";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const KEYS = ["sk-one", "sk-two-longer-key"];
let s: Setup;
beforeAll(async () => {
  s = await setup(new FakeEngine(), { apiKeys: KEYS, corsOrigins: ["https://app.example"] });
});
afterAll(() => s.served.close());

const get = (path: string, headers: Record<string, string> = {}, method = "GET") => s.served.fetch(`${s.served.url}${path}`, { method, headers });
const listWith = (key: string) => sdk(s.served, key).models.list();

describe("API keys", () => {
  test("either configured key works as Bearer", async () => {
    for (const k of KEYS) expect((await listWith(k)).data[0]!.id).toBe("fake");
  });

  test("wrong key: 401 in OpenAI's shape with a Bearer challenge", async () => {
    const err = await listWith("sk-wrong").catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(err.status).toBe(401);
    const raw = await get("/v1/models", { authorization: "Bearer sk-wrong" });
    expect(raw.headers.get("www-authenticate")).toStartWith("Bearer");
    expect(await raw.json()).toEqual({ error: { message: "invalid API key", type: "authentication_error", param: null, code: "invalid_api_key" } });
  });

  test("a prefix or extension of a key is not a key", async () => {
    for (const k of ["sk-on", "sk-one1", "SK-ONE", ""]) expect((await get("/v1/models", { authorization: `Bearer ${k}` })).status).toBe(401);
  });

  test("X-Api-Key works too", async () => {
    expect((await get("/v1/models", { "x-api-key": "sk-two-longer-key" })).status).toBe(200);
    expect((await get("/v1/models", { "x-api-key": "nope" })).status).toBe(401);
  });

  test("missing and malformed headers: 401 saying what is wrong", async () => {
    const missing = await get("/v1/models");
    expect(missing.status).toBe(401);
    expect(((await missing.json()) as any).error.code).toBe("missing_api_key");
    for (const h of ["Basic c2stb25lOg==", "Bearer", "Bearer sk-one extra", "sk-one"]) {
      const r = await get("/v1/models", { authorization: h });
      expect(r.status).toBe(401);
      expect(((await r.json()) as any).error.code).toBe("invalid_authorization");
    }
  });

  test("every route but /health needs the key; native routes answer in their own shape", async () => {
    expect((await get("/health")).status).toBe(200);
    for (const path of ["/metrics", "/openapi/json", "/v1/nope", "/nope"]) expect((await get(path)).status).toBe(401);
    const native = await s.served.fetch(`${s.served.url}/generate`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
    expect(native.status).toBe(401);
    expect(((await native.json()) as any).success).toBe(false);
    expect((await get("/metrics", { authorization: "Bearer sk-one" })).status).toBe(200);
  });

  test("no keys configured: no auth", async () => {
    expect(keyCheck([])).toBeUndefined();
  });
});

describe("CORS", () => {
  const preflight = (origin: string) =>
    get("/v1/chat/completions", { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type, x-stainless-os" }, "OPTIONS");

  test("preflight from an allowed origin: 204 with the allow headers, no key needed", async () => {
    const r = await preflight("https://app.example");
    expect(r.status).toBe(204);
    expect(r.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(r.headers.get("access-control-allow-methods")).toContain("POST");
    expect(r.headers.get("access-control-allow-headers")).toBe("authorization, content-type, x-stainless-os");
    expect(r.headers.get("vary")).toContain("Origin");
  });

  test("preflight from another origin: 204 without permission", async () => {
    const r = await preflight("https://evil.example");
    expect(r.status).toBe(204);
    expect(r.headers.get("access-control-allow-origin")).toBeNull();
    expect(r.headers.get("vary")).toContain("Origin");
  });

  test("actual responses carry the origin (errors included) and Vary: Origin", async () => {
    const ok = await get("/v1/models", { origin: "https://app.example", authorization: "Bearer sk-one" });
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(ok.headers.get("vary")).toBe("Origin");
    const denied = await get("/v1/models", { origin: "https://app.example" });
    expect(denied.status).toBe(401);
    expect(denied.headers.get("access-control-allow-origin")).toBe("https://app.example");
    const other = await get("/v1/models", { origin: "https://evil.example", authorization: "Bearer sk-one" });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });

  test("by default no origin is allowed", async () => {
    const d = await setup(new FakeEngine());
    const r = await d.served.fetch(`${d.served.url}/v1/models`, { method: "OPTIONS", headers: { origin: "https://app.example", "access-control-request-method": "GET" } });
    expect(r.status).toBe(204);
    expect(r.headers.get("access-control-allow-origin")).toBeNull();
    const g = await d.served.fetch(`${d.served.url}/v1/models`, { headers: { origin: "https://app.example" } });
    expect(g.headers.get("access-control-allow-origin")).toBeNull();
    await d.served.close();
  });
});

describe("settings", () => {
  test("--api-key (comma-separated), WARREN_API_KEY and --api-key-file add up", () => {
    const dir = mkdtempSync(join(tmpdir(), "warren-keys-"));
    const file = join(dir, "keys");
    writeFileSync(file, "# operators\nsk-file-1\n\n  sk-file-2  \n");
    const c = loadConfig(["--api-key", "a, b", `--api-key-file=${file}`, "--cors-origin", "https://x.example,*"], {});
    expect(apiKeysFrom(c)).toEqual(["a", "b", "sk-file-1", "sk-file-2"]);
    expect(apiKeysFrom(loadConfig([], { WARREN_API_KEY: "env-key" }))).toEqual(["env-key"]);
    expect(apiKeysFrom(loadConfig([], {}))).toEqual([]);
    expect(() => apiKeysFrom(loadConfig(["--api-key-file", join(dir, "missing")], {}))).toThrow(/api-key-file/);
  });
});

describe("X-Request-Id", () => {
  test("a sane id sent is kept; a missing or unsafe one is replaced by a fresh 32-hex id, distinct per request", async () => {
    expect((await get("/health", { "x-request-id": "abc.1:2-3_4" })).headers.get("x-request-id")).toBe("abc.1:2-3_4");
    const ids: (string | null)[] = [];
    for (const h of [{}, { "x-request-id": "bad id" } as Record<string, string>, { "x-request-id": "x".repeat(129) }, {}]) {
      const r = await get("/health", h);
      ids.push(r.headers.get("x-request-id"));
    }
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  test("every kind of answer carries the id (and the CORS headers it earned): JSON, stream, refusal, preflight, unknown route, bad body", async () => {
    const origin = "https://app.example";
    const auth = { origin, authorization: "Bearer sk-one" };
    const post = (path: string, body: string, headers: Record<string, string>) =>
      s.served.fetch(`${s.served.url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
    const answers = [
      ["id-json", await get("/v1/models", { ...auth, "x-request-id": "id-json" }), 200],
      ["id-stream", await post("/v1/completions", JSON.stringify({ prompt: "hi", max_tokens: 3, stream: true }), { ...auth, "x-request-id": "id-stream" }), 200],
      ["id-refusal", await get("/v1/models", { origin, "x-request-id": "id-refusal" }), 401],
      ["id-unknown", await get("/v1/nothing-here", { ...auth, "x-request-id": "id-unknown" }), 404],
      ["id-bad", await post("/v1/completions", "{", { ...auth, "x-request-id": "id-bad" }), 400],
    ] as const;
    for (const [id, res, status] of answers) {
      await res.arrayBuffer();
      expect({ id, status: res.status }).toEqual({ id, status });
      expect(res.headers.get("x-request-id")).toBe(id);
      expect({ id, origin: res.headers.get("access-control-allow-origin") }).toEqual({ id, origin });
    }
    const pre = await get("/v1/models", { origin, "access-control-request-method": "GET", "x-request-id": "id-pre" }, "OPTIONS");
    expect(pre.status).toBe(204);
    expect(pre.headers.get("x-request-id")).toBe("id-pre");
    // The preflight's own Vary stands: the actual answers' "Vary: Origin" is not laid over it.
    expect(pre.headers.get("vary")).toBe("Origin, Access-Control-Request-Headers");
  });

  test("generated ids stay distinct across the counter's 4096-id table boundary", async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 4100; i++) {
      const id = (await s.app.handle(new Request("http://localhost/health"))).headers.get("x-request-id")!;
      expect(id).toMatch(/^[0-9a-f]{32}$/);
      ids.add(id);
    }
    expect(ids.size).toBe(4100);
  });
});
