// The Elysia app: all routes plus the single place errors become responses.
// Native routes answer errors as {"success":false,"error":{code,message}}; /v1/messages* routes in
// Anthropic's {"type":"error","error":{type,message}}; llama-server's own routes in its
// {"error":{code,message,type}}; other /v1/* routes (and their aliases without /v1) in OpenAI's
// {"error":{message,type,param,code}} shape.
//
// Before the route, the front (front.ts) gives each request its id and screens it: CORS preflight
// (never needs a key) -> API key -> body size. Every answer, early or not, is counted once for /metrics.
import { Elysia } from "elysia";
import { anthropicRoutes } from "./anthropic/routes.ts";
import { AUTH_CHALLENGE, keyCheck } from "./auth.ts";
import { chatRoutes } from "./openai/chat.ts";
import { consoleRoutes, isConsolePath } from "./console.ts";
import { cors } from "./cors.ts";
import { embeddingRoutes } from "./embeddings.ts";
import { front, type Screens } from "./front.ts";
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

/** Only a request with a body can be too large (GET and HEAD bodies are not read). */
const hasBody = (request: Request): boolean => request.method !== "GET" && request.method !== "HEAD";

function tooLarge(request: Request, maxBodyBytes: number | undefined): ApiError | undefined {
  const length = Number(request.headers.get("content-length") ?? 0);
  if (maxBodyBytes === undefined || !(length > maxBodyBytes)) return undefined;
  return new ApiError(413, "body_too_large", `the request body (${length} bytes) is larger than the ${maxBodyBytes} bytes allowed`);
}

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
  const screens: Screens = {
    preflight(request) {
      // The first screen every request meets: a scheduler set since the last request gets the observer.
      metrics.watch(deps.state.scheduler);
      if (request.method !== "OPTIONS") return undefined;
      const answer = policy.preflight(request);
      if (answer) early(pathOf(request.url), answer.status);
      return answer;
    },
    headers: (request) => policy.headers(request),
    refusal(request) {
      if (keys === undefined && !hasBody(request)) return undefined;
      const path = pathOf(request.url);
      const denied = keys?.check(request, path) ?? tooLarge(request, deps.maxBodyBytes);
      if (!denied) return undefined;
      early(path, denied.status);
      return errorResponse(path, denied, denied.status === 401 ? AUTH_CHALLENGE : {});
    },
  };
  return { ...front(app, screens), routes: app.routes };
}
