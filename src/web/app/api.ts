// The console's one way to call the server: same origin, the API key (when one is set) on every
// call, and a 401 reported so the page can ask for a key. The page itself needs no key; every
// API route does when the server has keys (--api-key), exactly as for any other client.

/** Where a key is kept: this tab only (sessionStorage) unless the user asks to be remembered. */
const KEY_ITEM = "warren.console.apiKey";

export class Api {
  private key: string;
  /** Called with true on a 401 answer, with false once a call succeeds with the key. */
  onAuth: (needed: boolean) => void = () => {};

  constructor() {
    this.key = sessionStorage.getItem(KEY_ITEM) ?? localStorage.getItem(KEY_ITEM) ?? "";
  }

  get hasKey(): boolean {
    return this.key !== "";
  }

  setKey(key: string, remember: boolean): void {
    this.key = key.trim();
    sessionStorage.setItem(KEY_ITEM, this.key);
    if (remember) localStorage.setItem(KEY_ITEM, this.key);
    else localStorage.removeItem(KEY_ITEM);
  }

  async call(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.key !== "") headers.set("authorization", `Bearer ${this.key}`);
    if (init.body !== undefined) headers.set("content-type", "application/json");
    const res = await fetch(path, { ...init, headers });
    if (res.status === 401) this.onAuth(true);
    else if (res.ok && this.key !== "") this.onAuth(false);
    return res;
  }

  /** POST a JSON body; the answer is returned whatever its status (see errorMessage). */
  post(path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
    return this.call(path, { method: "POST", body: JSON.stringify(body), signal });
  }

  /** GET and parse JSON; throws with the server's own message on an error status. */
  async getJson<T>(path: string): Promise<T> {
    const res = await this.call(path);
    if (!res.ok) throw new Error(await errorMessage(res));
    return (await res.json()) as T;
  }
}

/** The message of an error answer in any of Warren's shapes (native, OpenAI, Anthropic). */
export async function errorMessage(res: Response): Promise<string> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as { error?: { message?: string } | string; message?: string };
    const msg = typeof body.error === "string" ? body.error : (body.error?.message ?? body.message);
    if (msg) return `${res.status}: ${msg}`;
  } catch {
    // Not JSON: the text itself, shortened.
  }
  return `${res.status} ${res.statusText}${text ? `: ${text.slice(0, 200)}` : ""}`;
}
