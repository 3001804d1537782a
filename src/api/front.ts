// The app's front: what every request gets before and after its route, done around the Elysia app
// rather than in an onRequest hook of it. In order: an X-Request-Id (kept from the client when it is
// a plain token, else a fresh one), then the screens (CORS preflight, which never needs a key; API
// key; body size), whose refusals are answered here and never reach the router. Every answer, the
// route's or the front's, leaves with the id and the CORS headers the request earned.
//
// In that hook the same work cost about 30% of a pipelined GET /health's CPU (access log off):
// Elysia threads a hook's headers through set.headers into every answer (each then checked again as
// a Headers object would), while here they are written once into the answer the route made.
import { PreparedResponse } from "../prepared-response.ts";

export interface Screens {
  /** Runs first for every request: the preflight answer when the request is one (it carries only the id). */
  preflight(request: Request): Response | undefined;
  /** Headers every other answer carries (CORS); undefined when there are none. */
  headers(request: Request): Record<string, string> | undefined;
  /** The refusal to send instead of the route (missing key, body too large), or undefined. */
  refusal(request: Request): Response | undefined;
}

/** The app as the transport and tests see it. */
interface Front {
  /** Answers synchronously where the route does: a settled answer spares the transport a promise. */
  fetch(request: Request): Response | Promise<Response>;
  /** The same, always as a promise. */
  handle(request: Request): Promise<Response>;
}

// Proxies (deploy/nginx) send their own id so one request can be followed across both logs; a
// client-chosen value lands in our logs and headers, so only a plain token is kept.
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const REQUEST_ID = Symbol("warren.requestId");
type Tagged = Request & { [REQUEST_ID]?: string };
// Generated ids are 32 hex digits, as nginx's $request_id: 80 random bits chosen at start, then a
// 48-bit counter. Unique within the process and, by the random part, across replicas; a fresh UUID
// per request cost more than the rest of the id handling together. The counter's low 24 bits are
// two 3-digit halves read from a table: number-to-hex formatting showed in profiles.
const hex = (n: number, digits: number): string => (n + 2 ** (4 * digits)).toString(16).slice(1);
const HEX3 = Array.from({ length: 4096 }, (_, n) => hex(n, 3));
const ID_PREFIX = Array.from(crypto.getRandomValues(new Uint8Array(10)), (b) => hex(b, 2)).join("");
let idHigh = 0, idLow = 0, idStem = ID_PREFIX + hex(0, 6) + HEX3[0];
function newRequestId(): string {
  if (++idLow === 0x1000000) {
    idLow = 0;
    idHigh = (idHigh + 1) & 0xffffff;
  }
  // The stem (prefix, high part, upper half of the low part) changes once every 4096 ids.
  if ((idLow & 0xfff) === 0) idStem = ID_PREFIX + hex(idHigh, 6) + HEX3[idLow >>> 12];
  return idStem + HEX3[idLow & 0xfff]!;
}

/** The X-Request-Id a request was answered with, for main.ts's access log (api/ cannot reach the server). */
export const requestIdOf = (req: Request): string | undefined => (req as Tagged)[REQUEST_ID];

export function front(app: { fetch(request: Request): Response | Promise<Response> }, screens: Screens): Front {
  const fetch = (request: Request): Response | Promise<Response> => {
    const sent = request.headers.get("x-request-id");
    const id = sent !== null && SANE_REQUEST_ID.test(sent) ? sent : newRequestId();
    (request as Tagged)[REQUEST_ID] = id;
    const preflight = screens.preflight(request);
    if (preflight) return stamp(preflight, id, undefined);
    const headers = screens.headers(request);
    const res = screens.refusal(request) ?? app.fetch(request);
    return res instanceof Promise ? res.then((r) => stamp(r, id, headers)) : stamp(res, id, headers);
  };
  return { fetch, handle: async (request) => fetch(request) };
}

/** The answer with the front's headers set on it (a copy when its own headers refuse changes). */
function stamp(res: Response, id: string, headers: Record<string, string> | undefined): Response {
  if (res instanceof PreparedResponse) {
    // The id passed SANE_REQUEST_ID or was made here: nothing in it for a Headers object to refuse.
    res.setCheckedHeader("x-request-id", id);
    if (headers) for (const name in headers) res.setHeader(name, headers[name]!);
    return res;
  }
  let target = res;
  try {
    res.headers.set("x-request-id", id);
  } catch {
    // Response.redirect() and Response.error() hold immutable headers.
    target = new Response(res.body, res);
    target.headers.set("x-request-id", id);
  }
  if (headers) for (const name in headers) target.headers.set(name, headers[name]!);
  return target;
}
