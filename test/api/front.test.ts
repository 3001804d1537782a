// The app's front (src/api/front.ts) on its own: ids and headers set on any kind of answer.
import { describe, expect, test } from "bun:test";
import { front, requestIdOf, type Screens } from "../../src/api/front.ts";
import { preparedJson } from "../../src/api/prepared.ts";

const open: Screens = { preflight: () => undefined, headers: () => ({ "access-control-allow-origin": "*" }), refusal: () => undefined };

describe("front", () => {
  test("an answer whose headers refuse changes (Response.redirect) is copied with the id and headers on it", async () => {
    const f = front({ fetch: () => Response.redirect("http://localhost/elsewhere", 302) }, open);
    const res = await f.handle(new Request("http://localhost/x", { headers: { "x-request-id": "r-1" } }));
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("http://localhost/elsewhere");
    expect(res.headers.get("x-request-id")).toBe("r-1");
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
  });

  test("a prepared answer gets the id; a settled answer stays synchronous; the id is the request's", async () => {
    const f = front({ fetch: () => preparedJson({ ok: true }, 200, {}) }, open);
    const req = new Request("http://localhost/x");
    const res = f.fetch(req);
    expect(res).not.toBeInstanceOf(Promise);
    const id = (res as Response).headers.get("x-request-id");
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(requestIdOf(req)).toBe(id!);
  });

  test("a refusal replaces the route; a later answer (a promise) gets the headers too", async () => {
    let routed = 0;
    const f = front({ fetch: async () => (routed++, new Response("late")) }, { ...open, refusal: (r) => (r.headers.has("x-deny") ? new Response("no", { status: 401 }) : undefined) });
    const denied = await f.handle(new Request("http://localhost/x", { headers: { "x-deny": "1" } }));
    expect([denied.status, routed]).toEqual([401, 0]);
    expect(denied.headers.get("access-control-allow-origin")).toBe("*");
    const late = await f.handle(new Request("http://localhost/x"));
    expect([await late.text(), routed]).toEqual(["late", 1]);
    expect(late.headers.get("x-request-id")).toMatch(/^[0-9a-f]{32}$/);
  });
});
