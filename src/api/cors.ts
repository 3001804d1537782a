// CORS for browser clients. No origin is allowed unless configured. Preflights are answered
// here, before auth: browsers never send credentials on a preflight, so requiring a key there
// would break every cross-origin call.
const ALLOW_METHODS = "GET, POST, OPTIONS";
/** How long browsers may cache a preflight answer (s). */
const PREFLIGHT_MAX_AGE_S = 600;
/** Header names a preflight may ask for; anything else is not echoed back. */
const HEADER_LIST = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$/;

interface Cors {
  /** Headers for an actual (non-preflight) response; undefined when there are none. */
  headers(request: Request): Record<string, string> | undefined;
  /** The 204 answer when `request` is a preflight, else undefined. */
  preflight(request: Request): Response | undefined;
}

export function cors(origins: readonly string[]): Cors {
  const any = origins.includes("*");
  const allowed = new Set(origins);
  const allowOrigin = (origin: string | null): string | undefined => {
    if (origin === null) return undefined;
    if (any) return "*";
    return allowed.has(origin) ? origin : undefined;
  };
  // The answer depends on Origin whenever a list (not "*") decides it; caches must key on it.
  const vary: Record<string, string> = any || origins.length === 0 ? {} : { vary: "Origin" };
  return {
    headers(request) {
      // No origin allowed: nothing to add, whatever the request says.
      if (origins.length === 0) return undefined;
      const origin = allowOrigin(request.headers.get("origin"));
      return origin ? { ...vary, "access-control-allow-origin": origin } : { ...vary };
    },
    preflight(request) {
      if (request.method !== "OPTIONS" || !request.headers.has("access-control-request-method")) return undefined;
      const headers: Record<string, string> = { vary: "Origin, Access-Control-Request-Headers" };
      const origin = allowOrigin(request.headers.get("origin"));
      if (origin) {
        headers["access-control-allow-origin"] = origin;
        headers["access-control-allow-methods"] = ALLOW_METHODS;
        headers["access-control-max-age"] = String(PREFLIGHT_MAX_AGE_S);
        // Echo what was asked: the OpenAI SDKs send many x-stainless-* headers a fixed list would miss.
        const asked = request.headers.get("access-control-request-headers");
        if (asked && HEADER_LIST.test(asked)) headers["access-control-allow-headers"] = asked;
      }
      return new Response(null, { status: 204, headers });
    },
  };
}
