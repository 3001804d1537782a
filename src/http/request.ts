// The Request handed to the handler, built lazily. Constructing a native Request (URL parsing,
// a Headers object, the signal) costs more than parsing and answering a small request together,
// while most handlers read only url, method, headers and signal (Elysia reads url, method and
// headers, and the body readers on routes with a body). So those four are answered here, and the native Request is
// built only when anything else is asked of it: body readers, clone, mode... Each of those members
// is written out below and answers from the native Request. (A real subclass cannot wait: its
// constructor has to build the native Request.)
//
// Its prototype chain passes through Request.prototype, so `instanceof Request` holds (the server
// and the application take it for one), though every member is its own. Known differences from a
// native Request: its constructor is LazyRequest, and native code that takes a Request by identity
// rather than by its members (`new Request(req)`, `fetch(req)`) rejects it with a TypeError;
// `new Request(url, req)` (init form, as Elysia's mount uses) works.
import { LazyHeaders } from "./lazy-headers.ts";
import type { RequestHead } from "./parser.ts";

/** Methods a native Request keeps as sent; others are probed each time (see nativeMethod). */
const nativeMethods = new Map<string, string>();

/**
 * Bun's Request keeps the methods it knows and turns others (and odd cases such as "Post") into GET;
 * the lazy request must report what the native one would, so the server can refuse those.
 * Throws where the native constructor would.
 */
export function nativeMethod(method: string): string {
  if (method === "GET") return method;
  const known = nativeMethods.get(method);
  if (known !== undefined) return known;
  const probed = new Request("http://localhost/", { method }).method;
  // Only methods that survive unchanged are cached: a client inventing methods cannot grow the map.
  if (probed === method) nativeMethods.set(method, probed);
  return probed;
}

/** Request fields as a Headers init; repeated fields are joined as Fetch joins them (cookies with "; "). */
function fieldRecord(head: RequestHead): Record<string, string> {
  // Null prototype: a header named "__proto__" must be an ordinary key.
  const fields: Record<string, string> = Object.create(null);
  const h = head.headers;
  for (let k = 0; k < h.length; k += 2) {
    const name = h[k]!, prior = fields[name];
    fields[name] = prior === undefined ? h[k + 1]! : prior + (name === "cookie" ? "; " : ", ") + h[k + 1]!;
  }
  return fields;
}

/** The last URL built and its path (see LazyRequest.url). */
let lastPath = "/", lastUrl = "http://localhost/";

export class LazyRequest implements Request {
  readonly #head: RequestHead;
  readonly #method: string;
  readonly #body: Uint8Array | null;
  readonly #signal: AbortSignal;
  #url: string | null = null;
  #headers: Headers | null = null;
  #native: Request | null = null;

  /** `method` is nativeMethod(head.method); `body` is the complete request body, if any. */
  constructor(head: RequestHead, method: string, body: Uint8Array | null, signal: AbortSignal) {
    this.#head = head;
    this.#method = method;
    this.#body = body;
    this.#signal = signal;
  }

  /** Always http://localhost + origin-form path: Elysia finds the path by position after the host. */
  get url(): string {
    if (this.#url !== null) return this.#url;
    // The last URL is reused for the same path: a flattened string, where a new one would be a rope.
    const path = this.#head.path;
    if (path !== lastPath) {
      lastPath = path;
      lastUrl = "http://localhost" + path;
    }
    return (this.#url = lastUrl);
  }

  get method(): string {
    return this.#method;
  }

  get signal(): AbortSignal {
    return this.#signal;
  }

  get headers(): Headers {
    if (this.#headers !== null) return this.#headers;
    // With a body the native Request will be needed anyway; its Headers is then the only one, so the
    // two can never disagree. Without one, headers read from the parsed fields are far cheaper.
    if (this.#hasBody() || this.#native !== null) return (this.#headers = this.#materialize().headers);
    return (this.#headers = new LazyHeaders(this.#head.headers));
  }

  // Everything else is the native Request's.
  get body(): Request["body"] {
    return this.#materialize().body;
  }
  get bodyUsed(): Request["bodyUsed"] {
    return this.#materialize().bodyUsed;
  }
  get cache(): Request["cache"] {
    return this.#materialize().cache;
  }
  get credentials(): Request["credentials"] {
    return this.#materialize().credentials;
  }
  get destination(): Request["destination"] {
    return this.#materialize().destination;
  }
  get integrity(): Request["integrity"] {
    return this.#materialize().integrity;
  }
  get keepalive(): Request["keepalive"] {
    return this.#materialize().keepalive;
  }
  get mode(): Request["mode"] {
    return this.#materialize().mode;
  }
  get redirect(): Request["redirect"] {
    return this.#materialize().redirect;
  }
  get referrer(): Request["referrer"] {
    return this.#materialize().referrer;
  }
  get referrerPolicy(): Request["referrerPolicy"] {
    return this.#materialize().referrerPolicy;
  }
  get duplex(): Request["duplex"] {
    return this.#materialize().duplex;
  }
  arrayBuffer(): ReturnType<Request["arrayBuffer"]> {
    return this.#materialize().arrayBuffer();
  }
  blob(): ReturnType<Request["blob"]> {
    return this.#materialize().blob();
  }
  bytes(): ReturnType<Request["bytes"]> {
    return this.#materialize().bytes();
  }
  formData(): ReturnType<Request["formData"]> {
    return this.#materialize().formData();
  }
  json(): ReturnType<Request["json"]> {
    return this.#materialize().json();
  }
  text(): ReturnType<Request["text"]> {
    return this.#materialize().text();
  }
  textStream(): ReturnType<Request["textStream"]> {
    return this.#materialize().textStream();
  }
  clone(): ReturnType<Request["clone"]> {
    return this.#materialize().clone();
  }

  #hasBody(): boolean {
    // The Fetch API rejects bodies on GET/HEAD; such a body has no defined meaning anyway (RFC 9110 §9.3.1).
    return this.#body !== null && this.#body.length > 0 && this.#method !== "GET" && this.#method !== "HEAD";
  }

  #materialize(): Request {
    if (this.#native !== null) return this.#native;
    // Headers handed out before this point are copied in: later changes to them stay local to them.
    // Untouched lazy ones are the parsed fields, which the record gives without building a Headers.
    const h = this.#headers;
    const init: RequestInit = { method: this.#method, headers: h === null || (h instanceof LazyHeaders && !h.built) ? fieldRecord(this.#head) : h, signal: this.#signal };
    if (this.#hasBody()) init.body = this.#body;
    return (this.#native = new Request(this.url, init));
  }
}

// Only for `instanceof Request` (and the inherited Symbol.toStringTag): every member is defined above.
Object.setPrototypeOf(LazyRequest.prototype, Request.prototype);
