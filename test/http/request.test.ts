// The lazily built Request handed to handlers: it must read exactly as a native Request would.
import { describe, expect, test } from "bun:test";
import { toParts, toRequest } from "../../src/http/bridge.ts";
import { type RequestHead, emptyHead, parseHead } from "../../src/http/parser.ts";
import { nativeMethod } from "../../src/http/request.ts";

const LIMITS = { maxHeadBytes: 16 * 1024, maxTargetBytes: 8 * 1024, maxHeaderCount: 100 };

function head(text: string): RequestHead {
  const out = emptyHead();
  const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0));
  if (parseHead(bytes, 0, bytes.length, 0, LIMITS, out) <= 0) throw new Error(`bad head: ${text}`);
  return out;
}

const GET_HEAD = "GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nCookie: a=1\r\nCookie: b=2\r\nAccept: x\r\nAccept: y\r\n\r\n";
const POST_HEAD = "POST /p HTTP/1.1\r\nHost: example.com\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n";
const body = (s: string) => new TextEncoder().encode(s);

/** The native Request the engine used to build, for comparison. */
function native(h: RequestHead, b: Uint8Array | null, signal: AbortSignal): Request {
  const headers: Record<string, string> = Object.create(null);
  for (let k = 0; k < h.headers.length; k += 2) {
    const name = h.headers[k]!, prior = headers[name];
    headers[name] = prior === undefined ? h.headers[k + 1]! : prior + (name === "cookie" ? "; " : ", ") + h.headers[k + 1]!;
  }
  const init: RequestInit = { method: h.method, headers, signal };
  if (b !== null && h.method !== "GET" && h.method !== "HEAD") init.body = b;
  return new Request("http://localhost" + h.path, init);
}

describe("lazy Request", () => {
  test("is a Request by instanceof, constructor and tag, with no own enumerable state", () => {
    const req = toRequest(head(GET_HEAD), null, new AbortController().signal);
    expect(req instanceof Request).toBe(true);
    expect(req.constructor).toBe(Request);
    expect(Object.prototype.toString.call(req)).toBe("[object Request]");
    expect(Object.keys(req)).toEqual([]);
  });

  test("url, method, headers and signal read as the native Request's", () => {
    const h = head(GET_HEAD), ac = new AbortController();
    const req = toRequest(h, null, ac.signal), ref = native(h, null, ac.signal);
    expect(req.url).toBe(ref.url);
    expect(req.method).toBe(ref.method);
    expect(req.signal).toBe(ac.signal);
    expect([...req.headers]).toEqual([...ref.headers]);
    expect(req.headers.get("cookie")).toBe("a=1; b=2");
    expect(req.headers.get("accept")).toBe("x, y");
    expect(req.headers).toBe(req.headers);
  });

  test("headers read as the native Request's with one Cookie field and repeated others", () => {
    const h = head("GET /a HTTP/1.1\r\nHost: h\r\nAccept: x\r\nX-Id: 1\r\naccept: y\r\nCookie: c=1; d=2\r\nX-Empty:\r\n\r\n");
    const ac = new AbortController();
    const req = toRequest(h, null, ac.signal), ref = native(h, null, ac.signal);
    expect([...req.headers]).toEqual([...ref.headers]);
    expect(req.headers.get("accept")).toBe("x, y");
    expect(req.headers.get("x-empty")).toBe("");
  });

  test("every other member is the native Request's (built on first use)", () => {
    const h = head(GET_HEAD), ac = new AbortController();
    const req = toRequest(h, null, ac.signal), ref = native(h, null, ac.signal);
    for (const key of ["cache", "credentials", "destination", "integrity", "mode", "redirect", "referrer", "referrerPolicy", "body", "bodyUsed"] as const) {
      expect([key, req[key]]).toEqual([key, ref[key]]);
    }
    const copy = req.clone();
    expect(copy instanceof Request).toBe(true);
    expect(copy.url).toBe(ref.url);
    expect(copy.headers.get("cookie")).toBe("a=1; b=2");
  });

  test("bodies: json, text, bytes, bodyUsed, and headers from the same native Request", async () => {
    const h = head(POST_HEAD), ac = new AbortController();
    const a = toRequest(h, body('{"x":1}'), ac.signal);
    expect(a.headers.get("content-type")).toBe("application/json");
    expect(a.bodyUsed).toBe(false);
    expect(await a.json()).toEqual({ x: 1 });
    expect(a.bodyUsed).toBe(true);
    await expect(toRequest(h, body("abc"), ac.signal).text()).resolves.toBe("abc");
    expect([...(await toRequest(h, body("ab"), ac.signal).bytes())]).toEqual([97, 98]);
    const stream = toRequest(h, body("xyz"), ac.signal).body!;
    expect(await new Response(stream).text()).toBe("xyz");
  });

  test("a GET's body is ignored, as the Fetch API requires", async () => {
    const req = toRequest(head(GET_HEAD), body("ignored"), new AbortController().signal);
    expect(req.body).toBeNull();
    expect(await req.text()).toBe("");
  });

  test("the init form copies it: new Request(url, req), as Elysia's mount does", async () => {
    const ac = new AbortController();
    const copy = new Request("http://localhost/other", toRequest(head(POST_HEAD), body('{"y":2}'), ac.signal));
    expect(copy.method).toBe("POST");
    expect(copy.headers.get("content-type")).toBe("application/json");
    expect(copy.signal.aborted).toBe(false);
    expect(await copy.json()).toEqual({ y: 2 });
  });

  test("headers read before the native Request is built stay the object handed out", async () => {
    const req = toRequest(head(GET_HEAD), null, new AbortController().signal);
    const h = req.headers;
    h.set("x-added", "1");
    expect(await req.text()).toBe("");
    expect(req.headers).toBe(h);
    expect(req.headers.get("x-added")).toBe("1");
  });

  test("the signal is the connection's, and aborts with it", () => {
    const ac = new AbortController();
    const req = toRequest(head(GET_HEAD), null, ac.signal);
    ac.abort();
    expect(req.signal.aborted).toBe(true);
  });

  test("the URL follows the path; a repeated path gives the same string", () => {
    const ac = new AbortController();
    const a = toRequest(head("GET /x HTTP/1.1\r\nHost: h\r\n\r\n"), null, ac.signal);
    const b = toRequest(head("GET /x HTTP/1.1\r\nHost: h\r\n\r\n"), null, ac.signal);
    const c = toRequest(head("GET /y?q HTTP/1.1\r\nHost: h\r\n\r\n"), null, ac.signal);
    expect(a.url).toBe("http://localhost/x");
    expect(b.url).toBe(a.url);
    expect(c.url).toBe("http://localhost/y?q");
    expect(a.url).toBe("http://localhost/x");
  });
});

describe("nativeMethod", () => {
  test("reports the method as a native Request would", () => {
    for (const m of ["GET", "POST", "PATCH", "patch", "Post", "FOO", "PROPFIND", "DELETE", "delete", "OPTIONS", "HEAD"]) {
      expect([m, nativeMethod(m)]).toEqual([m, new Request("http://localhost/", { method: m }).method]);
    }
  });

  test("the lazy request reports it too, so the server can refuse what Bun would rewrite", () => {
    const req = toRequest(head("Post / HTTP/1.1\r\nHost: h\r\n\r\n"), null, new AbortController().signal);
    expect(req.method).toBe("GET");
  });
});

describe("toParts", () => {
  test("a settled body is taken synchronously", () => {
    const parts = toParts(Response.json({ a: 1 }), <T>(p: Promise<T>) => (Bun.peek.status(p) === "fulfilled" ? (Bun.peek(p) as T) : p));
    if (parts instanceof Promise) throw new Error("a settled body should be taken synchronously");
    expect(parts.headerLines).toBe("content-type: application/json;charset=utf-8\r\n");
    expect(new TextDecoder().decode(parts.body!)).toBe('{"a":1}');
  });

  test("lines from a direct-mapped cache never mix names or values up", async () => {
    const seen: string[] = [];
    const pairs: [string, string][] = [["x-a", "1"], ["x-b", "1"], ["x-a", "2"], ["x-ab", ""], ["x-a", "1"], ["y", "12"]];
    for (const [name, value] of pairs) {
      const parts = await toParts(new Response("", { headers: { [name]: value } }));
      seen.push(parts.headerLines.replace(/content-type: [^\r]*\r\n/, ""));
    }
    expect(seen).toEqual(["x-a: 1\r\n", "x-b: 1\r\n", "x-a: 2\r\n", "x-ab: \r\n", "x-a: 1\r\n", "y: 12\r\n"]);
  });

  // A Response may carry its own facts under Symbol.for("warren.response-parts") (api/prepared.ts).
  const FACTS = Symbol.for("warren.response-parts");
  /** A Response whose Web API side must not be read: its facts are the only way to its parts. */
  const withFacts = (facts: { status: number; headers: Record<string, string>; body: Uint8Array }) => {
    const res = new Response("web api body", { status: 418, headers: { "x-web": "1" } });
    Object.defineProperty(res, "headers", { get: () => { throw new Error("headers read"); } });
    return Object.assign(res, { [FACTS]: facts });
  };
  const body = new TextEncoder().encode('{"ok":true}');

  test("a Response's own facts are used without reading its headers or body", () => {
    const parts = toParts(withFacts({ status: 201, headers: { "content-type": "application/json", "x-id": " a-1 " }, body }));
    if (parts instanceof Promise) throw new Error("facts are synchronous");
    expect(parts.status).toBe(201);
    expect(parts.headerLines).toBe("content-type: application/json\r\nx-id: a-1\r\n");
    expect(parts.body).toBe(body);
    expect(parts.stream).toBeNull();
  });

  test("facts get a Headers object's checks: framing headers are ours, bad names or values fall back to the Response", async () => {
    const parts = toParts(withFacts({ status: 200, headers: { "content-length": "11", connection: "close", date: "x", "x-a": "b" }, body }));
    if (parts instanceof Promise) throw new Error("facts are synchronous");
    expect(parts.headerLines).toBe("x-a: b\r\n");
    expect(parts.declaredLength).toBe(11);
    expect(parts.close).toBe(true);
    // Each of these would be refused or mean something else: the Web API side is read instead.
    const refused: Record<string, string>[] = [{ "X-Upper": "1" }, { "x-a": "1\r\nx-evil: 1" }, { "x-a": "nul\0" }, { "x-a": "euro €" }, { "bad name": "1" }, { "transfer-encoding": "chunked" }, { "": "" }];
    for (const headers of refused) {
      expect(() => toParts(withFacts({ status: 200, headers, body }))).toThrow("headers read");
    }
    const real = Object.assign(new Response("web", { headers: { "x-web": "1" } }), { [FACTS]: { status: 200, headers: { "X-Upper": "1" }, body } });
    const fallback = await toParts(real);
    expect(fallback.headerLines).toContain("x-web: 1\r\n");
    expect(new TextDecoder().decode(fallback.body!)).toBe("web");
  });

  test("a Response whose facts were dropped (null) is read through the Web API", async () => {
    const res = Object.assign(new Response("plain", { status: 202 }), { [FACTS]: null });
    const parts = await toParts(res);
    expect(parts.status).toBe(202);
    expect(new TextDecoder().decode(parts.body!)).toBe("plain");
  });
});

