// The Hugging Face hub as a pull sees it before node-llama-cpp downloads: where it is (--hf-endpoint,
// a mirror), who we are (HF_TOKEN), what a model URI names, and the two small JSON answers read
// first: model info (the repo's files, sizes and SHA-256s; gated or not) and the GGUF manifest
// (which file a quant tag picks: the request node-llama-cpp makes itself). Reading them first turns
// every hub failure into one HubError sentence that says what happened and what to do, and gives
// the size and checksum the download is verified against. No node-llama-cpp here: the store lists
// and parses URIs without loading it.
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { PULL_API_TIMEOUT_MS } from "../limits.ts";

const DEFAULT_HF_ENDPOINT = "https://huggingface.co/";
/** The branch a URI without `#revision` names (node-llama-cpp's default too). */
const MAIN = "main";

export type HubErrorCode = "unreachable" | "not_found" | "gated" | "no_quant" | "no_file" | "bad_uri" | "bad_response";

export class HubError extends Error {
  override readonly name = "HubError";
  constructor(
    readonly code: HubErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A model on the hub: a quant tag of a repo (`hf:user/repo:Q8_0`) or one file (`hf:user/repo/f.gguf#rev`). */
interface HubRef {
  user: string;
  repo: string;
  /** Upper case ("Q8_0"), as node-llama-cpp names the file; undefined = the hub's pick ("latest"). */
  tag?: string;
  /** Path of a file in the repo (the `hf:user/repo/path` form). */
  file?: string;
  revision: string;
}

/** A file the hub lists; size and sha256 are absent where the hub (or a mirror) does not say. */
interface RemoteFile {
  path: string;
  size?: number;
  sha256?: string;
}

interface ModelInfo {
  gated: boolean;
  files: RemoteFile[];
}

type Env = Record<string, string | undefined>;

/**
 * --hf-endpoint, else WARREN_HF_ENDPOINT, else node-llama-cpp's MODEL_ENDPOINT and HF_ENDPOINT (the
 * variables llama.cpp and huggingface_hub read), else huggingface.co. Always with a trailing slash.
 */
export function resolveEndpoint(flag: string | undefined, env: Env): string {
  const v = [flag, env.WARREN_HF_ENDPOINT, env.MODEL_ENDPOINT, env.HF_ENDPOINT].find((x) => x !== undefined && x.trim() !== "")?.trim() ?? DEFAULT_HF_ENDPOINT;
  let url: URL | undefined;
  try {
    url = new URL(v);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new HubError("bad_uri", `the hub endpoint "${v}" is not an http(s) URL (--hf-endpoint or HF_ENDPOINT, e.g. https://hf-mirror.com)`);
  }
  return url.href.endsWith("/") ? url.href : `${url.href}/`;
}

/**
 * HF_TOKEN, else the token file huggingface_hub's `hf auth login` writes (HF_TOKEN_PATH, else
 * $HF_HOME/token, else $XDG_CACHE_HOME/huggingface/token, else ~/.cache/huggingface/token): the
 * order node-llama-cpp uses, resolved once here and handed to it so both send the same token.
 */
export function resolveHfToken(env: Env, read: (path: string) => string = (p) => readFileSync(p, "utf8")): string | undefined {
  const direct = env.HF_TOKEN?.trim();
  if (direct) return direct;
  const home = env.HF_HOME || join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "huggingface");
  try {
    return read(env.HF_TOKEN_PATH || join(home, "token")).trim() || undefined;
  } catch {
    return undefined;
  }
}

const PREFIXES = ["hf://", "huggingface://", "hf:", "huggingface:", "hf.co/", "huggingface.co/"];

/** Whether `s` names a model to download (a hub URI or an http(s) URL) rather than a file or a store name. */
export function isRemoteModel(s: string): boolean {
  return PREFIXES.some((p) => s.startsWith(p)) || /^https?:\/\//i.test(s);
}

/**
 * The hub model a URI names, or undefined for a URL elsewhere. The forms are node-llama-cpp's:
 * `hf:user/repo[:tag]`, `hf:user/repo/path/file.gguf[#revision]` (and the hf://, huggingface:,
 * hf.co/ spellings), and the hub's own https URLs (…/user/repo/resolve/rev/file).
 */
export function parseHubUri(uri: string, endpoint: string): HubRef | undefined {
  const prefix = PREFIXES.find((p) => uri.startsWith(p));
  if (prefix !== undefined) return parseContent(uri.slice(prefix.length), uri);
  if (!/^https?:\/\//i.test(uri)) return undefined;
  const url = new URL(uri);
  const hub = new URL(endpoint);
  // As node-llama-cpp decides: a huggingface.co URL is the hub's only while the endpoint is huggingface.co.
  const official = (h: string) => h === "huggingface.co" || h === "hf.co";
  if (url.host !== hub.host && !(official(url.hostname) && official(hub.hostname))) return undefined;
  const base = url.host === hub.host ? hub.pathname : "/";
  if (!url.pathname.startsWith(base)) return undefined;
  const [user, repo, kind, revision, ...file] = url.pathname.slice(base.length).split("/").map(decodeURIComponent);
  if (!user || !repo) return undefined;
  if (kind === undefined || kind === "") return { user, repo, revision: MAIN };
  if ((kind === "resolve" || kind === "blob") && revision && file.length > 0) return { user, repo, file: file.join("/"), revision };
  return undefined;
}

function parseContent(content: string, uri: string): HubRef {
  const bad = () => new HubError("bad_uri", `"${uri}" is not a model URI: use hf:user/repo:QUANT (e.g. hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M) or hf:user/repo/file.gguf`);
  const [user, model, ...rest] = content.split("/");
  if (!user || !model) throw bad();
  const path = rest.join("/");
  if (path === "" || model.includes(":")) {
    const [repo, ...tagParts] = model.split(":");
    const tag = tagParts.join(":").trim().toUpperCase();
    if (!repo || path !== "") throw bad();
    return { user, repo, tag: tag === "" || tag === "LATEST" ? undefined : tag, revision: MAIN };
  }
  const hash = path.indexOf("#");
  const file = hash >= 0 ? path.slice(0, hash) : path;
  const revision = (hash >= 0 ? path.slice(hash + 1) : "") || MAIN;
  if (file === "") throw bad();
  return { user, repo: model, file, revision };
}

/** One spelling per model, so the store finds a model whichever spelling pulled it. */
export function canonicalUri(ref: HubRef): string {
  const base = `hf:${ref.user}/${ref.repo}`;
  if (ref.file === undefined) return ref.tag ? `${base}:${ref.tag}` : base;
  return `${base}/${ref.file}${ref.revision !== MAIN ? `#${ref.revision}` : ""}`;
}

const SPLIT_RE = /-(\d{5})-of-(\d{5})\.gguf$/i;
const QUANT_RE = /^(I?Q\d(_[A-Z0-9]+)*|TQ\d_\d|F16|BF16|F32|MXFP4(_MOE)?|NVFP4)$/i;

/** The quant a GGUF file name carries (`Llama-3.2-1B-Q4_K_M.gguf` -> Q4_K_M), if any. */
export function quantOf(fileName: string): string | undefined {
  const base = (fileName.split("/").pop() ?? "").replace(SPLIT_RE, "").replace(/\.gguf$/i, "");
  return base.split(/[-.\s]/).reverse().find((w) => QUANT_RE.test(w))?.toUpperCase();
}

/** The quants of a repo's GGUF files, sorted, each once. */
export function quantsIn(files: readonly RemoteFile[]): string[] {
  const quants = files.filter((f) => /\.gguf$/i.test(f.path)).map((f) => quantOf(f.path)).filter((q): q is string => q !== undefined);
  return [...new Set(quants)].sort();
}

/** All parts of a split GGUF (`x-00001-of-00003.gguf`) in order, or just the file. */
export function splitParts(path: string): string[] {
  const m = SPLIT_RE.exec(path);
  if (!m) return [path];
  const count = Number(m[2]);
  const stem = path.slice(0, m.index);
  return Array.from({ length: count }, (_, i) => `${stem}-${String(i + 1).padStart(5, "0")}-of-${m[2]}.gguf`);
}

const enc = encodeURIComponent;
const repoName = (ref: HubRef) => `${ref.user}/${ref.repo}`;

/**
 * The files a pull of `ref` downloads, in part order, with what the hub says of each. Fails with a
 * HubError for an unreachable hub, a missing repo, quant or file, or a gated repo.
 */
export async function remoteFiles(ref: HubRef, endpoint: string, token: string | undefined): Promise<RemoteFile[]> {
  const info = await fetchModelInfo(ref, endpoint, token);
  const repo = repoName(ref);
  if (info.gated && token === undefined) throw gatedError(ref, endpoint, false, 401);
  let first: string;
  if (ref.file !== undefined) {
    first = ref.file;
    if (!info.files.some((f) => f.path === first)) {
      const ggufs = info.files.filter((f) => /\.gguf$/i.test(f.path)).map((f) => f.path);
      throw new HubError("no_file", `${repo} has no file ${first}${ggufs.length > 0 ? `; its GGUF files: ${ggufs.join(", ")}` : " and no GGUF files"}`);
    }
  } else {
    first = await fetchManifestFile(ref, endpoint, token, info);
  }
  const byPath = new Map(info.files.map((f) => [f.path, f]));
  return splitParts(first).map((path) => byPath.get(path) ?? { path });
}

async function fetchModelInfo(ref: HubRef, endpoint: string, token: string | undefined): Promise<ModelInfo> {
  const rev = ref.revision !== MAIN ? `/revision/${enc(ref.revision)}` : "";
  const res = await hubFetch(`${endpoint}api/models/${enc(ref.user)}/${enc(ref.repo)}${rev}?blobs=true`, endpoint, token);
  if (!res.ok) throw statusError(res, ref, endpoint, token !== undefined);
  const body = (await readJson(res, endpoint)) as { gated?: unknown; siblings?: unknown };
  if (!Array.isArray(body.siblings)) throw new HubError("bad_response", `${endpoint} answered the model info of ${repoName(ref)} without a file list: is it a Hugging Face hub or mirror?`);
  const files = body.siblings
    .filter((s): s is { rfilename: string; size?: unknown; lfs?: { sha256?: unknown; size?: unknown } } => typeof s?.rfilename === "string")
    .map((s) => ({
      path: s.rfilename,
      size: typeof s.lfs?.size === "number" ? s.lfs.size : typeof s.size === "number" ? s.size : undefined,
      sha256: typeof s.lfs?.sha256 === "string" ? s.lfs.sha256.toLowerCase() : undefined,
    }));
  // The hub says false, "auto" or "manual".
  return { gated: body.gated !== undefined && body.gated !== false, files };
}

/** The file the hub picks for a quant tag; a tag it does not have is reported with the quants it has. */
async function fetchManifestFile(ref: HubRef, endpoint: string, token: string | undefined, info: ModelInfo): Promise<string> {
  const url = `${endpoint}v2/${enc(ref.user)}/${enc(ref.repo)}/manifests/${enc(ref.tag ?? "latest")}`;
  // The hub adds the ggufFile field only for llama.cpp's user agent (node-llama-cpp sends the same).
  const res = await hubFetch(url, endpoint, token, { "User-Agent": "llama-cpp" });
  const repo = repoName(ref);
  if (res.ok) {
    const name = ((await readJson(res, endpoint)) as { ggufFile?: { rfilename?: unknown } }).ggufFile?.rfilename;
    if (typeof name === "string") return name;
    throw new HubError("bad_response", `${endpoint} answered the GGUF manifest of ${repo} without a ggufFile: is it a Hugging Face hub or mirror?`);
  }
  const missing = (res.status === 400 || res.status === 404) && res.headers.get("x-error-code") !== "RepoNotFound";
  if (!missing) throw statusError(res, ref, endpoint, token !== undefined);
  const quants = quantsIn(info.files);
  if (quants.length === 0) throw new HubError("no_quant", `${repo} has no GGUF model files: look for a repo of GGUF conversions (often named ...-GGUF)`);
  const what = ref.tag ? `no ${ref.tag} GGUF file` : "no GGUF file the hub picks by default";
  throw new HubError("no_quant", `${repo} has ${what}; it has ${quants.join(", ")}: pull one of those, e.g. warren pull hf:${repo}:${quants[0]}`);
}

async function hubFetch(url: string, endpoint: string, token: string | undefined, headers: Record<string, string> = {}): Promise<Response> {
  try {
    return await fetch(url, {
      headers: { Accept: "application/json", ...headers, ...(token !== undefined ? { Authorization: `Bearer ${token}` } : {}) },
      signal: AbortSignal.timeout(PULL_API_TIMEOUT_MS),
    });
  } catch (err) {
    throw unreachable(endpoint, err);
  }
}

async function readJson(res: Response, endpoint: string): Promise<unknown> {
  try {
    return await res.json();
  } catch (err) {
    if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")) throw unreachable(endpoint, err);
    throw new HubError("bad_response", `${endpoint} answered ${res.url} with something that is not JSON: is it a Hugging Face hub or mirror?`);
  }
}

/** The network failed: no DNS, refused, reset, timed out. */
export function unreachable(endpoint: string, err: unknown): HubError {
  const e = err as { code?: string; name?: string; message?: string };
  const why = e.name === "TimeoutError" ? `no answer in ${PULL_API_TIMEOUT_MS / 1000} s` : (e.code ?? e.message ?? String(err));
  return new HubError(
    "unreachable",
    `cannot reach ${endpoint} (${why}): check the network, or point --hf-endpoint (HF_ENDPOINT) at a mirror; models already pulled work offline (warren models)`,
  );
}

function gatedError(ref: HubRef, endpoint: string, hadToken: boolean, status: number): HubError {
  const page = `${endpoint}${repoName(ref)}`;
  return new HubError(
    "gated",
    hadToken
      ? `${repoName(ref)} is gated or private and the hub refused HF_TOKEN (${status}): check that the token can read it and that you accepted its terms at ${page}`
      : `${repoName(ref)} is gated or private (${status}): accept its terms at ${page}, then set HF_TOKEN to an access token (${endpoint}settings/tokens)`,
  );
}

/**
 * A hub status as a HubError. The hub names its refusals in X-Error-Code; it answers 401 for a
 * missing repo when no token is sent (a private repo must not be told from a missing one).
 */
export function statusError(res: { status: number; statusText: string; headers: Headers }, ref: HubRef, endpoint: string, hadToken: boolean): HubError {
  const code = res.headers.get("x-error-code");
  const repo = repoName(ref);
  if (code === "RepoNotFound" || (code === null && res.status === 404)) {
    return new HubError("not_found", `${repo} does not exist on ${endpoint}: check the user/repo spelling${hadToken ? "" : " (a private repo also needs HF_TOKEN)"}`);
  }
  if (code === "GatedRepo" || res.status === 401 || res.status === 403) return gatedError(ref, endpoint, hadToken, res.status);
  if (code === "EntryNotFound" || code === "RevisionNotFound") return new HubError("no_file", `${repo}: ${code === "EntryNotFound" ? "no such file" : `no revision ${ref.revision}`} on ${endpoint}`);
  const later = res.status === 429 || res.status >= 500 ? ": try again in a while" : "";
  return new HubError("bad_response", `${endpoint} answered ${`${res.status} ${res.statusText}`.trim()} for ${repo}${later}`);
}

/**
 * A URL off the hub, probed before node-llama-cpp's downloader sees it: that downloader retries a
 * refused connection for minutes, where this fails at once with the reason.
 */
export async function probeUrl(url: string): Promise<void> {
  const origin = `${new URL(url).origin}/`;
  let res: Response;
  try {
    res = await fetch(url, { method: "HEAD", redirect: "follow", signal: AbortSignal.timeout(PULL_API_TIMEOUT_MS) });
  } catch (err) {
    throw unreachable(origin, err);
  }
  if (res.status === 404 || res.status === 410) throw new HubError("no_file", `${url} answered ${res.status} ${res.statusText}: check the URL`);
  if (res.status === 401 || res.status === 403) throw new HubError("gated", `${url} answered ${res.status} ${res.statusText}: it needs credentials (Warren sends HF_TOKEN only to the hub)`);
}
