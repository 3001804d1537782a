// The one module api/ and http/ share: a real Response whose status, headers and body are also
// kept as facts, set once when it is made and checked once, by the Response's own Headers.
import { describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { PreparedResponse } from "../src/prepared-response.ts";

const JSON_TYPE = "application/json";
const make = (headers: Record<string, unknown> = {}, status = 200, body = '{"a":1}') => new PreparedResponse(body, status, headers, JSON_TYPE);

describe("PreparedResponse", () => {
  test("is a real Response: status, headers and body work natively", async () => {
    const res = make({ "X-Id": "7" }, 201);
    expect(res).toBeInstanceOf(Response);
    expect(Object.getPrototypeOf(PreparedResponse.prototype)).toBe(Response.prototype);
    expect([res.status, res.ok, res.statusText, res.type, res.bodyUsed]).toEqual([201, true, "", "default", false]);
    expect(res.headers.get("x-id")).toBe("7");
    expect(res.headers.get("content-type")).toBe(JSON_TYPE);
    expect(await res.json()).toEqual({ a: 1 });
    expect(res.bodyUsed).toBe(true);
    const native = new Response('{"a":1}', { headers: { "content-type": JSON_TYPE } });
    expect((await make().blob()).type).toBe((await native.blob()).type);
    expect(await new Response(make().body).text()).toBe('{"a":1}');
  });

  test("its facts are set once, when it is made, and say what the Response says", async () => {
    const res = make({ "X-Id": " 1 ", "x-id": "2", Accept: "a" }, 404, '{"é":"€"}');
    const facts = PreparedResponse.factsOf(res)!;
    expect(facts).toEqual({ status: 404, headers: { "x-id": "1, 2", accept: "a", "content-type": JSON_TYPE }, body: new TextEncoder().encode('{"é":"€"}') });
    expect(PreparedResponse.factsOf(res)).toBe(facts);
    const copy = res.clone();
    expect([...copy.headers]).toEqual(Object.entries(facts.headers).sort(([a], [b]) => a.localeCompare(b)));
    expect(await copy.bytes()).toEqual(facts.body);
    expect(copy.status).toBe(facts.status);
  });

  test("only a PreparedResponse has facts", () => {
    expect(PreparedResponse.factsOf(new Response("x"))).toBeNull();
    expect(PreparedResponse.factsOf(Response.json({ a: 1 }))).toBeNull();
    expect(PreparedResponse.factsOf(make().clone() as Response)).toBeNull();
    expect(PreparedResponse.factsOf(make())).not.toBeNull();
  });

  test("a given content-type wins over the default, whatever its case", () => {
    expect(PreparedResponse.factsOf(make({ "Content-Type": "text/plain" }))!.headers).toEqual({ "content-type": "text/plain" });
  });

  test("names such as constructor and __proto__ are ordinary headers", () => {
    const headers = JSON.parse('{"constructor":"c","__proto__":"p"}') as Record<string, string>;
    const res = make(headers);
    expect(PreparedResponse.factsOf(res)!.headers).toEqual(JSON.parse(`{"constructor":"c","__proto__":"p","content-type":"${JSON_TYPE}"}`));
    expect(res.headers.get("__proto__")).toBe("p");
  });

  test("values lose leading and trailing HTTP whitespace, as a Headers object takes them", () => {
    const values = [" a ", "\ta\t", "\r\na\r\n", "\na", "a \u000b", "a\u00a0", "é", ""];
    const res = make(Object.fromEntries(values.map((v, i) => [`x-${i}`, v])));
    const facts = PreparedResponse.factsOf(res)!;
    for (let i = 0; i < values.length; i++) expect([i, facts.headers[`x-${i}`]]).toEqual([i, res.headers.get(`x-${i}`)!]);
  });

  test("a name or value a Headers object refuses is refused with its error", () => {
    const refused: Array<[Record<string, string>, RegExp]> = [
      [{ "bad name": "1" }, /Invalid header name: 'bad name'/],
      [{ "": "1" }, /Invalid header name/],
      [{ "x-ü": "1" }, /Invalid header name/],
      [{ "x-a": "1\r\nx-evil: 1" }, /Header 'x-a' has invalid value/],
      [{ "x-a": "1\nx" }, /Header 'x-a' has invalid value/],
      [{ "x-a": "nul\0" }, /Header 'x-a' has invalid value/],
      [{ "x-a": "euro €" }, /Header 'x-a' has invalid value/],
    ];
    for (const [headers, error] of refused) {
      expect(() => make(headers)).toThrow(error);
      expect(() => new Headers(headers)).toThrow(TypeError);
    }
  });

  test("looking at the headers drops the facts: from then on the Response is the truth", () => {
    const res = make({ "x-a": "1" });
    res.headers.set("x-a", "2");
    expect(PreparedResponse.factsOf(res)).toBeNull();
    expect(res.headers.get("x-a")).toBe("2");
  });

  test("setHeader checks what it is given; setCheckedHeader takes it as it is; both reach the native headers once touched", () => {
    const res = make();
    res.setHeader("X-A", " 1 ");
    res.setCheckedHeader("x-request-id", "abc");
    expect(PreparedResponse.factsOf(res)!.headers).toMatchObject({ "x-a": "1", "x-request-id": "abc" });
    expect(() => res.setHeader("x-b", "a\nb")).toThrow(TypeError);
    expect(res.headers.get("x-request-id")).toBe("abc");
    res.setCheckedHeader("x-request-id", "def");
    expect(res.headers.get("x-request-id")).toBe("def");
  });

  test("reading the body drops the facts", async () => {
    const res = make();
    expect(await res.text()).toBe('{"a":1}');
    expect(PreparedResponse.factsOf(res)).toBeNull();
  });

  test("Elysia returns it unchanged, hooks and all", async () => {
    const made: PreparedResponse[] = [];
    const prepared = () => {
      const res = make({ "x-a": "1" }, 202);
      made.push(res);
      return res;
    };
    const app = new Elysia()
      .onAfterHandle(() => {})
      .get("/plain", prepared)
      .get("/async", async () => prepared())
      .post("/body", ({ body }) => (body ? prepared() : prepared()));
    for (const req of [new Request("http://localhost/plain"), new Request("http://localhost/async"), new Request("http://localhost/body", { method: "POST", body: "{}", headers: { "content-type": "application/json" } })]) {
      const res = await app.handle(req);
      expect(res).toBe(made.at(-1)!);
      expect(PreparedResponse.factsOf(res)).not.toBeNull();
    }
    expect(made.length).toBe(3);
  });
});
