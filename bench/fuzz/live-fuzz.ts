// Fuzzes a live server over real sockets: each connection sends one mutated request stream (in
// random pieces) and reads until the server closes it. Two oracles:
//   exact (an in-process echo server, startEchoServer): the server answers exactly the requests the
//     reference (reference.ts) reads as complete and valid, in order, each echoing its method, path
//     and body length; then at most one engine error (a JSON 4xx/5xx that closes): where the
//     reference says the stream broke a rule, with the status it names; where it stopped midway,
//     only a timeout; nothing else, and it always closes;
//   weak (any Warren, e.g. the real CLI): never more answers than complete valid requests plus one
//     engine error, and the connection always ends.
import { connect } from "node:net";
import { ERROR_SPECS } from "../../src/http/errors.ts";
import { type HttpServer, listen } from "../../src/http/server.ts";
import { type Bytes, Rng, caseSeed, mutatedCase, show, splitPoints } from "./mutate.ts";
import { type RefLimits, type RefRequest, refStream, webMethod } from "./reference.ts";
import { type Pieces, showPieces, shrinkAsync } from "./shrink.ts";

const ENGINE_CODES = new Set(Object.values(ERROR_SPECS).map((s) => s.code));

/** Short timeouts so incomplete streams end fast; the limits are the small profile's, so they are hit. */
export const LIVE_LIMITS: RefLimits = {
  maxHeadBytes: 512, maxTargetBytes: 128, maxHeaderCount: 8, maxBodyBytes: 256, maxChunkLineBytes: 4096, maxTrailerBytes: 16 * 1024,
  // The engine serves the methods a Web Request carries; the reference probes them on its own.
  knownMethod: webMethod,
};

export function startEchoServer(limits: RefLimits = LIVE_LIMITS): HttpServer {
  return listen(
    async (req) => {
      const u = new URL(req.url);
      const body = await req.arrayBuffer();
      return new Response(`${req.method} ${u.pathname}${u.search} ${body.byteLength}`);
    },
    {
      hostname: "127.0.0.1", port: 0, maxHeadBytes: limits.maxHeadBytes, maxTargetBytes: limits.maxTargetBytes,
      maxHeaderCount: limits.maxHeaderCount, maxBodyBytes: limits.maxBodyBytes,
      // Head and body timeouts end the incomplete requests; 150 ms let a GC pause of the test process
      // (every test file runs in one) time out a complete one in a CI run, so 500.
      headerTimeoutMs: 500, bodyTimeoutMs: 500, keepAliveTimeoutMs: 60, writeTimeoutMs: 2000,
    },
  );
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Splits the bytes a server sent into responses; `heads[i]` says whether answer i is to a HEAD. */
function readAnswers(raw: string, heads: boolean[]): Answer[] | string {
  const out: Answer[] = [];
  let at = 0;
  while (at < raw.length) {
    const end = raw.indexOf("\r\n\r\n", at);
    if (end < 0) return `unterminated response head ${JSON.stringify(raw.slice(at, at + 80))}`;
    const [line, ...lines] = raw.slice(at, end).split("\r\n");
    const m = /^HTTP\/1\.[01] (\d{3}) /.exec(line! + " ");
    if (m === null) return `bad status line ${JSON.stringify(line)}`;
    const headers: Record<string, string> = {};
    for (const l of lines) headers[l.slice(0, l.indexOf(":")).toLowerCase()] = l.slice(l.indexOf(":") + 1).trim();
    const status = Number(m[1]);
    at = end + 4;
    let body = "";
    const noBody = status < 200 || status === 204 || status === 304 || heads[out.length] === true;
    if (!noBody && headers["transfer-encoding"] === "chunked") {
      for (;;) {
        const le = raw.indexOf("\r\n", at);
        const size = parseInt(raw.slice(at, le), 16);
        if (le < 0 || Number.isNaN(size)) return "bad chunk";
        body += raw.slice(le + 2, le + 2 + size);
        at = le + 2 + size + 2;
        if (size === 0) break;
      }
    } else if (!noBody) {
      const n = Number(headers["content-length"] ?? NaN);
      if (!Number.isInteger(n) || raw.length < at + n) return "body shorter than its content-length";
      body = raw.slice(at, at + n);
      at += n;
    }
    if (status >= 200) out.push({ status, headers, body });
  }
  return out;
}

const isEngineError = (a: Answer) => {
  try {
    return a.headers["content-type"] === "application/json" && ENGINE_CODES.has((JSON.parse(a.body) as { error: { code: string } }).error.code);
  } catch {
    return false;
  }
};

function expectedEcho(r: RefRequest): string {
  const u = new URL("http://localhost" + r.path);
  return `${r.method} ${u.pathname}${u.search} ${r.bodyLength}`;
}

/** What went wrong on a connection: `kind` names the disagreement (the shrinker keeps it), `detail` says it in full. */
interface Problem {
  kind: string;
  detail: string;
}

const problem = (kind: string, detail = kind): Problem => ({ kind, detail });

/** The exact oracle: what went wrong on this connection, or undefined. */
function checkExact(bytes: Bytes, raw: string, limits: RefLimits): Problem | undefined {
  const ref = refStream(bytes, limits);
  const answers = readAnswers(raw, ref.requests.map((r) => r.method === "HEAD"));
  if (typeof answers === "string") return problem("unreadable answers", answers);
  for (let i = 0; i < ref.requests.length; i++) {
    const want = ref.requests[i]!, got = answers[i];
    if (got === undefined) return problem("a complete request got no answer", `request ${i + 1} of ${ref.requests.length} (${want.method} ${want.path}) got no answer`);
    if (want.path === "*") {
      if (got.status !== 204) return problem(`OPTIONS * answered ${got.status}`);
    } else if (got.status !== 200 || (want.method !== "HEAD" && got.body !== expectedEcho(want))) {
      return problem(`request not echoed (${got.status})`, `request ${i + 1}: expected echo ${JSON.stringify(expectedEcho(want))}, got ${got.status} ${JSON.stringify(got.body.slice(0, 120))}`);
    }
  }
  const extra = answers.slice(ref.requests.length);
  if (ref.end === "closed" && extra.length > 0) return problem("answers after a request that closed", `answered ${extra.length} more after a request that closed the connection`);
  if (extra.length > 1) return problem("more than one answer beyond the complete requests", `${extra.length} answers beyond the ${ref.requests.length} complete requests`);
  const last = extra[0];
  if (ref.end === "invalid" && (last === undefined || !isEngineError(last) || last.headers.connection !== "close" || last.status !== ref.status)) {
    const got = last === undefined ? "sent no error" : `answered ${last.status} ${last.body.slice(0, 80)}`;
    return problem(`the reference answers ${ref.status} (${ref.why?.replace(/ ".*$/, "")}), the server ${last === undefined ? "sent no error" : `answered ${last.status}`}`, `the reference answers ${ref.status} (${ref.why}) but the server ${got}`);
  }
  if (ref.end === "incomplete" && last !== undefined && last.status !== 408) return problem(`an incomplete stream answered ${last.status}`, `an incomplete stream was answered ${last.status} ${last.body.slice(0, 80)}`);
  return undefined;
}

/** The weak oracle, for servers whose answers cannot be predicted. */
function checkWeak(bytes: Bytes, raw: string, limits: RefLimits): Problem | undefined {
  const ref = refStream(bytes, limits);
  const answers = readAnswers(raw, ref.requests.map((r) => r.method === "HEAD"));
  if (typeof answers === "string") return problem("unreadable answers", answers);
  if (answers.length > ref.requests.length + 1) return problem("too many answers", `${answers.length} answers for ${ref.requests.length} complete requests`);
  const extra = answers[ref.requests.length];
  if (extra !== undefined && !isEngineError(extra)) return problem("an answer for no request", `an answer (${extra.status}) for bytes that hold no further complete request`);
  return undefined;
}

interface LiveFuzzOptions {
  port: number;
  connections: number;
  concurrency: number;
  seed: number;
  limits: RefLimits;
  oracle: "exact" | "weak";
  /** A connection still open this long after its last byte was sent is a hang. */
  hangMs?: number;
  maxFindings?: number;
  /** How many findings to shrink before they are reported (exact oracle only; default 3). */
  shrinkFindings?: number;
  /** Time each shrinking may take (default 60 s): a candidate that leaves a head unfinished costs a header timeout. */
  shrinkMs?: number;
}

interface LiveFuzzResult {
  connections: number;
  answered: number;
  /** `shrunk`: with the exact oracle, the case reduced to the fewest bytes that give the same kind of finding. */
  findings: Array<{ index: number; input: string; problem: string; shrunk?: string }>;
  /** Problems the case did not show again when replayed alone (timing under load); reported, not findings. */
  unconfirmed: Array<{ index: number; input: string; problem: string }>;
  ms: number;
}

/** Sends case `index` in pieces; resolves with everything received once the server closes. */
function oneConnection(port: number, bytes: Bytes, cuts: number[], hangMs: number): Promise<{ raw: string; hung: boolean }> {
  return new Promise((resolve) => {
    const sock = connect({ port, host: "127.0.0.1" });
    sock.setNoDelay(true);
    const chunks: Buffer[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = (hung: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ raw: Buffer.concat(chunks).toString("latin1"), hung });
    };
    sock.on("data", (d: Buffer) => chunks.push(d));
    sock.on("close", () => done(false));
    sock.on("error", () => {});
    sock.on("connect", async () => {
      let from = 0;
      for (const to of [...cuts, bytes.length]) {
        if (sock.destroyed) return;
        sock.write(bytes.subarray(from, to));
        from = to;
        await new Promise((r) => setTimeout(r, 1));
      }
      timer = setTimeout(() => done(true), hangMs);
    });
  });
}

/** Sends `c` on a fresh connection and judges what came back. */
async function trial(o: LiveFuzzOptions, c: Pieces): Promise<{ answered: boolean; problem: Problem | undefined }> {
  const { raw, hung } = await oneConnection(o.port, c.bytes, c.cuts, o.hangMs ?? 5000);
  const found = hung ? problem("hang", "the connection was still open long after the last byte (hang)") : (o.oracle === "exact" ? checkExact : checkWeak)(c.bytes, raw, o.limits);
  return { answered: raw.length > 0, problem: found };
}

/** Replays one case (its bytes, sent in its pieces) against an echo server with the exact oracle:
 *  what went wrong, or undefined. For the rows findings become. */
export async function replayLive(port: number, c: Pieces, limits: RefLimits = LIVE_LIMITS): Promise<string | undefined> {
  return (await trial({ port, connections: 1, concurrency: 1, seed: 0, limits, oracle: "exact" }, c)).problem?.detail;
}

export async function runLiveFuzz(o: LiveFuzzOptions): Promise<LiveFuzzResult> {
  const t0 = performance.now();
  const res: LiveFuzzResult = { connections: 0, answered: 0, findings: [], unconfirmed: [], ms: 0 };
  const found: Array<{ index: number; c: Pieces; problem: Problem }> = [];
  let next = 0;
  const worker = async () => {
    while (next < o.connections) {
      const index = next++;
      const s = caseSeed(o.seed, index);
      const bytes = mutatedCase(s);
      const c = { bytes, cuts: splitPoints(bytes, new Rng(s ^ 0x27d4eb2d), 4) };
      const t = await trial(o, c);
      res.connections++;
      if (t.answered) res.answered++;
      if (t.problem !== undefined && found.length < (o.maxFindings ?? 20)) found.push({ index, c, problem: t.problem });
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  found.sort((a, b) => a.index - b.index);
  for (const f of found) {
    // Replayed alone first: on a loaded machine a timer can fire or a connection reset under the
    // fuzz's own hundred connections; a finding is one the case shows again when sent by itself.
    const again = await trial(o, f.c);
    if (again.problem?.kind !== f.problem.kind) {
      res.unconfirmed.push({ index: f.index, input: show(f.c.bytes), problem: f.problem.detail });
      continue;
    }
    // Shrinking costs a connection per candidate (up to a header timeout each): the first few only.
    const shrink = o.oracle === "exact" && res.findings.length < (o.shrinkFindings ?? 3);
    const shrunk = shrink ? showPieces(await shrinkLive(o, f.c, f.problem.kind)) : undefined;
    res.findings.push({ index: f.index, input: show(f.c.bytes), problem: f.problem.detail, ...(shrunk === undefined ? {} : { shrunk }) });
  }
  res.ms = performance.now() - t0;
  return res;
}

/** Shrinks a live finding: each round's candidates go out on connections of their own, together. */
function shrinkLive(o: LiveFuzzOptions, c: Pieces, kind: string): Promise<Pieces> {
  const hangMs = Math.min(o.hangMs ?? 5000, 3000);
  return shrinkAsync(c, async (batch) => {
    const hits = new Array<boolean>(batch.length).fill(false);
    let at = 0;
    const worker = async () => {
      while (at < batch.length) {
        const k = at++;
        hits[k] = (await trial({ ...o, hangMs }, batch[k]!)).problem?.kind === kind;
      }
    };
    // Wide: candidates that leave a head unfinished each wait out the header timeout.
    await Promise.all(Array.from({ length: 200 }, worker));
    return hits.indexOf(true);
  }, { untilMs: performance.now() + (o.shrinkMs ?? 60_000) });
}
