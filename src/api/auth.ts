// API-key check. Keys and presented credentials are both hashed to 32 bytes before
// timingSafeEqual, so neither a key's content nor its length shows in response times, and every
// configured key is compared on every request so the position of a match does not show either.
import { createHash, timingSafeEqual } from "node:crypto";
import { ApiError } from "./errors.ts";

const digest = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest();

/** Routes open without a key: load balancers and orchestrators probe /health unauthenticated. */
const OPEN_PATHS = new Set(["/health"]);

interface KeyCheck {
  /** undefined: let the request through; otherwise the 401 to answer. */
  check(request: Request, path: string): ApiError | undefined;
}

function bearerToken(header: string): string | undefined {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return m?.[1];
}

/** `open`: further paths that need no key (the web console's static files). */
export function keyCheck(keys: readonly string[], open: (path: string) => boolean = () => false): KeyCheck | undefined {
  if (keys.length === 0) return undefined;
  const digests = keys.map(digest);
  const matches = (presented: string): boolean => {
    const d = digest(presented);
    let ok = false;
    // timingSafeEqual first: `||` must not skip the remaining comparisons once one matched.
    for (const k of digests) ok = timingSafeEqual(k, d) || ok;
    return ok;
  };
  return {
    check(request, path) {
      if (OPEN_PATHS.has(path) || open(path)) return undefined;
      const authorization = request.headers.get("authorization");
      const apiKey = request.headers.get("x-api-key");
      if (authorization === null && apiKey === null) {
        return new ApiError(401, "missing_api_key", "an API key is required: send Authorization: Bearer <key> or X-Api-Key: <key>");
      }
      const bearer = authorization === null ? undefined : bearerToken(authorization);
      // Both headers are checked when both are sent (the SDKs always send Authorization, even a dummy one).
      if ((bearer !== undefined && matches(bearer)) || (apiKey !== null && matches(apiKey.trim()))) return undefined;
      if (authorization !== null && bearer === undefined && apiKey === null) {
        return new ApiError(401, "invalid_authorization", "malformed Authorization header: expected Bearer <key>");
      }
      return new ApiError(401, "invalid_api_key", "invalid API key");
    },
  };
}

export const AUTH_CHALLENGE = { "www-authenticate": 'Bearer realm="warren"' };
