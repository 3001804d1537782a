// A local stand-in for the Hugging Face hub (an HTTP server in the test's own Bun process, on
// 127.0.0.1), answering the requests a pull makes the way the hub answers them, so no test reaches
// the internet:
//   GET  /api/models/USER/REPO[/revision/REV]?blobs=true   model info: siblings with size and lfs.sha256, gated
//   GET  /v2/USER/REPO/manifests/TAG                       the GGUF manifest node-llama-cpp reads (ggufFile)
//   GET|HEAD /USER/REPO/resolve/REV/PATH                    302 to the file's CDN URL, with x-linked-size / x-linked-etag
//   GET|HEAD /cdn/N/NAME                                    the bytes, with Range support (206 + Content-Range)
// Refusals carry the hub's X-Error-Code (RepoNotFound, GatedRepo, EntryNotFound, RevisionNotFound).
// A gated repo's info is public; its manifest and files need `Authorization: Bearer <token>` (401).
// Faults act on ranged reads (the downloader's chunk requests; its first unranged GET only reads
// headers): a connection cut at a byte offset, a stall there until released, and files the
// listing misstates (listedSize, listedSha256).
//
// node:http rather than Bun.serve: Bun.serve sends a streamed body chunked, dropping its
// Content-Length, and the downloader needs that length for ranged, resumable reads (the hub sends it).
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

interface HubFile {
  path: string;
  data: Uint8Array;
  /** What the model info and manifest claim instead of the truth (the wrong-size fault). */
  listedSize?: number;
  listedSha256?: string;
}

export interface HubRepo {
  id: string;
  files: HubFile[];
  gated?: boolean;
}

interface HubRequest {
  method: string;
  path: string;
  range?: string;
  auth?: string;
  userAgent?: string;
}

/** `file` is "USER/REPO/PATH". A cut closes the connection mid-body `times` times; a stall holds it until releaseStalls(). */
type HubFault = { kind: "cut"; file: string; atByte: number; times: number } | { kind: "stall"; file: string; atByte: number };

export interface FixtureHub {
  /** With a trailing slash, like an endpoint. */
  url: string;
  token: string;
  requests: HubRequest[];
  faults: HubFault[];
  /** Body bytes sent for ranged reads of a file ("USER/REPO/PATH"). */
  bytesServed(file: string): number;
  releaseStalls(): void;
  stop(): Promise<void>;
}

interface Served {
  key: string;
  file: HubFile;
  sha256: string;
}

const PIECE_BYTES = 64 * 1024;
const COMMIT = "0123456789abcdef0123456789abcdef01234567";

/** What a route answers; `bytes` is a file range, sent piece by piece so faults can strike mid-body. */
interface Reply {
  status: number;
  headers?: Record<string, string>;
  json?: unknown;
  bytes?: { served: Served; start: number; end: number; ranged: boolean };
}

/** Resolves when the socket takes more, or is gone. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((done) => {
    const finish = () => {
      res.off("drain", finish);
      res.off("close", finish);
      done();
    };
    res.on("drain", finish);
    res.on("close", finish);
  });
}

const json = (status: number, body: unknown, errorCode?: string): Reply => ({ status, json: body, headers: errorCode ? { "x-error-code": errorCode } : {} });

export async function startHub(repos: HubRepo[], opts: { token?: string } = {}): Promise<FixtureHub> {
  const token = opts.token ?? "hf_fixture_token";
  const served: Served[] = [];
  const byRepo = new Map(repos.map((r) => [r.id, r]));
  for (const r of repos) for (const f of r.files) served.push({ key: `${r.id}/${f.path}`, file: f, sha256: createHash("sha256").update(f.data).digest("hex") });
  const requests: HubRequest[] = [];
  const faults: HubFault[] = [];
  const sent = new Map<string, number>();
  let stallGate = Promise.withResolvers<void>();

  const find = (repo: HubRepo, path: string) => served.find((s) => s.key === `${repo.id}/${path}`);
  const listed = (s: Served) => ({ size: s.file.listedSize ?? s.file.data.length, sha256: s.file.listedSha256 ?? s.sha256 });
  const sibling = (s: Served) => ({ rfilename: s.file.path, blobId: s.sha256.slice(0, 40), size: listed(s).size, lfs: { ...listed(s), pointerSize: 134 } });

  function repoOr404(id: string, rev = "main"): HubRepo | Reply {
    const repo = byRepo.get(id);
    if (!repo) return json(404, { error: "Repository not found" }, "RepoNotFound");
    if (rev !== "main") return json(404, { error: `Invalid rev id: ${rev}` }, "RevisionNotFound");
    return repo;
  }
  const isRepo = (r: HubRepo | Reply): r is HubRepo => "files" in r;
  const refused = (auth: string | undefined, repo: HubRepo) =>
    repo.gated && auth !== `Bearer ${token}`
      ? json(401, { error: `Access to model ${repo.id} is restricted. You must have access to it and be authenticated to access it. Please log in.` }, "GatedRepo")
      : undefined;

  function modelInfo(url: URL, id: string, rev?: string): Reply {
    const repo = repoOr404(id, rev);
    if (!isRepo(repo)) return repo;
    const blobs = url.searchParams.get("blobs") === "true";
    const siblings = repo.files.map((f) => (blobs ? sibling(find(repo, f.path)!) : { rfilename: f.path }));
    return json(200, { _id: id, id, modelId: id, author: id.split("/")[0], sha: COMMIT, private: false, gated: repo.gated ? "manual" : false, tags: ["gguf"], library_name: "gguf", siblings });
  }

  function manifest(auth: string | undefined, id: string, tag: string): Reply {
    const repo = repoOr404(id);
    if (!isRepo(repo)) return repo;
    const denied = refused(auth, repo);
    if (denied) return denied;
    // Candidates: whole files and first parts. The hub matches the tag to the quant in the name.
    const ggufs = repo.files.map((f) => f.path).filter((p) => p.endsWith(".gguf") && !/-(?!00001)\d{5}-of-\d{5}\.gguf$/.test(p)).sort();
    const hasTag = (p: string, t: string) => new RegExp(`[-.]${t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(-\\d{5}-of-\\d{5})?\\.gguf$`, "i").test(p);
    const pick = tag.toLowerCase() === "latest" ? (ggufs.find((p) => hasTag(p, "Q4_K_M")) ?? ggufs[0]) : ggufs.find((p) => hasTag(p, tag));
    if (!pick) return json(400, { error: `The specified tag is not available in the repository. Please use another tag or "latest"` });
    const s = find(repo, pick)!;
    const layer = { mediaType: "application/vnd.ollama.image.model", size: listed(s).size, digest: `sha256:${listed(s).sha256}`, from: id };
    return json(200, { schemaVersion: 2, mediaType: "application/vnd.docker.distribution.manifest.v2+json", layers: [layer], ggufFile: sibling(s) });
  }

  function resolve(auth: string | undefined, id: string, rev: string, path: string): Reply {
    const repo = repoOr404(id, rev);
    if (!isRepo(repo)) return repo;
    const denied = refused(auth, repo);
    if (denied) return denied;
    const s = find(repo, path);
    if (!s) return json(404, { error: "Entry not found" }, "EntryNotFound");
    const { size, sha256 } = listed(s);
    // The hub redirects LFS files to its CDN; x-linked-* describe the file behind the redirect.
    const cdn = `/cdn/${served.indexOf(s)}/${encodeURIComponent(path.split("/").pop()!)}`;
    return { status: 302, headers: { location: cdn, "x-linked-size": String(size), "x-linked-etag": `"${sha256}"`, "x-repo-commit": COMMIT, etag: `"${sha256}"` } };
  }

  function cdn(rangeHeader: string | undefined, index: number): Reply {
    const s = served[index];
    if (!s) return json(404, { error: "Not found" });
    const total = s.file.data.length;
    const range = /^bytes=(\d+)-(\d*)$/.exec(rangeHeader ?? "");
    const start = range ? Number(range[1]) : 0;
    const end = range && range[2] !== "" ? Math.min(Number(range[2]), total - 1) : total - 1;
    if (range && start >= total) return { status: 416, headers: { "content-range": `bytes */${total}` } };
    const headers: Record<string, string> = { "accept-ranges": "bytes", "content-length": String(end - start + 1), etag: `"${s.sha256}"`, "content-type": "application/octet-stream" };
    if (range) headers["content-range"] = `bytes ${start}-${end}/${total}`;
    return { status: range ? 206 : 200, headers, bytes: { served: s, start, end: end + 1, ranged: range !== null } };
  }

  function route(req: IncomingMessage): Reply {
    const url = new URL(req.url ?? "/", "http://hub");
    const auth = req.headers.authorization;
    requests.push({ method: req.method ?? "", path: url.pathname + url.search, range: req.headers.range, auth, userAgent: req.headers["user-agent"] });
    const p = url.pathname.split("/").slice(1).map(decodeURIComponent);
    if (p[0] === "api" && p[1] === "models" && p.length >= 4) return modelInfo(url, `${p[2]}/${p[3]}`, p[4] === "revision" ? p[5] : undefined);
    if (p[0] === "v2" && p[3] === "manifests" && p.length === 5) return manifest(auth, `${p[1]}/${p[2]}`, p[4]!);
    if (p[0] === "cdn" && p.length === 3) return cdn(req.headers.range, Number(p[1]));
    if (p[2] === "resolve" && p.length >= 5) return resolve(auth, `${p[0]}/${p[1]}`, p[3]!, p.slice(4).join("/"));
    return json(404, { error: "Not found" });
  }

  /** Writes a file range piece by piece, honouring backpressure, cutting or stalling where a fault says. */
  async function sendBytes(res: ServerResponse, b: NonNullable<Reply["bytes"]>): Promise<void> {
    let closed = false;
    res.on("close", () => (closed = true));
    for (let at = b.start; at < b.end && !closed; ) {
      let stop = Math.min(b.end, at + PIECE_BYTES);
      const fault = b.ranged ? faults.find((f) => f.file === b.served.key && f.atByte >= at && f.atByte < stop && (f.kind === "stall" || f.times > 0)) : undefined;
      if (fault && fault.atByte > at) stop = fault.atByte;
      else if (fault?.kind === "cut") {
        fault.times--;
        // What a dropped connection looks like to the client: the socket closes mid-body.
        res.destroy();
        return;
      } else if (fault?.kind === "stall") {
        await stallGate.promise;
      }
      const piece = b.served.file.data.subarray(at, stop);
      if (b.ranged) sent.set(b.served.key, (sent.get(b.served.key) ?? 0) + piece.length);
      at = stop;
      if (!res.write(piece)) await drained(res);
    }
    if (!closed) res.end();
  }

  const server = createServer((req, res) => {
    const reply = route(req);
    const headers = { ...reply.headers, ...(reply.json !== undefined ? { "content-type": "application/json" } : {}) };
    const text = reply.json !== undefined ? JSON.stringify(reply.json) : undefined;
    res.writeHead(reply.status, text !== undefined ? { ...headers, "content-length": String(Buffer.byteLength(text)) } : headers);
    if (req.method === "HEAD" || reply.bytes === undefined) return void res.end(text);
    void sendBytes(res, reply.bytes);
  });
  await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
  const port = (server.address() as { port: number }).port;

  return {
    url: `http://127.0.0.1:${port}/`,
    token,
    requests,
    faults,
    bytesServed: (file) => sent.get(file) ?? 0,
    releaseStalls() {
      stallGate.resolve();
      stallGate = Promise.withResolvers<void>();
    },
    stop: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}
