// The console never turns text into markup and carries nothing its Content-Security-Policy would
// have to allow: no inline script, handler or style, no eval. Checked on the sources and on the
// bundle the server actually serves.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { bundleConsole } from "../../src/web/bundle.ts";

const WEB = resolve(import.meta.dir, "../../src/web");

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : /\.(ts|html|css)$/.test(n) ? [p] : [];
  });
}

/** Ways a string becomes markup or code in a page. */
const MARKUP_SINKS = /\b(innerHTML|outerHTML|insertAdjacentHTML|document\.write|createContextualFragment|DOMParser|eval\s*\(|new\s+Function\b|srcdoc)/;

/** What a strict CSP (script-src 'self'; style-src 'self') would block in a page. */
function inlineViolations(html: string): string[] {
  const found: string[] = [];
  for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) if (!/\bsrc=/.test(m[1]!) || m[2]!.trim() !== "") found.push(`inline script: ${m[0].slice(0, 60)}`);
  for (const m of html.matchAll(/<[a-z][^>]*\s(on[a-z]+|style)\s*=/gi)) found.push(`attribute ${m[1]}: ${m[0].slice(0, 60)}`);
  if (/<style\b/i.test(html)) found.push("a <style> element");
  if (/javascript:/i.test(html)) found.push("a javascript: URL");
  return found;
}

describe("console sources", () => {
  const files = sources(WEB);

  test("the scan sees the page, the style sheet and the app modules", () => {
    expect(files.some((f) => f.endsWith("index.html"))).toBe(true);
    expect(files.some((f) => f.endsWith("style.css"))).toBe(true);
    expect(files.filter((f) => f.includes("/app/")).length).toBeGreaterThan(5);
    // The checks below can fail: they do on a page that breaks the rules.
    expect(inlineViolations('<p onclick="x()">a</p><script>alert(1)</script><b style="color:red">')).toHaveLength(3);
    expect(MARKUP_SINKS.test("el.innerHTML = text")).toBe(true);
  });

  test("no code path turns a string into markup or code", () => {
    // Comments may name what the code avoids.
    const code = (f: string) => readFileSync(f, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:])\/\/.*$/gm, "$1");
    const hits = files.filter((f) => f.endsWith(".ts")).flatMap((f) => (MARKUP_SINKS.test(code(f)) ? [f] : []));
    expect(hits).toEqual([]);
  });

  test("the page has no inline script, handler or style", () => {
    expect(inlineViolations(readFileSync(join(WEB, "index.html"), "utf8"))).toEqual([]);
  });
});

describe("the bundle", () => {
  test("one page, one script, one style sheet; the page names both and inlines neither", async () => {
    const files = await bundleConsole();
    expect(files.map((f) => f.type.split(";")[0]).sort()).toEqual(["text/css", "text/html", "text/javascript"]);
    const page = files.find((f) => f.path === "/")!;
    for (const f of files.filter((x) => x.path !== "/")) {
      expect(f.path).toMatch(/^\/console\/[\w.-]+-[a-z0-9]+\.(js|css)$/);
      expect(page.text).toContain(`"${f.path}"`);
    }
    expect(inlineViolations(page.text)).toEqual([]);
    // The bundler must not have brought in a sink from a dependency either.
    expect(files.filter((f) => MARKUP_SINKS.test(f.text)).map((f) => f.path)).toEqual([]);
  });
});
