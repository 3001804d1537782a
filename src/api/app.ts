// The Elysia app: all routes plus the single place errors become responses.
// Native routes answer errors as {"success":false,"error":{code,message}}; /v1/messages* routes in
// Anthropic's {"type":"error","error":{type,message}}; llama-server's own routes in its
// {"error":{code,message,type}}; other /v1/* routes (and their aliases without /v1) in OpenAI's
// {"error":{message,type,param,code}} shape.
//
// Order of work for each request (onRequest): CORS preflight (never needs a key) -> API key ->
// body size; then the route. Every answer, early or not, is counted once for /metrics.
import { Elysia } from "elysia";
import { anthropicRoutes } from "./anthropic/routes.ts";
import { AUTH_CHALLENGE, keyCheck } from "./auth.ts";
import { chatRoutes } from "./openai/chat.ts";
import { consoleRoutes, isConsolePath } from "./console.ts";
import { cors } from "./cors.ts";
import { embeddingRoutes } from "./embeddings.ts";
import { isLlamaPath, isOpenAiAlias, llamaErrorBody } from "./llama/errors.ts";
import { llamaServerRoutes } from "./llama/routes.ts";
import { ApiError, retryHeaders, toApiError } from "./errors.ts";
import { createMetrics, metricsRoutes, UNMATCHED_ROUTE } from "./metrics.ts";
import { modelRoutes } from "./models.ts";
import { nativeRoutes } from "./native.ts";
import { openAiRoutes } from "./openai/routes.ts";
import { openApiSpec } from "./openapi.ts";
import { preparedResponses } from "./prepared.ts";
import { responsesRoutes } from "./responses/routes.ts";
import type { ApiDeps } from "./state.ts";
import { statsRoutes } from "./stats.ts";
import { tokenizeRoutes } from "./tokenize.ts";

function errorResponse(path: string, err: ApiError, headers: Record<string, string> = {}): Response {
  const body = isAnthropicPath(path)
    ? { type: "error", error: { type: anthropicType(err.status), message: err.message } }
    : isLlamaPath(path)
      ? llamaErrorBody(err)
      : path.startsWith("/v1/") || isOpenAiAlias(path)
      ? { error: { message: err.message, type: openAiType(err.status), param: err.param ?? null, code: err.code } }
      : { success: false, error: { code: err.code, message: err.message } };
  return new Response(JSON.stringify(body), {
    status: err.status,
    headers: { "content-type": "application/json", ...retryHeaders(err), ...headers },
  });
}

function openAiType(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 404) return "not_found_error";
  if (status === 503) return "server_overloaded";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

const isAnthropicPath = (path: string): boolean => path === "/v1/messages" || path.startsWith("/v1/messages/");

/** Anthropic's error types (the SDK's ErrorType); 503 is its "overloaded" (Anthropic sends 529). */
function anthropicType(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 404) return "not_found_error";
  if (status === 429) return "rate_limit_error";
  if (status === 503) return "overloaded_error";
  if (status === 504) return "timeout_error";
  if (status >= 500) return "api_error";
  return "invalid_request_error";
}

/** `app.handle` gets absolute URLs; the path is what follows the authority. */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start === -1) return "/";
  for (let i = start; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 0x3f || c === 0x23) return url.slice(start, i); // ? or #
  }
  return url.slice(start);
}

function tooLarge(request: Request, maxBodyBytes: number | undefined): ApiError | undefined {
  const length = Number(request.headers.get("content-length") ?? 0);
  if (maxBodyBytes === undefined || !(length > maxBodyBytes)) return undefined;
  return new ApiError(413, "body_too_large", `the request body (${length} bytes) is larger than the ${maxBodyBytes} bytes allowed`);
}

// Proxies (deploy/nginx) send their own id so one request can be followed across both logs; a
// client-chosen value lands in our logs and headers, so only a plain token is kept.
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const requestIds = new WeakMap<Request, string>();
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
export const requestIdOf = (req: Request): string | undefined => requestIds.get(req);

export function createApp(deps: ApiDeps) {
  const metrics = createMetrics(deps);
  const keys = keyCheck(deps.apiKeys ?? [], deps.webConsole ? isConsolePath : undefined);
  const policy = cors(deps.corsOrigins ?? []);
  let staticRoutes: Set<string> | undefined;
  // Early answers come before routing; label them by path only when it is one of our routes.
  const early = (path: string, status: number) => {
    staticRoutes ??= new Set(app.routes.map((r) => r.path).filter((p) => !p.includes(":") && !p.includes("*")));
    metrics.countRequest(staticRoutes.has(path) ? path : UNMATCHED_ROUTE, status);
  };
  // Bodies are checked as sent. Elysia's default normalizer ("exactMirror") rebuilds a body to its
  // schema before checking it and turns a scalar or a list where an object belongs into an object
  // ("ab" -> {"0":"a","1":"b"}, 5 -> {}), so a malformed field would be taken for an empty one.
  // TypeBox's normalizer checks first and only then drops unknown fields (plugins inherit it).
  const app = new Elysia({ normalize: "typebox" })
    .onRequest(({ request, set }) => {
      // Elysia merges set.headers into every answer, early returns and onError's included.
      const sent = request.headers.get("x-request-id");
      const id = sent !== null && SANE_REQUEST_ID.test(sent) ? sent : newRequestId();
      requestIds.set(request, id);
      set.headers["x-request-id"] = id;
      metrics.watch(deps.state.scheduler);
      const path = pathOf(request.url);
      const preflight = policy.preflight(request);
      if (preflight) {
        early(path, preflight.status);
        return preflight;
      }
      const corsHeaders = policy.headers(request);
      if (corsHeaders) Object.assign(set.headers, corsHeaders);
      const denied = keys?.check(request, path) ?? tooLarge(request, deps.maxBodyBytes);
      // Returned as a variable, never as `return f(...)`: Elysia reads a hook's (transpiled) source,
      // takes a returned call for a promise and then awaits this hook on every request, which sends
      // every answer through an extra microtask (test/api/native.test.ts keeps /health synchronous).
      const refusal = denied && errorResponse(path, denied, denied.status === 401 ? AUTH_CHALLENGE : {});
      if (refusal) {
        early(path, refusal.status);
        return refusal;
      }
    })
    .onAfterHandle({ as: "global" }, ({ route, response, set }) => {
      metrics.countRequest(route, response instanceof Response ? response.status : typeof set.status === "number" ? set.status : 200);
    })
    .onError({ as: "global" }, ({ code, error, request, route }) => {
      const err = toApiError(code, error);
      if (err.status >= 500 && err.code === "internal_error") deps.log.error("unhandled error", { error: String((error as Error)?.stack ?? error) });
      metrics.countRequest(route || UNMATCHED_ROUTE, err.status);
      return errorResponse(pathOf(request.url), err);
    })
    // Before the routes: JSON answers carry their own serialization for the transport (prepared.ts).
    .use(preparedResponses())
    .use(openApiSpec())
    .use(nativeRoutes(deps))
    .use(modelRoutes(deps))
    .use(openAiRoutes(deps))
    .use(chatRoutes(deps))
    .use(responsesRoutes(deps))
    .use(anthropicRoutes(deps))
    .use(tokenizeRoutes(deps))
    .use(embeddingRoutes(deps))
    .use(llamaServerRoutes(deps))
    .use(metricsRoutes(metrics, deps.state))
    .use(statsRoutes(metrics, deps))
    .use(consoleRoutes(deps));
  return app;
}
