// llama-server's error shape, {"error": {"code": 400, "message": "...", "type": "invalid_request_error"}}
// (tools/server/server-common.cpp format_error_response), for llama-server's own routes. The
// routes without /v1 that llama-server keeps as aliases of OpenAI's answer in OpenAI's shape, like
// their /v1 twins.
import type { ApiError } from "../errors.ts";

/** Routes of llama-server's own API that Warren serves (their errors take llama-server's shape). */
const LLAMA_PATHS = new Set(["/completion", "/completions", "/infill", "/apply-template", "/props", "/slots", "/embedding", "/embeddings", "/v1/health", "/models", "/lora-adapters", "/tokenize", "/detokenize"]);
/** llama-server's aliases of OpenAI routes without the /v1 prefix. */
const OPENAI_ALIASES = new Set(["/chat/completions", "/responses"]);

export const isLlamaPath = (path: string): boolean => LLAMA_PATHS.has(path) || path.startsWith("/slots/");
export const isOpenAiAlias = (path: string): boolean => OPENAI_ALIASES.has(path) || path.startsWith("/responses/");

function typeOf(err: ApiError): string {
  if (err.code === "context_exceeded") return "exceed_context_size_error";
  switch (err.status) {
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 501:
      return "not_supported_error";
    case 503:
      return "unavailable_error";
  }
  return err.status >= 500 ? "server_error" : "invalid_request_error";
}

export function llamaErrorBody(err: ApiError): { error: { code: number; message: string; type: string } } {
  return { error: { code: err.status, message: err.message, type: typeOf(err) } };
}
