// JSON answers as PreparedResponses (src/prepared-response.ts): Responses that also carry their
// status, headers and body as plain facts, which our transport sends without reading the Response
// back through the Web API.
//
// preparedResponses() maps what a handler returns as a plain object or array (what Elysia would
// turn into Response.json(value, set)) to a PreparedResponse with the same status, headers and body.
import { Elysia } from "elysia";
import { PreparedResponse } from "../prepared-response.ts";

/** What Response.json sets (Bun). */
export const JSON_CONTENT_TYPE = "application/json;charset=utf-8";

/**
 * A JSON answer as Response.json(value, { status, headers }) would give it. Throws where that
 * would: a header a Headers object refuses, a status out of range.
 */
export function preparedJson(value: unknown, status: number, headers: Readonly<Record<string, unknown>>): PreparedResponse {
  return new PreparedResponse(JSON.stringify(value), status, headers, JSON_CONTENT_TYPE);
}

/** No headers of the route's own: what a route making its own PreparedResponse passes. */
export const NO_HEADERS: Readonly<Record<string, unknown>> = Object.freeze({});

function isPlainJson(value: unknown): value is object {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === Array.prototype || proto === null;
}

/**
 * The Elysia plugin: register it before the routes it should cover. Answers with cookies, a
 * redirect or a named status are left to Elysia, as is everything that is not a plain object or
 * array. The set headers and status move into the PreparedResponse, so Elysia has nothing left to
 * merge (merging would copy the Response into a new one) and passes it on as it is.
 */
export function preparedResponses() {
  return new Elysia({ name: "warren-prepared-responses" }).mapResponse({ as: "global" }, ({ response, set }) => {
    // Returned from here, a Response is passed on as it is; returned from the route, Elysia would copy
    // it into a new one to merge the set headers.
    // Elysia reads a hook's source: one that returns a call's result is taken for one that may return
    // a promise, which then costs every request a promise. (Bun's transpiler folds `const a = f();
    // return a;` back into such a return.)
    if (response instanceof PreparedResponse) {
      moveSetHeaders(response, set);
      return response;
    }
    if (!isPlainJson(response) || typeof set.status !== "number" || set.cookie !== undefined || set.redirect !== undefined) return;
    let prepared: PreparedResponse;
    try {
      prepared = preparedJson(response, set.status, set.headers);
    } catch {
      // A header or status the Response refuses: Elysia's own path refuses it too, with its error.
      return;
    }
    set.headers = {};
    set.status = 200;
    return prepared;
  });
}

/** The route's set headers moved onto its prepared answer (as Elysia would merge them; the answer's own status stands). */
function moveSetHeaders(res: PreparedResponse, set: { headers: Record<string, unknown>; status?: unknown }): void {
  for (const name in set.headers) res.setHeader(name, String(set.headers[name]));
  set.headers = {};
  set.status = 200;
}
