// Auth: with an API key set, no route but /health answers without it, whatever the
// Authorization header looks like and however the path is spelt; and the time a check takes does
// not depend on how much of the key matched.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { keyCheck } from "../../src/api/auth.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { type InProcess, startInProcess } from "../helpers/hardening.ts";

const KEY = "sk-warren-" + "0a1b2c3d4e5f".repeat(3);
let w: InProcess;
let routes: Array<[method: string, path: string]>;
beforeAll(() => {
  w = startInProcess({ apiKeys: [KEY] });
  routes = w.app.routes.map((r) => [r.method, r.path.replace(/:\w+/g, "x")]);
});
afterAll(() => w.stop());

/** One request over a fresh connection with exactly these header lines. */
async function send(method: string, path: string, headerLines: string) {
  const body = method === "POST" ? JSON.stringify({ prompt: "x", max_tokens: 1, text: "x", tokens: [1] }) : "";
  const c = await RawClient.connect(w.port);
  c.send(Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: localhost\r\n${headerLines}${body ? `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n` : ""}\r\n${body}`, "latin1"));
  const r = await c.readResponse({ head: method === "HEAD" });
  c.destroy();
  return r;
}

const BAD: Array<[string, string]> = [
  ["no credentials", ""],
  ["an empty Authorization", "Authorization:\r\n"],
  ["Bearer alone", "Authorization: Bearer\r\n"],
  ["Bearer and spaces", "Authorization: Bearer    \r\n"],
  ["the key without a scheme", `Authorization: ${KEY}\r\n`],
  ["the key under Basic", `Authorization: Basic ${btoa(`user:${KEY}`)}\r\n`],
  ["the key under Token", `Authorization: Token ${KEY}\r\n`],
  ["a wrong key", "Authorization: Bearer sk-wrong\r\n"],
  ["the key less its last character", `Authorization: Bearer ${KEY.slice(0, -1)}\r\n`],
  ["the key and one more character", `Authorization: Bearer ${KEY}0\r\n`],
  ["the key in upper case", `Authorization: Bearer ${KEY.toUpperCase()}\r\n`],
  ["the key and a second word", `Authorization: Bearer ${KEY} extra\r\n`],
  ["the key and an obs-text byte", `Authorization: Bearer ${KEY}\xe9\r\n`],
  ["the key twice, comma-joined", `Authorization: Bearer ${KEY}\r\nAuthorization: Bearer ${KEY}\r\n`],
  ["a right and a wrong Authorization", `Authorization: Bearer ${KEY}\r\nAuthorization: Bearer nope\r\n`],
  ["an empty X-Api-Key", "X-Api-Key:\r\n"],
  ["a wrong X-Api-Key", "X-Api-Key: nope\r\n"],
  ["X-Api-Key less its last character", `X-Api-Key: ${KEY.slice(0, -1)}\r\n`],
  ["the key as a cookie", `Cookie: api_key=${KEY}\r\n`],
  ["a 10,000-character key", `Authorization: Bearer ${"k".repeat(10_000)}\r\n`],
];

function expectRefused(r: { status: number; headers: Record<string, string>; json: unknown }, what: string): void {
  // A HEAD answer has no body to carry the code; Anthropic's shape (/v1/messages*) has only its type,
  // llama-server's (/tokenize, /completion, ...) a numeric code beside its type.
  const error = (r.json as { error?: { code?: string | number; type?: string } } | undefined)?.error;
  const code = what.startsWith("HEAD ") ? "missing_api_key" : typeof error?.code === "string" ? error.code : error?.type;
  expect(`${what}: ${r.status} ${code}`).toMatch(/: 401 (missing_api_key|invalid_api_key|invalid_authorization|authentication_error)$/);
  expect(r.headers["www-authenticate"]).toBe('Bearer realm="warren"');
}

describe("with --api-key set", () => {
  test("every route but /health refuses every malformed or wrong credential with 401", async () => {
    expect(routes.length).toBeGreaterThanOrEqual(8);
    for (const [method, path] of routes) {
      for (const [name, lines] of BAD) {
        const r = await send(method, path, lines);
        if (path === "/health") expect(`${name}: ${r.status}`).toBe(`${name}: 200`);
        else expectRefused(r, `${method} ${path} with ${name}`);
      }
    }
  }, 30_000);

  test("the right key opens every route (so the refusals above are about the key)", async () => {
    for (const [method, path] of routes) {
      for (const lines of [`Authorization: Bearer ${KEY}\r\n`, `authorization: bearer ${KEY}\r\n`, `X-Api-Key: ${KEY}\r\n`]) {
        const r = await send(method, path, lines);
        expect(`${method} ${path}: ${r.status}`).not.toMatch(/: 401$/);
      }
    }
  }, 30_000);

  test("other spellings of a path are refused too: only /health itself is open", async () => {
    const spellings = [
      "/metrics/", "//metrics", "/health/../metrics", "/health/%2e%2e/metrics", "/./metrics", "/Metrics", "/HEALTH", "/health/",
      "/health;/../metrics", "/v1/models?api_key=" + KEY, "http://localhost/metrics", "/generate#/health",
    ];
    for (const path of spellings) for (const method of ["GET", "POST", "HEAD", "DELETE", "PUT"]) expectRefused(await send(method, path, ""), `${method} ${path}`);
    for (const path of ["/health", "/health?probe=1", "http://localhost/health"]) expect((await send("GET", path, "")).status).toBe(200);
  }, 30_000);

  test("a CORS preflight is answered before the key check (browsers send no credentials there) but discloses nothing", async () => {
    const r = await send("OPTIONS", "/v1/models", "Origin: https://evil.example\r\nAccess-Control-Request-Method: GET\r\n");
    expect(r.status).toBe(204);
    expect(r.body.length).toBe(0);
    expect(r.headers["access-control-allow-origin"]).toBeUndefined();
    expectRefused(await send("OPTIONS", "/v1/models", ""), "OPTIONS without a preflight header");
  });
});

describe("key check timing", () => {
  // A 4,096-character key, so that a comparison that stops at the first differing character would
  // take measurably longer for a near miss than for a far one (shown by the leaky control below):
  // with a 40-character key the difference is a few dozen character comparisons, below what a
  // test can see.
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  let seed = 12345;
  const key = Array.from({ length: 4096 }, () => alphabet[(seed = (seed * 1103515245 + 12345) >>> 0) % 36]).join("");
  const other = (c: string) => (c === "a" ? "b" : "a");
  const far = other(key[0]!) + key.slice(1);
  const near = key.slice(0, -1) + other(key.at(-1)!);
  const request = (k: string) => new Request("http://localhost/v1/models", { headers: { authorization: `Bearer ${k}` } });

  /** Median ns per call for a near miss over median ns for a far miss; interleaved blocks share the noise. */
  function nearOverFar(fn: (r: Request) => unknown): number {
    const a = request(far), b = request(near), ta: number[] = [], tb: number[] = [];
    for (let i = 0; i < 50; i++) fn(a), fn(b);
    for (let block = 0; block < 300; block++) {
      for (const [r, times] of (block % 2 === 0 ? [[a, ta], [b, tb]] : [[b, tb], [a, ta]]) as Array<[Request, number[]]>) {
        const t0 = Bun.nanoseconds();
        for (let i = 0; i < 40; i++) fn(r);
        times.push(Bun.nanoseconds() - t0);
      }
    }
    const median = (xs: number[]) => xs.sort((x, y) => x - y)[xs.length >> 1]!;
    return median(tb) / median(ta);
  }

  test("the leaky control is caught: an early-exit comparison takes far longer for a near miss", () => {
    const leaky = (r: Request) => {
      const presented = /^Bearer (\S+)$/.exec(r.headers.get("authorization")!)![1]!;
      for (let i = 0; i < key.length; i++) if (presented.charCodeAt(i) !== key.charCodeAt(i)) return false;
      return true;
    };
    expect(nearOverFar(leaky)).toBeGreaterThan(1.5);
  });

  test("keyCheck takes the same time for a key matching all but one character as for one matching none", () => {
    const check = keyCheck([key])!;
    expect(check.check(request(near), "/v1/models")?.code).toBe("invalid_api_key");
    const ratio = nearOverFar((r) => check.check(r, "/v1/models"));
    expect(ratio).toBeGreaterThan(0.8);
    expect(ratio).toBeLessThan(1.25);
  });
});

