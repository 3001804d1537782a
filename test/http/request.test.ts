// The lazily built Request handed to handlers: it must read exactly as a native Request would.
import { describe, expect, test } from "bun:test";
import { toParts, toRequest } from "../../src/http/bridge.ts";
import { type RequestHead, emptyHead, parseHead } from "../../src/http/parser.ts";
import { LazyRequest, nativeMethod } from "../../src/http/request.ts";
import { PreparedResponse } from "../../src/prepared-response.ts";

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
  test("is a Request by instanceof and tag, with no own enumerable state", () => {
    const req = toRequest(head(GET_HEAD), null, new AbortController().signal);
    expect(req instanceof Request).toBe(true);
    expect(Object.prototype.toString.call(req)).toBe("[object Request]");
    expect(Object.keys(req)).toEqual([]);
  });

  test("defines every member of Request itself: no native member is reached with it as `this`", () => {
    const own = new Set(Reflect.ownKeys(LazyRequest.prototype));
    const missing: string[] = [];
    for (let p: object | null = Request.prototype; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
      for (const key of Reflect.ownKeys(p)) if (!own.has(key) && key !== Symbol.toStringTag) missing.push(String(key));
    }
    expect(missing).toEqual([]);
  });

  test("a GET through Elysia, headers read, builds no native Request", async () => {
    const { Elysia } = await import("elysia");
    const app = new Elysia().get("/a/b", ({ request, headers }) => ({ ua: headers["accept"], sig: request.signal.aborted }));
    const Native = globalThis.Request;
    let built = 0;
    globalThis.Request = class extends Native {
      constructor(...args: ConstructorParameters<typeof Request>) {
        super(...args);
        built++;
      }
    } as typeof Request;
    try {
      const res = await app.handle(toRequest(head(GET_HEAD), null, new AbortController().signal));
      expect(await res.json()).toEqual({ ua: "x, y", sig: false });
      expect(built).toBe(0);
      void toRequest(head(GET_HEAD), null, new AbortController().signal).mode;
      expect(built).toBe(1);
    } finally {
      globalThis.Request = Native;
    }
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

  /** A PreparedResponse whose Web API side must not be read (its headers come first there): its facts are the only way to its parts. */
  class Sealed extends PreparedResponse {
    override get headers(): Headers {
      throw new Error("headers read");
    }
  }
  const sealed = (status: number, headers: Record<string, string>) => new Sealed('{"ok":true}', status, headers, "application/json");

  test("a PreparedResponse is sent from its facts, without reading its headers or body", () => {
    const res = sealed(201, { "X-Id": " a-1 ", "x-id": "2" });
    const parts = toParts(res);
    if (parts instanceof Promise) throw new Error("facts are synchronous");
    expect(parts.status).toBe(201);
    expect(parts.headerLines).toBe("x-id: a-1, 2\r\ncontent-type: application/json\r\n");
    expect(parts.body).toBe(PreparedResponse.factsOf(res)!.body);
    expect(new TextDecoder().decode(parts.body!)).toBe('{"ok":true}');
    expect(parts.stream).toBeNull();
  });

  test("framing headers in the facts are ours: Content-Length kept aside, Connection: close noted, Date dropped", () => {
    const parts = toParts(sealed(200, { "content-length": "11", connection: "close", date: "x", "keep-alive": "5", "x-a": "b" }));
    if (parts instanceof Promise) throw new Error("facts are synchronous");
    expect(parts.headerLines).toBe("x-a: b\r\ncontent-type: application/json\r\n");
    expect(parts.declaredLength).toBe(11);
    expect(parts.close).toBe(true);
  });

  test("facts that ask for streaming are left to the Web API path", async () => {
    const streamed: Record<string, string>[] = [{ "transfer-encoding": "chunked" }, { "content-type": "text/event-stream" }];
    for (const headers of streamed) {
      expect(() => toParts(sealed(200, headers))).toThrow("headers read");
      const parts = await toParts(new PreparedResponse("data: 1\n\n", 200, headers, "application/json"));
      expect(parts.stream).not.toBeNull();
      expect(parts.body).toBeNull();
    }
  });

  test("a PreparedResponse whose headers were looked at is read through the Web API, changes included", async () => {
    const res = new PreparedResponse("plain", 202, { "x-a": "1" }, "text/plain");
    res.headers.set("x-b", "2");
    const parts = await toParts(res);
    expect(parts.status).toBe(202);
    expect(parts.headerLines).toBe("content-type: text/plain\r\nx-a: 1\r\nx-b: 2\r\n");
    expect(new TextDecoder().decode(parts.body!)).toBe("plain");
  });

  test("a PreparedResponse whose body was read is read through the Web API, which refuses it", async () => {
    const res = new PreparedResponse("plain", 200, {}, "text/plain");
    expect(await res.text()).toBe("plain");
    await expect(Promise.resolve().then(() => toParts(res))).rejects.toThrow();
  });
});
