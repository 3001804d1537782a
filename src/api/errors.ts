// API errors as data: a stable code, an HTTP status, a message. Every failure the API reports goes
// through toApiError, so the mapping from inference errors and Elysia's own errors lives here only.
import { InferenceError } from "../inference/types.ts";
import { INFERENCE_RETRY_AFTER_S } from "../limits.ts";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly param?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

const INFERENCE_STATUS: Record<InferenceError["code"], number> = {
  queue_full: 503,
  shutting_down: 503,
  context_exceeded: 400,
  invalid_request: 400,
  engine_error: 500,
  model_not_found: 404,
  model_load_failed: 500,
  model_over_budget: 503,
  model_busy: 409,
};

/** Elysia error codes (from onError's `code`) and anything thrown by handlers -> ApiError. */
export function toApiError(code: string | number, error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof InferenceError) return new ApiError(INFERENCE_STATUS[error.code], error.code, error.message, error.param);
  switch (code) {
    case "VALIDATION":
      return new ApiError(400, "invalid_request", validationMessage(error), validationParam(error));
    case "PARSE":
      return new ApiError(400, "invalid_json", "the request body is not valid JSON");
    case "NOT_FOUND":
      return new ApiError(404, "not_found", "no such route");
    case "INVALID_COOKIE_SIGNATURE":
      return new ApiError(400, "invalid_request", "invalid cookie signature");
  }
  return new ApiError(500, "internal_error", "internal server error");
}

export function retryHeaders(err: ApiError): Record<string, string> {
  return err.status === 503 ? { "retry-after": String(INFERENCE_RETRY_AFTER_S) } : {};
}

interface Issue {
  path?: string;
  message?: string;
  schema?: SchemaLike;
}
interface SchemaLike {
  type?: string;
  minimum?: number;
  maximum?: number;
  anyOf?: SchemaLike[];
  /** A schema's own wording for its rule (Elysia's `error` option), used when given. */
  error?: unknown;
}
interface ValidationLike {
  all?: Issue[];
  valueError?: Issue;
}

function validationMessage(error: unknown): string {
  const first = firstIssue(error);
  if (!first) return "invalid request body";
  const field = first.path ? first.path.replace(/^\//, "").replace(/\//g, ".") : "body";
  const own = typeof first.schema?.error === "string" ? first.schema.error : undefined;
  return `${field || "body"}: ${describeExpected(first.schema) ?? own ?? first.message ?? "invalid value"}`;
}

/** TypeBox's messages for numeric unions read "Expected union value": say the actual rule instead. */
function describeExpected(schema: SchemaLike | undefined): string | undefined {
  const numeric = schema?.anyOf?.find((s) => s.type === "integer" || s.type === "number") ?? schema;
  if (!numeric || (numeric.type !== "integer" && numeric.type !== "number")) return undefined;
  const kind = numeric.type === "integer" ? "an integer" : "a number";
  if (numeric.minimum !== undefined && numeric.maximum !== undefined) return `must be ${kind} from ${numeric.minimum} to ${numeric.maximum}`;
  if (numeric.minimum !== undefined) return `must be ${kind} >= ${numeric.minimum}`;
  if (numeric.maximum !== undefined) return `must be ${kind} <= ${numeric.maximum}`;
  return `must be ${kind}`;
}

function validationParam(error: unknown): string | undefined {
  const p = firstIssue(error)?.path;
  return p ? p.replace(/^\//, "").replace(/\//g, ".") || undefined : undefined;
}

function firstIssue(error: unknown): Issue | undefined {
  const v = error as ValidationLike;
  try {
    return v.valueError ?? v.all?.[0];
  } catch {
    return undefined;
  }
}
