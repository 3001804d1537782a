// JSON answers that carry their own serialization, so our transport can send them without reading
// the Response back through the Web API (status, a Headers object, the body as bytes): that reading
// costs about as much as parsing and answering the request (bench/http, "warren" contender).
//
// preparedResponses() maps what a handler returns as a plain object or array (what Elysia would
// turn into Response.json(value, set)) to a PreparedResponse: a real Response with the same status,
// headers and body, plus the same facts under Symbol.for("warren.response-parts"), which
// src/http/bridge.ts reads. The facts stand only while the Response is untouched: the first access
// to its headers or body (a hook adding a header, main.ts closing the connection while draining, a
// clone) moves the headers into the native Response and drops the facts, so from then on the
// Response itself is the only truth.
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

export class PreparedResponse extends Response {
  [RESPONSE_PARTS]: ResponseFacts | null;
  /** Headers not yet copied into the native Response (null once they are). */
  #pending: Record<string, string> | null;

  constructor(body: Uint8Array, status: number, headers: Record<string, string>) {
    // An init object costs more to read than the rest of the construction: 200 is the default.
    if (status === 200) super(body);
    else super(body, { status });
    this.#pending = headers;
    this[RESPONSE_PARTS] = { status, headers, body };
  }

  /** Anyone who looks at the headers may change them: from here on the native Response is the truth. */
  override get headers(): Headers {
    const native = super.headers;
    if (this.#pending !== null) {
      // A Uint8Array body got no content-type; ours (and any other header) replaces whatever is there.
      for (const name in this.#pending) native.set(name, this.#pending[name]!);
      this.#pending = null;
      this[RESPONSE_PARTS] = null;
    }
    return native;
  }

  static {
    // Reading the body makes the native Response the truth too. (Defined here, not as methods:
    // Bun's types declare these members as properties.)
    const proto = PreparedResponse.prototype as unknown as Record<string, unknown>;
    const base = Response.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const name of ["text", "json", "arrayBuffer", "bytes", "blob", "formData"]) {
      const read = base[name]!;
      Object.defineProperty(proto, name, {
        configurable: true,
        writable: true,
        value(this: PreparedResponse, ...args: unknown[]) {
          this[RESPONSE_PARTS] = null;
          return read.apply(this, args);
        },
      });
    }
    const body = Object.getOwnPropertyDescriptor(Response.prototype, "body")!.get!;
    Object.defineProperty(proto, "body", {
      configurable: true,
      get(this: PreparedResponse) {
        this[RESPONSE_PARTS] = null;
        return body.call(this);
      },
    });
    const clone = base.clone!;
    Object.defineProperty(proto, "clone", {
      configurable: true,
      writable: true,
      value(this: PreparedResponse) {
        void this.headers; // the clone must carry the headers
        return clone.call(this);
      },
    });
  }
}

/** A JSON answer as Response.json(value, { status, headers }) would give it. */
export function preparedJson(value: unknown, status: number, headers: Record<string, unknown>): PreparedResponse {
  // As a Headers object built from a record: names are case-insensitive, repeats are joined with
  // ", ", and the JSON content-type applies only when none is given.
  const all: Record<string, string> = {};
  for (const name in headers) {
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
