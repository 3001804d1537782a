// JSON answers that carry their own serialization, so our transport can send them without reading
// the Response back through the Web API (status, a Headers object, the body as bytes): that reading
// costs about as much as parsing and answering the request (bench/http, "warren" contender).
//
// preparedResponses() maps what a handler returns as a plain object or array (what Elysia would
// turn into Response.json(value, set)) to a PreparedResponse: a Response with the same status,
// headers and body, plus the same facts under Symbol.for("warren.response-parts"), which
// src/http/bridge.ts reads.
//
// It is built lazily, as http/request.ts builds the Request: making (and collecting) a native
// Response was about a fifth of the cost of a small JSON answer in process. Status and ok are
// answered from the facts; any other member (headers, body readers, clone...) builds the native
// Response, forwards to it and drops the facts, so from then on the Response itself is the only
// truth (a hook adding a header, a test reading the body). Its prototype chain passes through
// Response.prototype and its constructor reads as Response, so `instanceof Response` holds and
// Elysia passes it through untouched. Known difference: native code that takes a Response by
// identity rather than by its members does not take it (a Bun.serve fetch handler returning it).
import { Elysia } from "elysia";

export const RESPONSE_PARTS = Symbol.for("warren.response-parts");

/** The shape src/http/bridge.ts expects: lower-case header names, trimmed values, body complete. */
export interface ResponseFacts {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array;
}

/** Leading and trailing spaces and tabs: what a Headers object strips from a value (and nothing else). */
const OWS_EDGES = /^[\t ]+|[\t ]+$/g;
/** What a Headers object refuses in a value: CR, LF, NUL, and characters beyond Latin-1. */
const BAD_VALUE = /[\r\n\0\u0100-\uffff]/;

/** What Response.json sets (Bun). */
const JSON_CONTENT_TYPE = "application/json;charset=utf-8";
const encoder = new TextEncoder();
/** The headers of most answers, shared (read only: nothing writes to facts). */
const JSON_ONLY: Record<string, string> = Object.freeze({ "content-type": JSON_CONTENT_TYPE });

export class PreparedResponse {
  [RESPONSE_PARTS]: ResponseFacts | null;
  /** What it was made of: kept after the facts are dropped, to build the native Response from. */
  readonly #facts: ResponseFacts;
  #native: Response | null = null;

  constructor(body: Uint8Array, status: number, headers: Record<string, string>) {
    this[RESPONSE_PARTS] = this.#facts = { status, headers, body };
  }

  get status(): number {
    return this.#facts.status;
  }

  get ok(): boolean {
    return this.#facts.status >= 200 && this.#facts.status <= 299;
  }

  /** Anyone who looks at the headers may change them: from here on the native Response is the truth. */
  get headers(): Headers {
    return this.#materialize().headers;
  }

  /** The native Response, built on first need; the facts stop standing from then on. */
  #materialize(): Response {
    this[RESPONSE_PARTS] = null;
    if (this.#native !== null) return this.#native;
    const { status, headers, body } = this.#facts;
    // A Uint8Array body gets no content-type of its own: the one in `headers` is the only one.
    return (this.#native = status === 200 ? new Response(body, { headers }) : new Response(body, { status, headers }));
  }

  static {
    // Every other member of Response (body readers, clone, statusText, type...) forwards to the
    // native Response, built on first use.
    const proto = PreparedResponse.prototype as unknown as Record<PropertyKey, unknown>;
    const materialize = (r: PreparedResponse) => r.#materialize();
    for (let p: object | null = Response.prototype; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
      for (const key of Reflect.ownKeys(p)) {
        if (key === "constructor" || Object.prototype.hasOwnProperty.call(proto, key)) continue;
        const d = Object.getOwnPropertyDescriptor(p, key)!;
        if (typeof d.value === "function") {
          const method = d.value as (...args: unknown[]) => unknown;
          Object.defineProperty(proto, key, {
            configurable: true, writable: true, enumerable: d.enumerable,
            value(this: PreparedResponse, ...args: unknown[]) {
              return method.apply(materialize(this), args);
            },
          });
        } else if (d.get !== undefined) {
          const get = d.get;
          Object.defineProperty(proto, key, {
            configurable: true, enumerable: d.enumerable,
            get(this: PreparedResponse) {
              return get.call(materialize(this));
            },
          });
        }
      }
    }
    // Bun's inspector (console.log) reads a Response-like object through native getters, which
    // refuse this one: it is shown as the native Response instead.
    Object.defineProperty(proto, Symbol.for("nodejs.util.inspect.custom"), {
      configurable: true, writable: true,
      value(this: PreparedResponse) {
        return materialize(this);
      },
    });
    Object.setPrototypeOf(proto, Response.prototype);
    // As a native Response reports it: Elysia dispatches on constructor names, and passes a
    // "Response" through untouched.
    Object.defineProperty(proto, "constructor", { value: Response, writable: true, configurable: true, enumerable: false });
  }
}

/** Response's members, all forwarded (see the static block): the class answers only a few itself. */
export interface PreparedResponse extends Response {}

/** A JSON answer as Response.json(value, { status, headers }) would give it. */
export function preparedJson(value: unknown, status: number, headers: Record<string, unknown>): PreparedResponse {
  // As a Headers object built from a record: names are case-insensitive, repeats are joined with
  // ", ", and the JSON content-type applies only when none is given.
  let all = JSON_ONLY;
  for (const name in headers) {
    if (all === JSON_ONLY) all = {};
    const key = name.toLowerCase();
    const v = String(headers[name]).replace(OWS_EDGES, "");
    all[key] = key in all ? `${all[key]}, ${v}` : v;
  }
  if (!("content-type" in all)) all["content-type"] = JSON_CONTENT_TYPE;
  return new PreparedResponse(encoder.encode(JSON.stringify(value)), status, all);
}

/** What a Headers object accepts: a token name, a value without CR, LF, NUL or non-Latin-1 characters. */
function cleanHeaders(headers: Record<string, unknown>): boolean {
  for (const name in headers) {
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name) || BAD_VALUE.test(String(headers[name]))) return false;
  }
  return true;
}

function isPlainJson(value: unknown): value is object {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === Array.prototype || proto === null;
}

/**
 * The Elysia plugin: register it before the routes it should cover. Answers with cookies, a
 * redirect, a named status or headers a Headers object would refuse are left to Elysia, as is
 * everything that is not a plain object or array. The set headers and status move into the
 * PreparedResponse, so Elysia has nothing left to merge (merging would copy the Response into a
 * new one).
 */
export function preparedResponses() {
  return new Elysia({ name: "warren-prepared-responses" }).mapResponse({ as: "global" }, ({ response, set }) => {
    if (!isPlainJson(response) || typeof set.status !== "number" || set.cookie !== undefined || set.redirect !== undefined) return;
    // Headers a Headers object would refuse: Elysia's own path raises the error.
    if (!cleanHeaders(set.headers)) return;
    const prepared = preparedJson(response, set.status, set.headers);
    for (const name in set.headers) delete set.headers[name];
    set.status = 200;
    return prepared;
  });
}
