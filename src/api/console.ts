// GET / and GET /console/*: the web console (src/web), one static page with its script and style
// sheet. These files are all that stays public when API keys are set: the page asks for a key and
// sends it with every API call it makes, as any other client would.
//
// Every answer carries a Content-Security-Policy that allows scripts, styles and fetches from this
// origin only: no inline script or style, no eval, no plugin, no framing. Even if a model's text
// were ever put into the page as markup, the browser would not run what it carries.
import { Elysia } from "elysia";
import { ApiError } from "./errors.ts";
import type { ApiDeps, ConsoleFile } from "./state.ts";

const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  // data: for the page's empty favicon, which spares browsers a request for /favicon.ico.
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

/** The page is revalidated on every load (it names the current assets); assets have hashed names. */
const PAGE_CACHE = "no-cache";
const ASSET_CACHE = "public, max-age=31536000, immutable";

interface Served {
  body: Uint8Array;
  gzip: Uint8Array;
  headers: Record<string, string>;
  etag: string;
}

/** The paths the console answers; auth lets them through without a key. */
export const isConsolePath = (path: string): boolean => path === "/" || path.startsWith("/console/");

function prepare(files: readonly ConsoleFile[]): Map<string, Served> {
  const out = new Map<string, Served>();
  for (const f of files) {
    const body = new TextEncoder().encode(f.text);
    const etag = `"${Bun.hash(body).toString(36)}"`;
    const headers = { ...SECURITY_HEADERS, "content-type": f.type, "cache-control": f.path === "/" ? PAGE_CACHE : ASSET_CACHE, etag, vary: "Accept-Encoding" };
    // Compressed once here: the script is most of the bytes and compresses about 3:1.
    out.set(f.path, { body, gzip: Bun.gzipSync(body, { level: 9 }), headers, etag });
  }
  return out;
}

/** True when the client takes gzip (a `gzip;q=0` refusal included). */
function acceptsGzip(request: Request): boolean {
  const m = /(?:^|,)\s*gzip\s*(?:;\s*q\s*=\s*([0-9.]+))?/i.exec(request.headers.get("accept-encoding") ?? "");
  return m !== null && (m[1] === undefined || Number(m[1]) > 0);
}

function answer(file: Served, request: Request): Response {
  if (request.headers.get("if-none-match") === file.etag) return new Response(null, { status: 304, headers: file.headers });
  if (!acceptsGzip(request)) return new Response(file.body, { headers: file.headers });
  return new Response(file.gzip, { headers: { ...file.headers, "content-encoding": "gzip" } });
}

export function consoleRoutes(deps: ApiDeps) {
  const load = deps.webConsole;
  const plugin = new Elysia({ name: "console" });
  if (!load) return plugin;
  let files: Promise<Map<string, Served>> | undefined;
  const served = (): Promise<Map<string, Served>> =>
    (files ??= load().then(prepare, (err: unknown) => {
      // Not cached: a later request tries again (the sources may have been fixed meanwhile).
      files = undefined;
      deps.log.error("cannot bundle the web console", { error: String((err as Error)?.stack ?? err) });
      throw new ApiError(500, "console_unavailable", "the web console could not be built: see the server log");
    }));
  const serve = async (path: string, request: Request): Promise<Response> => {
    const file = (await served()).get(path);
    if (!file) throw new ApiError(404, "not_found", `no console file at ${path}`);
    return answer(file, request);
  };
  const hidden = { detail: { hide: true } };
  return plugin
    .get("/", ({ request }) => serve("/", request), hidden)
    .get("/console/*", ({ params, request }) => serve(`/console/${params["*"]}`, request), hidden);
}
