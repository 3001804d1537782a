// LazyHeaders answers get/has from the parsed fields; it must agree with a native Headers built
// from the same fields on every member, before and after a change.
import { describe, expect, test } from "bun:test";
import { LazyHeaders } from "../../src/http/lazy-headers.ts";

const FIELDS = ["host", "a.example", "x-a", "1", "cookie", "a=1", "accept", "*/*", "x-a", "2", "cookie", "b=2", "set-cookie", "s=1", "set-cookie", "t=2"];
const native = (f: readonly string[]) => {
  const h = new Headers();
  for (let k = 0; k < f.length; k += 2) h.append(f[k]!, f[k + 1]!);
  return h;
};
const outcome = (f: () => unknown) => {
  try {
    return { value: f() };
  } catch (e) {
    return { threw: (e as Error).constructor.name };
  }
};
const NAMES = ["host", "HOST", "Host", "x-a", "X-A", "cookie", "Cookie", "set-cookie", "accept", "missing", "", "a b", "x:y", "é", "\u212a", "x-a\n"];

describe("LazyHeaders", () => {
  test("get and has agree with a native Headers for present, repeated, missing, mixed-case and invalid names", () => {
    const lazy = new LazyHeaders(FIELDS), real = native(FIELDS);
    const same = (name: string) => {
      expect({ name, ...outcome(() => lazy.get(name)) }).toEqual({ name, ...outcome(() => real.get(name)) });
      expect({ name, ...outcome(() => lazy.has(name)) }).toEqual({ name, ...outcome(() => real.has(name)) });
    };
    for (const name of NAMES.slice(0, 10)) same(name);
    // Reads of token names never build the native object; other names are the native one's to judge.
    expect(lazy.built).toBe(false);
    for (const name of NAMES.slice(10)) same(name);
  });

  test("iteration, count, toJSON, getSetCookie and forEach give the native answers", () => {
    const lazy = new LazyHeaders(FIELDS), real = native(FIELDS);
    expect([...lazy]).toEqual([...real]);
    expect([...lazy.keys()]).toEqual([...real.keys()]);
    expect([...lazy.values()]).toEqual([...real.values()]);
    expect(lazy.count).toBe(real.count);
    expect(lazy.toJSON()).toEqual(real.toJSON());
    expect(lazy.getSetCookie()).toEqual(["s=1", "t=2"]);
    const seen: unknown[] = [];
    lazy.forEach(function (this: unknown, v, k, parent) {
      seen.push([k, v, parent === lazy, this]);
    }, "ctx");
    expect(seen).toEqual([...real].map(([k, v]) => [k, v, true, "ctx"]));
  });

  test("changes are seen by later reads, and by a Request or Response built from it", () => {
    const lazy = new LazyHeaders(FIELDS);
    lazy.set("x-a", "3");
    lazy.delete("accept");
    lazy.append("x-new", "n");
    expect([lazy.get("x-a"), lazy.has("accept"), lazy.get("X-New")]).toEqual(["3", false, "n"]);
    const req = new Request("http://localhost/", { headers: lazy });
    expect([req.headers.get("x-a"), req.headers.get("x-new"), req.headers.has("accept")]).toEqual(["3", "n", false]);
    expect(new Response(null, { headers: lazy }).headers.get("x-new")).toBe("n");
  });

  test("is a Headers to instanceof and JSON.stringify", () => {
    const lazy = new LazyHeaders(["host", "h"]);
    expect(lazy instanceof Headers).toBe(true);
    expect(JSON.parse(JSON.stringify(lazy))).toEqual({ host: "h" });
  });
});
