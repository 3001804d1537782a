// preparedJson and the preparedResponses() plugin: JSON answers that carry their own facts for the
// transport, and are in every other respect the Response that Response.json would have made.
import { describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { listen } from "../../src/http/server.ts";
import { JSON_CONTENT_TYPE, NO_HEADERS, preparedJson, preparedResponses } from "../../src/api/prepared.ts";
import { PreparedResponse } from "../../src/prepared-response.ts";

const facts = (res: Response) => PreparedResponse.factsOf(res);
const headerList = (res: Response) => [...res.headers].sort(([a], [b]) => a.localeCompare(b));

describe("preparedJson", () => {
  const CASES: Array<[string, unknown, number, Record<string, unknown>]> = [
    ["an object", { a: 1, b: [true, null] }, 200, {}],
    ["an array with a status", [1, "two"], 201, { "x-id": "7" }],
    ["mixed-case names, repeats joined", { ok: 1 }, 404, { "X-Id": "1", "x-id": " 2 ", "Cache-Control": "no-store" }],
    ["its own content-type", { ok: 1 }, 200, { "content-type": "application/problem+json" }],
    ["values trimmed of HTTP whitespace only", { ok: 1 }, 200, { "x-a": " \t a\u00a0\u000b \t", "x-b": "é", "x-c": "\r\n c \n" }],
  ];
  for (const [name, value, status, headers] of CASES) {
    test(`is what Response.json gives: ${name}`, async () => {
      const ours = preparedJson(value, status, headers);
      const theirs = Response.json(value, { status, headers: headers as Record<string, string> });
      expect(ours).toBeInstanceOf(Response);
      expect(ours.status).toBe(theirs.status);
      expect(headerList(ours)).toEqual(headerList(theirs));
      expect(await ours.text()).toBe(await theirs.text());
    });
  }

  test("carries its facts until its headers are looked at; changes made then are real", () => {
    const res = preparedJson({ a: 1 }, 200, { "x-a": "1" });
    expect(facts(res)).toEqual({ status: 200, headers: { "x-a": "1", "content-type": "application/json;charset=utf-8" }, body: expect.any(Uint8Array) });
    res.headers.set("connection", "close");
    expect(facts(res)).toBeNull();
    expect(res.headers.get("connection")).toBe("close");
    expect(res.headers.get("x-a")).toBe("1");
    expect(res.headers.get("content-type")).toBe("application/json;charset=utf-8");
  });

  test("reads as a Response wherever it is looked at", () => {
    const ours = preparedJson({ a: 1 }, 404, {});
    const theirs = Response.json({ a: 1 }, { status: 404 });
    expect(ours).toBeInstanceOf(PreparedResponse);
    expect(Object.prototype.toString.call(ours)).toBe("[object Response]");
    for (const key of ["ok", "statusText", "type", "bodyUsed", "redirected", "url"] as const) expect([key, ours[key]]).toEqual([key, theirs[key]]);
    expect(Bun.inspect(preparedJson({ a: 1 }, 201, {}))).toContain("status: 201");
  });

  test("reading the body drops the facts; a clone keeps the headers and the facts stay", async () => {
    const readers: Array<(r: Response) => unknown> = [(r) => r.text(), (r) => r.json(), (r) => r.bytes(), (r) => r.arrayBuffer(), (r) => r.blob()];
    for (const read of readers) {
      const res = preparedJson({ a: 1 }, 200, {});
      await read(res);
      expect(facts(res)).toBeNull();
    }
    const res = preparedJson({ a: 1 }, 200, { "x-a": "1" });
    const copy = res.clone();
    expect(facts(res)).not.toBeNull();
    expect(copy.headers.get("x-a")).toBe("1");
    expect(await copy.json()).toEqual({ a: 1 });
    expect(await res.json()).toEqual({ a: 1 });
  });

  test("throws where Response.json would: a refused header, a status out of range", () => {
    expect(() => preparedJson({}, 200, { "x-a": "1\r\nx-evil: 1" })).toThrow(TypeError);
    expect(() => Response.json({}, { headers: { "x-a": "1\r\nx-evil: 1" } })).toThrow(TypeError);
    expect(() => preparedJson({}, 99, {})).toThrow(RangeError);
    expect(() => Response.json({}, { status: 99 })).toThrow(RangeError);
  });
});

describe("preparedResponses()", () => {
  const app = new Elysia()
    .onRequest(({ set }) => {
      set.headers["x-request-id"] = "r-1";
    })
    .use(preparedResponses())
    .get("/obj", ({ set }) => {
      set.status = 202;
      set.headers["x-extra"] = "e";
      return { a: 1 };
    })
    .get("/null-proto", () => Object.assign(Object.create(null), { a: 2 }))
    .get("/text", () => "plain text")
    .get("/class", () => new (class Point { x = 1; })())
    .get("/cookie", ({ cookie: { session } }) => {
      session!.value = "s";
      return { a: 3 };
    })
    .get("/bad-header", ({ set }) => {
      set.headers["x-bad"] = "a\r\nx-evil: 1";
      return { a: 4 };
    })
    .get("/own", ({ set }) => {
      set.headers["x-extra"] = "e";
      set.status = 201;
      return new PreparedResponse('{"own":true}', 503, NO_HEADERS, JSON_CONTENT_TYPE);
    });
  const get = (path: string) => app.handle(new Request(`http://localhost${path}`));

  test("plain objects become PreparedResponses with the set status and headers moved in", async () => {
    const res = await get("/obj");
    expect(res).toBeInstanceOf(PreparedResponse);
    expect(facts(res)).toEqual({
      status: 202,
      headers: { "x-request-id": "r-1", "x-extra": "e", "content-type": "application/json;charset=utf-8" },
      body: new TextEncoder().encode('{"a":1}'),
    });
    expect(await (await get("/null-proto")).json()).toEqual({ a: 2 });
    expect(await get("/null-proto")).toBeInstanceOf(PreparedResponse);
  });

  test("a route's own PreparedResponse is passed on untouched, its status kept, the set headers moved in", async () => {
    const res = await get("/own");
    expect(res).toBeInstanceOf(PreparedResponse);
    expect(facts(res)).toEqual({
      status: 503,
      headers: { "content-type": "application/json;charset=utf-8", "x-request-id": "r-1", "x-extra": "e" },
      body: new TextEncoder().encode('{"own":true}'),
    });
  });

  test("strings, class instances, cookies and headers a Headers object refuses are left to Elysia", async () => {
    for (const path of ["/text", "/class", "/cookie"]) {
      const res = await get(path);
      expect(`${path}: ${res.constructor.name} ${res.status}`).toBe(`${path}: Response 200`);
      expect(res.headers.get("x-request-id")).toBe("r-1");
    }
    expect((await get("/cookie")).headers.get("set-cookie")).toContain("session=s");
    // Elysia's own path refuses the header, with or without the plugin.
    const without = new Elysia().get("/bad-header", ({ set }) => {
      set.headers["x-bad"] = "a\r\nx-evil: 1";
      return { a: 4 };
    });
    for (const a of [app, without]) await expect(Promise.resolve().then(() => a.handle(new Request("http://localhost/bad-header")))).rejects.toThrow(/invalid value/);
  });

  test("over a socket the answer is the one the same app gives without the plugin", async () => {
    const route = (a: Elysia) => a.get("/j", ({ set }) => {
      set.headers["x-k"] = "v";
      set.status = 203;
      return { list: [1, 2, 3], s: "é" };
    });
    const servers = [route(new Elysia().use(preparedResponses())), route(new Elysia())].map((a) => listen((r) => a.handle(r), { hostname: "127.0.0.1", port: 0 }));
    try {
      const [fast, slow] = await Promise.all(servers.map(async (s) => {
        const res = await fetch(`http://127.0.0.1:${s.port}/j`);
        return `${res.status} ${JSON.stringify(headerList(res).filter(([k]) => k !== "date"))} ${await res.text()}`;
      }));
      expect(fast).toBe(slow!);
      expect(fast).toContain('203 [["content-length","25"],["content-type","application/json;charset=utf-8"],["x-k","v"]]');
    } finally {
      await Promise.all(servers.map((s) => s.stop({ graceful: false })));
    }
  });
});
