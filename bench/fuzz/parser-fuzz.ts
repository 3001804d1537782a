// Fuzzes the request-head parser in process. The oracle, per case:
//   1. parseHead never throws and keeps its return protocol: NEED_MORE, 0 < n <= input length, or
//      -code for a known HttpError;
//   2. feeding the same bytes in pieces (the buffer growing, prevLen passed as a connection does)
//      gives the same result and the same head, and so does parsing it at an offset;
//   3. the result agrees with the reference reading (reference.ts): complete with the same length and
//      fields, incomplete, or invalid with the same status (which rule comes first decides it).
import { ERROR_SPECS, HttpError } from "../../src/http/errors.ts";
import { type HeadLimits, NEED_MORE, type RequestHead, emptyHead, parseHead } from "../../src/http/parser.ts";
import { type Bytes, Rng, caseSeed, mutatedCase, show, splitPoints } from "./mutate.ts";
import { type RefLimits, refHead, text, webMethod } from "./reference.ts";
import { showPieces, shrink } from "./shrink.ts";

/** A few methods, so that known ones are refused too. */
const FEW_METHODS = new Set(["GET", "HEAD", "POST", "OPTIONS"]);

/** Two profiles: the engine's defaults (with the methods a Web Request carries), and small limits
 *  and few methods, so the limit paths and the method rule are reached often. */
export const PROFILES: readonly RefLimits[] = [
  { maxHeadBytes: 16 * 1024, maxTargetBytes: 8 * 1024, maxHeaderCount: 100, maxBodyBytes: 1 << 20, maxChunkLineBytes: 4096, maxTrailerBytes: 16 * 1024, knownMethod: webMethod },
  { maxHeadBytes: 256, maxTargetBytes: 64, maxHeaderCount: 6, maxBodyBytes: 64, maxChunkLineBytes: 16, maxTrailerBytes: 32, knownMethod: (m) => FEW_METHODS.has(m) },
];

interface Finding {
  seed: number;
  index: number;
  input: string;
  problem: string;
  /** The case shrunk to the fewest bytes that still give the same kind of finding. */
  shrunk: string;
}

/** What went wrong: `kind` names the disagreement (the shrinker keeps it), `detail` says it in full. */
interface Problem {
  kind: string;
  detail: string;
}

const problem = (kind: string, detail = kind): Problem => ({ kind, detail });

interface ParserFuzzResult {
  cases: number;
  complete: number;
  needMore: number;
  errors: number;
  /** Error results by HttpError name: shows which rejections the run reached. */
  byCode: Record<string, number>;
  findings: Finding[];
  ms: number;
}

function parse(buf: Bytes, start: number, end: number, prevLen: number, limits: HeadLimits, out: RequestHead): number | string {
  try {
    const r = parseHead(buf, start, end, prevLen, limits, out);
    if (!Number.isInteger(r)) return `returned ${String(r)}`;
    if (r > end - start) return `consumed ${r} of ${end - start} bytes`;
    if (r < 0 && HttpError[-r] === undefined) return `unknown error code ${-r}`;
    return r;
  } catch (err) {
    return `threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
  }
}

/** Feeds pieces as a connection does: one growing buffer, the previous length as prevLen. */
function feed(bytes: Bytes, cuts: number[], limits: HeadLimits, out: RequestHead): number | string {
  let prevLen = 0;
  for (const end of [...cuts, bytes.length]) {
    const r = parse(bytes.slice(0, end), 0, end, prevLen, limits, out);
    if (r !== NEED_MORE) return r;
    prevLen = end;
  }
  return NEED_MORE;
}

const fields = (h: RequestHead | Omit<RequestHead, "expectContinue">) =>
  JSON.stringify([h.method, h.target, h.path, h.minor, h.headers, h.contentLength, h.chunked, h.keepAlive]);

const describe = (r: number) => (r > 0 ? `complete(${r})` : r === NEED_MORE ? "need-more" : `error ${HttpError[-r]}`);
/** As describe, without the length (a finding's kind must survive its shrinking). */
const outcome = (r: number | string) => (typeof r === "string" ? "a broken return protocol" : r > 0 ? "complete" : describe(r));

/** The oracle for one input fed whole and cut at `cuts`; returns what went wrong, or undefined. */
function checkParserCase(bytes: Bytes, limits: RefLimits, cuts: number[]): Problem | undefined {
  const whole = emptyHead();
  const r0 = parse(bytes, 0, bytes.length, 0, limits, whole);
  if (typeof r0 === "string") return problem("broke its return protocol", r0);
  const split = emptyHead();
  const r1 = feed(bytes, cuts, limits, split);
  const d1 = typeof r1 === "string" ? r1 : describe(r1);
  if (r1 !== r0) return problem(`split: ${outcome(r1)} where whole: ${outcome(r0)}`, `split at ${cuts} gave ${d1}, whole gave ${describe(r0)}`);
  if (r0 > 0 && fields(split) !== fields(whole)) return problem("split read other fields", `split at ${cuts} read other fields: ${fields(split)} vs ${fields(whole)}`);
  const shifted = new Uint8Array(bytes.length + 5);
  shifted.set([71, 69, 84, 32, 47]);
  shifted.set(bytes, 5);
  const r2 = parse(shifted, 5, shifted.length, 0, limits, emptyHead());
  const d2 = typeof r2 === "string" ? r2 : describe(r2);
  if (r2 !== r0) return problem(`offset: ${outcome(r2)} where at 0: ${outcome(r0)}`, `at offset 5 gave ${d2}, at 0 gave ${describe(r0)}`);
  const ref = refHead(text(bytes), 0, limits);
  if (ref.kind === "ok") {
    if (r0 !== ref.end) return problem(`reference complete, parser ${outcome(r0)}`, `reference reads a complete head of ${ref.end} bytes, parser says ${describe(r0)}`);
    if (fields(ref) !== fields(whole)) return problem("fields differ", `fields differ: parser ${fields(whole)}, reference ${fields(ref)}`);
  } else if (ref.kind === "incomplete" && r0 !== NEED_MORE) return problem(`reference incomplete, parser ${outcome(r0)}`, `reference says incomplete, parser says ${describe(r0)}`);
  else if (ref.kind === "invalid" && r0 >= 0) return problem(`reference invalid, parser ${outcome(r0)}`, `reference says invalid (${ref.why}), parser says ${describe(r0)}`);
  else if (ref.kind === "invalid" && ERROR_SPECS[-r0 as HttpError].status !== ref.status) {
    // The kind names the rule without the bytes it quotes, so the shrinking keeps to that rule.
    return problem(`reference ${ref.status} (${ref.why.replace(/ ".*$/, "")}), parser ${describe(r0)}`, `reference says ${ref.status} (${ref.why}), parser says ${describe(r0)} (${ERROR_SPECS[-r0 as HttpError].status})`);
  }
  return undefined;
}

export function runParserFuzz(opts: { cases: number; seed: number; maxFindings?: number; deadlineMs?: number }): ParserFuzzResult {
  const t0 = performance.now();
  const res: ParserFuzzResult = { cases: 0, complete: 0, needMore: 0, errors: 0, byCode: {}, findings: [], ms: 0 };
  const deadline = opts.deadlineMs === undefined ? Infinity : t0 + opts.deadlineMs;
  for (let i = 0; i < opts.cases && performance.now() < deadline; i++) {
    const s = caseSeed(opts.seed, i);
    const bytes = mutatedCase(s);
    const cuts = splitPoints(bytes, new Rng(s ^ 0x5bd1e995));
    const limits = PROFILES[i & 1]!;
    const found = checkParserCase(bytes, limits, cuts);
    res.cases++;
    if (found !== undefined) {
      if (res.findings.length < (opts.maxFindings ?? 20)) {
        const small = shrink({ bytes, cuts }, (c) => checkParserCase(c.bytes, limits, c.cuts)?.kind === found.kind);
        res.findings.push({ seed: opts.seed, index: i, input: show(bytes), problem: found.detail, shrunk: showPieces(small) });
      }
      continue;
    }
    const n = parseHead(bytes, 0, bytes.length, 0, limits, emptyHead());
    if (n > 0) res.complete++;
    else if (n === NEED_MORE) res.needMore++;
    else {
      res.errors++;
      const name = HttpError[-n]!;
      res.byCode[name] = (res.byCode[name] ?? 0) + 1;
    }
  }
  res.ms = performance.now() - t0;
  return res;
}
