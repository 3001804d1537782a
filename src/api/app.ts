// The Elysia app: all routes plus the single place errors become responses.
// Native routes answer errors as {"success":false,"error":{code,message}}; /v1/* routes in OpenAI's
// {"error":{message,type,param,code}} shape.
import { Elysia } from "elysia";
import { ApiError, retryHeaders, toApiError } from "./errors.ts";
import { nativeRoutes } from "./native.ts";
import type { ApiDeps } from "./state.ts";

export function errorResponse(path: string, err: ApiError): Response {
  const body = path.startsWith("/v1/")
    ? { error: { message: err.message, type: openAiType(err.status), param: err.param ?? null, code: err.code } }
    : { success: false, error: { code: err.code, message: err.message } };
  return new Response(JSON.stringify(body), {
    status: err.status,
    headers: { "content-type": "application/json", ...retryHeaders(err) },
  });
}

function openAiType(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 404) return "not_found_error";
  if (status === 503) return "server_overloaded";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

export function createApp(deps: ApiDeps) {
  return new Elysia()
    .onError(({ code, error, request }) => {
      const err = toApiError(code, error);
      if (err.status >= 500 && err.code === "internal_error") deps.log.error("unhandled error", { error: String((error as Error)?.stack ?? error) });
      return errorResponse(new URL(request.url).pathname, err);
    })
    .use(nativeRoutes(deps));
}
