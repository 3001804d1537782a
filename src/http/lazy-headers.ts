// A request's Headers, answered from the parsed fields until something needs a native Headers.
// The app reads a few fields of every request (request id, origin, authorization, content length):
// building a native Headers and appending every field to it cost more per request than parsing
// the whole head. get() and has() scan the fields; anything else (iteration, counting, changes,
// toJSON) builds the native Headers once and answers from it from then on, so a change is seen by
// every later read.
//
// Like LazyRequest, its prototype chain passes through Headers.prototype, so `instanceof Headers`
// holds, though every member is its own. Native code that takes a Headers by identity treats it as
// any other HeadersInit (it iterates it), which gives the same fields.

/** A field name (RFC 9110 token) as a lookup key: itself when lowercase, lowercased when it has
 *  capitals, or null when it is not a token (the native Headers then answers, or throws its TypeError). */
function lookupKey(name: string): string | null {
  let upper = false;
  if (name.length === 0) return null;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) upper = true;
    else if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f || c === 0x2e || c === 0x21 ||
      (c >= 0x23 && c <= 0x27) || c === 0x2a || c === 0x2b || c === 0x5e || c === 0x60 || c === 0x7c || c === 0x7e)) return null;
  }
  return upper ? name.toLowerCase() : name;
}

export class LazyHeaders implements Headers {
  /** Lowercase name, value, name, value... as the parser left them. */
  readonly #fields: readonly string[];
  #native: Headers | null = null;

  constructor(fields: readonly string[]) {
    this.#fields = fields;
  }

  get(name: string): string | null {
    const key = this.#native === null ? lookupKey(name) : null;
    if (key === null) return this.#materialize().get(name);
    const f = this.#fields;
    let value: string | null = null;
    for (let k = 0; k < f.length; k += 2) {
      if (f[k] !== key) continue;
      // Repeated fields are one comma-separated list (RFC 9110 §5.3); cookies are joined as Fetch joins them.
      value = value === null ? f[k + 1]! : value + (key === "cookie" ? "; " : ", ") + f[k + 1]!;
    }
    return value;
  }

  has(name: string): boolean {
    const key = this.#native === null ? lookupKey(name) : null;
    if (key === null) return this.#materialize().has(name);
    const f = this.#fields;
    for (let k = 0; k < f.length; k += 2) if (f[k] === key) return true;
    return false;
  }

  // Everything else is the native Headers'.
  append(name: string, value: string): void {
    this.#materialize().append(name, value);
  }
  delete(name: string): void {
    this.#materialize().delete(name);
  }
  set(name: string, value: string): void {
    this.#materialize().set(name, value);
  }
  getSetCookie(): string[] {
    return this.#materialize().getSetCookie();
  }
  getAll(name: "set-cookie" | "Set-Cookie"): string[] {
    return this.#materialize().getAll(name);
  }
  get count(): number {
    return this.#materialize().count;
  }
  toJSON(): ReturnType<Headers["toJSON"]> {
    return this.#materialize().toJSON();
  }
  forEach(callback: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void {
    this.#materialize().forEach((value, key) => callback.call(thisArg, value, key, this));
  }
  entries(): ReturnType<Headers["entries"]> {
    return this.#materialize().entries();
  }
  keys(): ReturnType<Headers["keys"]> {
    return this.#materialize().keys();
  }
  values(): ReturnType<Headers["values"]> {
    return this.#materialize().values();
  }
  [Symbol.iterator](): ReturnType<Headers["entries"]> {
    return this.#materialize().entries();
  }

  /** A native Headers was built (for a change, or for a member only it answers). */
  get built(): boolean {
    return this.#native !== null;
  }

  #materialize(): Headers {
    if (this.#native !== null) return this.#native;
    const f = this.#fields;
    const h = new Headers();
    for (let k = 0; k < f.length; k += 2) h.append(f[k]!, f[k + 1]!);
    return (this.#native = h);
  }
}

// Only for `instanceof Headers`: every member is defined above.
Object.setPrototypeOf(LazyHeaders.prototype, Headers.prototype);
