// Pulls a model into the store: the hub is asked first (hub.ts: clear errors, expected sizes and
// SHA-256s), node-llama-cpp's downloader fetches (resumable, parallel, split parts), and what it
// wrote is verified before it is renamed into the store. Downloads go to <store>/.partial/, so no
// half-written or unverified file ever sits under a model's final name; an interrupted pull leaves
// its resumable partial file there and the next pull of the same model continues it.
import { createHash } from "node:crypto";
import { closeSync, createReadStream, existsSync, ftruncateSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync } from "node:fs";
import { statfs } from "node:fs/promises";
import { join } from "node:path";
import { createModelDownloader, type ModelDownloader } from "node-llama-cpp";
import { PULL_PARALLEL_FILES, PULL_STALL_TIMEOUT_MS } from "../limits.ts";
import { HubError, type HubErrorCode, parseHubUri, probeUrl, remoteFiles, statusError, unreachable } from "./hub.ts";
import { PullProgress, formatBytes, formatDuration, type ProgressSink } from "./pull-progress.ts";
import { lockStore } from "./store-lock.ts";
import { PARTIAL_SUFFIX, STAGING_DIR, findInStore, sourceKey, writeMeta, type StoreEntry } from "./store.ts";

type PullErrorCode = HubErrorCode | "offline" | "disk_full" | "stalled" | "verify" | "download";

export class PullError extends Error {
  override readonly name = "PullError";
  constructor(
    readonly code: PullErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface PullOptions {
  /** What the user named: hf:user/repo:QUANT, hf:user/repo/file.gguf, or an http(s) URL. */
  source: string;
  /** The store directory. */
  dir: string;
  /** The hub, with a trailing slash (hub.ts resolveEndpoint). */
  endpoint: string;
  token?: string;
  /** Never touch the network: a model not in the store is an error naming it. */
  offline?: boolean;
  /** Progress and notes; nothing is written without one. */
  sink?: ProgressSink;
  stallTimeoutMs?: number;
}

interface Pulled {
  entry: StoreEntry;
  /** False when the store had it already. */
  downloaded: boolean;
}

/** A staged file: where ipull writes it, its store name, and what the hub says it must be. */
interface Staged {
  name: string;
  staged: string;
  size?: number;
  sha256?: string;
  /** The length the server sent (Content-Length), which the downloader wrote. */
  served?: number;
}

const say = (sink: ProgressSink | undefined, line: string) => sink?.write(`${line}\n`);

/** The model `source` names, from the store, or pulled into it first. */
export async function ensurePulled(opts: PullOptions): Promise<Pulled> {
  const have = findInStore(opts.dir, opts.source, opts.endpoint);
  if (have) return { entry: have, downloaded: false };
  if (opts.offline) {
    throw new PullError(
      "offline",
      `${opts.source} is not in the model store (${opts.dir}) and --offline forbids downloading it: run \`warren pull ${opts.source}\` where the hub is reachable, or leave out --offline`,
    );
  }
  const staging = join(opts.dir, STAGING_DIR);
  let release: () => void;
  try {
    mkdirSync(staging, { recursive: true });
    release = await lockStore(staging, (owner) => say(opts.sink, `waiting for warren process ${owner}, which is pulling into ${opts.dir}`));
  } catch (err) {
    throw classify(err, opts);
  }
  try {
    // Another process may have pulled it while this one waited for the lock.
    const again = findInStore(opts.dir, opts.source, opts.endpoint);
    if (again) return { entry: again, downloaded: false };
    return await pull(opts, staging);
  } finally {
    release();
  }
}

async function pull(opts: PullOptions, staging: string): Promise<Pulled> {
  const key = sourceKey(opts.source, opts.endpoint);
  const ref = parseHubUri(opts.source, opts.endpoint);
  const remote = ref ? await remoteFiles(ref, opts.endpoint, opts.token) : (await probeUrl(opts.source), undefined);
  const progress = opts.sink ? new PullProgress(opts.sink, `pulling ${opts.source}`) : undefined;
  const downloader = await createDownloader(opts, staging, progress);
  const info = downloader.filesInfo;
  // Hub facts are per part, in part order; a file spliced from binary parts has none of its own.
  const hub = remote?.length === info.length ? remote : undefined;
  const files: Staged[] = info.map((f, i) => {
    const served = f.totalSize > 0 ? f.totalSize : undefined;
    return { name: f.fileName, staged: f.filePath, size: hub?.[i]?.size ?? served, sha256: hub?.[i]?.sha256, served };
  });
  const record = () => ({ files: files.map((f) => ({ name: f.name, size: f.size ?? statSync(join(opts.dir, f.name)).size, sha256: f.sha256 })), pulledAt: new Date().toISOString() });
  if (await alreadyStored(files, opts.dir)) {
    // The same file, pulled before under another spelling (hf:user/repo and hf:user/repo:Q4_K_M).
    await downloader.cancel({ deleteTempFile: false });
    writeMeta(opts.dir, files[0]!.name, record(), key);
    return { entry: findInStore(opts.dir, files[0]!.name, opts.endpoint)!, downloaded: false };
  }
  await checkSpace(opts.dir, staging, files, downloader.downloadedSize);
  await download(downloader, opts, files, progress);
  await verify(files, opts.sink);
  // Later parts first: the first part is what makes a split model visible, so it comes last.
  for (const f of [...files].reverse()) renameSync(f.staged, join(opts.dir, f.name));
  writeMeta(opts.dir, files[0]!.name, record(), key);
  return { entry: findInStore(opts.dir, files[0]!.name, opts.endpoint)!, downloaded: true };
}

/** Whether the store holds these very files already: same sizes, and same SHA-256s where the hub gives them. */
async function alreadyStored(files: readonly Staged[], dir: string): Promise<boolean> {
  for (const f of files) {
    const path = join(dir, f.name);
    if (f.size === undefined || !existsSync(path) || statSync(path).size !== f.size) return false;
    if (f.sha256 !== undefined && (await sha256File(path)) !== f.sha256) return false;
  }
  return true;
}

async function createDownloader(opts: PullOptions, staging: string, progress: PullProgress | undefined): Promise<ModelDownloader> {
  try {
    return await createModelDownloader({
      modelUri: opts.source,
      dirPath: staging,
      showCliProgress: false,
      onProgress: progress ? (s) => progress.update(s.downloadedSize, s.totalSize) : undefined,
      // Kept on a cancel or a crash: the next pull resumes from it.
      deleteTempFileOnCancel: false,
      skipExisting: true,
      parallelDownloads: PULL_PARALLEL_FILES,
      endpoints: { huggingFace: opts.endpoint },
      // null: no token, and node-llama-cpp must not look for one of its own.
      tokens: { huggingFace: (opts.token ?? null) as string | undefined },
    });
  } catch (err) {
    throw classify(err, opts);
  }
}

/** Free space for what is still to come, checked up front: a full disk is found before, not after, an hour of downloading. */
async function checkSpace(dir: string, staging: string, files: readonly Staged[], have: number): Promise<void> {
  const need = files.reduce((a, f) => a + (f.size ?? 0), 0) - have;
  let free: number;
  try {
    const s = await statfs(staging);
    free = s.bavail * s.bsize;
  } catch {
    return;
  }
  if (need > free) {
    throw new PullError("disk_full", `${files[0]!.name} needs ${formatBytes(need)} more but the disk holding ${dir} has ${formatBytes(free)} free: free some space, or pull into another disk with --models-dir`);
  }
}

/**
 * Runs the download. It is stopped when no byte arrives for the stall timeout (the partial file
 * stays, for a resume) or when a write to disk fails (the partial file goes: it has holes).
 */
async function download(d: ModelDownloader, opts: PullOptions, files: readonly Staged[], progress: PullProgress | undefined): Promise<void> {
  const stallMs = opts.stallTimeoutMs ?? PULL_STALL_TIMEOUT_MS;
  let stalledAt: number | undefined;
  let writeError: NodeJS.ErrnoException | undefined;
  const stopWatch = watchStall(d, stallMs, (bytes) => {
    stalledAt = bytes;
    void d.cancel({ deleteTempFile: false });
  });
  const untrap = trapWriteFailures((err) => {
    writeError ??= err;
    void d.cancel({ deleteTempFile: false });
  });
  try {
    await d.download();
  } catch (err) {
    if (!isWriteFailure(err)) {
      progress?.abandon();
      throw classify(err, opts);
    }
    writeError ??= err;
  } finally {
    stopWatch();
    untrap();
  }
  if (writeError !== undefined) {
    progress?.abandon();
    for (const f of files) for (const p of [f.staged, f.staged + PARTIAL_SUFFIX]) rmSync(p, { force: true });
    if (writeError.code === "ENOSPC" || writeError.code === "EDQUOT") {
      throw new PullError("disk_full", `the disk holding ${opts.dir} filled up during the download: free some space (or pull into another disk with --models-dir) and pull again`);
    }
    throw new PullError("download", `writing the download into ${opts.dir} failed (${writeError.code ?? writeError.message}): pull again`);
  }
  if (stalledAt !== undefined) {
    progress?.abandon();
    // The downloader keeps a partial file only once it has saved progress (a whole chunk).
    const kept = files.some((f) => existsSync(f.staged) || existsSync(f.staged + PARTIAL_SUFFIX));
    throw new PullError(
      "stalled",
      `no data for ${formatDuration(stallMs / 1000)} while pulling ${opts.source} (${formatBytes(stalledAt)} of ${formatBytes(d.totalSize)}): ` +
        `the network or the hub stopped answering; ${kept ? "the partial download is kept: run the same command again to resume" : "nothing was saved yet: run the same command again"}`,
    );
  }
  progress?.finish(d.totalSize, d.totalSize);
}

/** Calls onStall (once) when the bytes received stop growing for stallMs; returns the stop function. */
function watchStall(d: ModelDownloader, stallMs: number, onStall: (bytes: number) => void): () => void {
  // The most ever received: a retried connection starts its chunk again, which is no progress.
  let best = d.downloadedSize;
  let grewAt = performance.now();
  const timer = setInterval(() => {
    if (d.downloadedSize > best) {
      best = d.downloadedSize;
      grewAt = performance.now();
    } else if (performance.now() - grewAt >= stallMs) {
      clearInterval(timer);
      onStall(best);
    }
  }, Math.max(10, Math.min(1_000, stallMs / 4)));
  return () => clearInterval(timer);
}

function isWriteFailure(err: unknown): err is NodeJS.ErrnoException {
  const e = err as NodeJS.ErrnoException;
  return e instanceof Error && (e.syscall === "write" || e.code === "ENOSPC" || e.code === "EDQUOT");
}

/**
 * ipull 3.9.5 lets a failed disk write (a full disk) escape as an unhandled rejection (the promise
 * it derives with `.then` has no catch), which would end the process with a stack trace, and then
 * carries on as if the bytes were written. While a download runs, such a write failure goes to
 * `onFailure`; any other unhandled rejection is rethrown, as if this listener were not there.
 */
function trapWriteFailures(onFailure: (err: NodeJS.ErrnoException) => void): () => void {
  const handler = (reason: unknown) => {
    if (isWriteFailure(reason)) return onFailure(reason);
    throw reason;
  };
  process.on("unhandledRejection", handler);
  return () => void process.off("unhandledRejection", handler);
}

/** Sizes and SHA-256s against the hub's, and the GGUF magic; a failure deletes what was staged. */
async function verify(files: readonly Staged[], sink: ProgressSink | undefined): Promise<void> {
  const problem = await firstProblem(files, sink);
  if (problem === undefined) return;
  for (const f of files) for (const p of [f.staged, f.staged + PARTIAL_SUFFIX]) rmSync(p, { force: true });
  throw new PullError("verify", `${problem}: the download is damaged, or the file changed on the hub during the pull; it was deleted, so pull again`);
}

async function firstProblem(files: readonly Staged[], sink: ProgressSink | undefined): Promise<string | undefined> {
  for (const f of files) {
    dropProgressTrailer(f);
    const got = existsSync(f.staged) ? statSync(f.staged).size : 0;
    if (f.size !== undefined && got !== f.size) return `${f.name}: downloaded ${got} bytes but the hub lists ${f.size}`;
    if (f.sha256 === undefined) continue;
    say(sink, `verifying ${f.name} (${formatBytes(got)}, SHA-256)`);
    const sha = await sha256File(f.staged);
    if (sha !== f.sha256) return `${f.name}: its SHA-256 is ${sha} but the hub lists ${f.sha256}`;
  }
  const magic = Buffer.alloc(4);
  const fd = openSync(files[0]!.staged, "r");
  try {
    readSync(fd, magic, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  if (magic.toString("latin1") !== "GGUF") return `${files[0]!.name} is not a GGUF file (the URL served something else, an HTML page perhaps)`;
  return undefined;
}

/**
 * ipull 3.9.5 (node-llama-cpp's downloader) keeps its resume state as JSON after the file's bytes
 * and cuts it off when the download ends; a state write still in flight can land after that cut
 * (seen in ~1 of 15 small downloads), leaving `{"part":0,"chunks":[2],...}` at the end of a
 * finished file. Such a tail, and only that, is cut back to the length the server sent.
 */
function dropProgressTrailer(f: Staged): void {
  if (f.served === undefined || !existsSync(f.staged)) return;
  const extra = statSync(f.staged).size - f.served;
  if (extra <= 0 || extra > 1 << 20) return;
  const tail = Buffer.alloc(extra);
  const fd = openSync(f.staged, "r+");
  try {
    readSync(fd, tail, 0, extra, f.served);
    let state: unknown;
    try {
      state = JSON.parse(tail.toString("utf8"));
    } catch {
      return;
    }
    if (typeof state === "object" && state !== null && "chunks" in state && "chunkSize" in state) ftruncateSync(fd, f.served);
  } finally {
    closeSync(fd);
  }
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Errors from node-llama-cpp and its downloader (ipull), as one sentence each. */
function classify(err: unknown, opts: PullOptions): Error {
  if (err instanceof HubError || err instanceof PullError) return err;
  const e = err as { code?: string; statusCode?: number; statusText?: string; message?: string; cause?: { code?: string } };
  if (e.code === "ENOSPC" || e.code === "EDQUOT") return new PullError("disk_full", `the disk holding ${opts.dir} is full: free some space, or pull into another disk with --models-dir`);
  if (e.code === "EACCES" || e.code === "EROFS" || e.code === "EPERM") {
    return new PullError("download", `cannot write to ${opts.dir} (${e.code}): point --models-dir (WARREN_MODELS_DIR) at a writable directory`);
  }
  const ref = parseHubUri(opts.source, opts.endpoint);
  if (typeof e.statusCode === "number") {
    const res = { status: e.statusCode, statusText: e.statusText ?? "", headers: new Headers() };
    if (ref) return statusError(res, ref, opts.endpoint, opts.token !== undefined);
    return new PullError("download", `${opts.source} answered ${e.statusCode} ${e.statusText ?? ""}`.trimEnd());
  }
  const code = e.code ?? e.cause?.code;
  if (code !== undefined && /^(ECONN|ENOTFOUND|EAI_|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ConnectionRefused|ConnectionClosed)/.test(code)) {
    return unreachable(ref ? opts.endpoint : `${new URL(opts.source).origin}/`, err);
  }
  return new PullError("download", `pulling ${opts.source} failed: ${e.message ?? String(err)}`);
}
