// A Response that also carries its status, headers and complete body as plain data ("facts"), so
// a transport can send it without reading it back through the Web API (its Headers, its body
// through a promise).
//
// The one module both sides of the application boundary share: src/api makes PreparedResponses
// (api/prepared.ts), src/http sends their facts (http/bridge.ts). It imports nothing, and uses Web
// APIs only.
//
// A PreparedResponse is a Response (`instanceof Response`, every member of the interface written
// out below) whose native Response is made only when something other than our transport looks at
// it: a JSON answer sent from its facts never builds a native Response or Headers, which would be
// most of its cost (bench/http measures the shipped server; docs/benchmarks.md). The fields are
// checked once, here, by the rules a Headers object applies, so the native Response made later
// from the same fields can never disagree with the facts. The facts stand while it is untouched:
// once its headers or body are asked for, the native Response is the only truth.

/** What a transport may send instead of reading the Response. */
export interface ResponseFacts {
  readonly status: number;
  /** Lower-case names, values as a Headers object holds them (edges trimmed, repeats joined). */
  readonly headers: Readonly<Record<string, string>>;
  /** The complete body; read-only (answers with the same small body may share one array). */
  readonly body: Uint8Array;
}

/** Leading and trailing HTTP whitespace (tab, LF, CR, space): what a Headers object strips from a value. */
const WHITESPACE_EDGES = /^[\t\n\r ]+|[\t\n\r ]+$/g;
/** RFC 9110 token: what a Headers object accepts as a name. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const encoder = new TextEncoder();

// The last small body encoded: a route answering the same JSON again (/health, /v1/models) skips the
// encoding. Compared by content, so it is right whatever string the body arrives in.
const SHARED_BODY_MAX = 4096;
let lastText = "", lastBytes = encoder.encode("");
function bytesOf(text: string): Uint8Array {
  if (text === lastText) return lastBytes;
  const bytes = encoder.encode(text);
  if (text.length <= SHARED_BODY_MAX) {
    lastText = text;
    lastBytes = bytes;
  }
  return bytes;
}

export class PreparedResponse implements Response {
  #facts: ResponseFacts | null;
  readonly #text: string;
  readonly #status: number;
  readonly #fields: Record<string, string>;
  #native: Response | null = null;

  /**
   * `body` is the complete body, sent as UTF-8. `headers` are taken as a Headers object takes a
   * record (names case-insensitive, repeats joined with ", ", values trimmed); `contentType` is
   * added when they name none. Throws as the Response constructor would: a TypeError ("Invalid
   * header name: ...", "Header '...' has invalid value") for a field a Headers object refuses, a
   * RangeError for a status outside 200-599.
   */
  constructor(body: string, status: number, headers: Readonly<Record<string, unknown>>, contentType: string) {
    if (!Number.isInteger(status) || status < 200 || status > 599) throw new RangeError(`The status provided (${status}) must be 200 to 599`);
    this.#fields = fieldsOf(headers, contentType);
    this.#text = body;
    this.#status = status;
    this.#facts = { status, headers: this.#fields, body: bytesOf(body) };
  }

  /**
   * The facts of a PreparedResponse that is still untouched (its headers never asked for, its
   * body never read); null for any other Response.
   */
  static factsOf(res: Response): ResponseFacts | null {
    return #facts in res ? res.#facts : null;
  }

  /** The native Response, made on first need from the same fields; the facts stop standing. */
  #touch(): Response {
    this.#facts = null;
    return (this.#native ??= this.#make());
  }

  get status(): number {
    return this.#status;
  }
  get ok(): boolean {
    return this.#status < 300;
  }
  get statusText(): string {
    return this.#native?.statusText ?? "";
  }
  get type(): Response["type"] {
    return "default";
  }
  get url(): string {
    return "";
  }
  get redirected(): boolean {
    return false;
  }
  get bodyUsed(): boolean {
    return this.#native?.bodyUsed ?? false;
  }
  /** Anyone who looks at the headers may change them: the facts stop standing. */
  get headers(): Headers {
    return this.#touch().headers;
  }
  get body(): ReadableStream<Uint8Array> | null {
    return this.#touch().body;
  }
  arrayBuffer(): ReturnType<Response["arrayBuffer"]> {
    return this.#touch().arrayBuffer();
  }
  blob(): ReturnType<Response["blob"]> {
    return this.#touch().blob();
  }
  bytes(): ReturnType<Response["bytes"]> {
    return this.#touch().bytes();
  }
  formData(): ReturnType<Response["formData"]> {
    return this.#touch().formData();
  }
  json(): Promise<any> {
    return this.#touch().json();
  }
  text(): Promise<string> {
    return this.#touch().text();
  }
  textStream(): ReturnType<Response["textStream"]> {
    return this.#touch().textStream();
  }
  /**
   * Sets one field as Headers.set would (replacing any field of that name), without touching this
   * response: its facts stay. Throws the TypeError a Headers object would for a refused name or value.
   */
  setHeader(name: string, value: string): void {
    if (this.#native !== null) return this.#native.headers.set(name, value);
    this.#fields[lowerName(name)] = fieldValue(name, value);
  }
  /**
   * setHeader for a field the caller has already checked: `name` a lower-case token, `value` printable
   * ASCII with no edge whitespace (a request id that passed its pattern). Skips the scan setHeader
   * does per value, which showed in profiles of the per-request id.
   */
  setCheckedHeader(name: string, value: string): void {
    if (this.#native !== null) return this.#native.headers.set(name, value);
    this.#fields[name] = value;
  }
  /** A copy does not touch this one: its facts stay. */
  clone(): Response {
    // (Bun's types declare Response.clone() with the undici Response type.)
    return this.#native !== null ? (this.#native.clone() as unknown as Response) : this.#make();
  }
  /** Inspection (console.log, util.inspect) shows what the native Response would, without touching this one. */
  [Symbol.for("nodejs.util.inspect.custom")](): Response {
    return this.#native ?? this.#make();
  }

  #make(): Response {
    return new Response(this.#text, { status: this.#status, headers: this.#fields });
  }
}
// The one link to the native class, so `instanceof Response` (Elysia's check for a finished answer) holds.
Object.setPrototypeOf(PreparedResponse.prototype, Response.prototype);

/** Names already checked, by their lower-case form: answers set the same few names again and again. */
const checkedNames = new Map<string, string>();
const CHECKED_NAMES_MAX = 256;

/** A header name's lower-case form; throws the TypeError a Headers object would for one it refuses. */
function lowerName(name: string): string {
  let key = checkedNames.get(name);
  if (key !== undefined) return key;
  if (!TOKEN.test(name)) throw new TypeError(`Invalid header name: '${name}'`);
  key = name.toLowerCase();
  if (checkedNames.size < CHECKED_NAMES_MAX) checkedNames.set(name, key);
  return key;
}

const isEdgeSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/** A value as a Headers object holds it (edges trimmed); throws the TypeError it would for a refused one. */
function fieldValue(name: string, value: string): string {
  if (value.length > 0 && (isEdgeSpace(value.charCodeAt(0)) || isEdgeSpace(value.charCodeAt(value.length - 1)))) value = value.replace(WHITESPACE_EDGES, "");
  // NUL, CR, LF, and anything past Latin-1: what a Headers object refuses in a (trimmed) value.
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0 || c === 0x0a || c === 0x0d || c > 0xff) throw new TypeError(`Header '${name}' has invalid value: '${value}'`);
  }
  return value;
}

/**
 * The record as a Headers object would hold it: lower-case names, trimmed values, repeats joined.
 * Throws the TypeError a Headers object would for a refused name or value.
 */
function fieldsOf(headers: Readonly<Record<string, unknown>>, contentType: string): Record<string, string> {
  // Null prototype: names such as "constructor" or "__proto__" are ordinary keys.
  const fields: Record<string, string> = Object.create(null);
  for (const name in headers) {
    const key = lowerName(name);
    const value = fieldValue(name, String(headers[name]));
    fields[key] = key in fields ? `${fields[key]}, ${value}` : value;
  }
  if (!("content-type" in fields)) fields["content-type"] = contentType;
  return fields;
}
