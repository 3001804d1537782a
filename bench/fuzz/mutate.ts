// Seeded HTTP/1.1 request fuzzing: a corpus of valid request streams and the mutations applied to
// them. Everything is a pure function of the seed, so a finding is replayed from (seed, case index).

/** mulberry32: tiny, fast, and good enough to spread mutations; never used for anything secret. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

/** Seed of case `i` of a run seeded `seed`: any single case replays without running the ones before it. */
export const caseSeed = (seed: number, i: number): number => (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(i + 1, 0xc2b2ae35)) >>> 0;

const H = "Host: localhost\r\n";
const JSON_BODY = '{"prompt":"Hello","max_tokens":2}';

/** Valid request streams, one or more pipelined requests each; the mutations start from these. */
export const CORPUS: readonly string[] = [
  `GET /health HTTP/1.1\r\n${H}\r\n`,
  `GET /health HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
  `GET / HTTP/1.0\r\n\r\n`,
  `GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /y HTTP/1.0\r\n\r\n`,
  `POST /generate HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Length: ${JSON_BODY.length}\r\n\r\n${JSON_BODY}`,
  `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n`,
  `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n`,
  `GET /a HTTP/1.1\r\n${H}\r\nGET /b HTTP/1.1\r\n${H}\r\nGET /c HTTP/1.1\r\n${H}\r\n`,
  `POST /e HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabcGET /f HTTP/1.1\r\n${H}\r\n`,
  `GET http://localhost:8080/v1/models?x=1 HTTP/1.1\r\n${H}\r\n`,
  `OPTIONS * HTTP/1.1\r\n${H}\r\n`,
  `DELETE /v1/x?y=%20z HTTP/1.1\r\n${H}Accept: */*\r\nUser-Agent: fuzz/1\r\nX-Empty:\r\n\r\n`,
  `GET /q HTTP/1.1\r\nHOST: localhost\r\nAccept: a\r\nAccept: b\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n`,
  `POST /c HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 4\r\n\r\nbody`,
  `POST /l HTTP/1.1\r\n${H}Content-Length: 2, 2\r\n\r\nok`,
  `\r\nGET /lead HTTP/1.1\r\n${H}X-Obs: caf\xe9\r\n\r\n`,
  `PUT /p HTTP/1.1\r\n${H}Connection: close\r\nContent-Length: 1\r\n\r\nxGET /never HTTP/1.1\r\n${H}\r\n`,
  `HEAD /health HTTP/1.1\r\n${H}\r\n`,
  `GET /health HTTP/1.1\r\n${H}Authorization: Bearer sk-test\r\nX-Api-Key: k\r\n\r\n`,
];

/** Fragments that often matter to a parser; inserted whole. */
const TOKENS = [
  "\r\n", "\r\n\r\n", "\n", "\r", " ", "\t", ":", ";", ",", "\x00", "\x7f", "\xff", "0", "9", "f", "-1",
  "Content-Length: 0\r\n", "Content-Length: 5\r\n", "Content-Length: 99999999\r\n", "Transfer-Encoding: chunked\r\n",
  "Transfer-Encoding: gzip\r\n", "Host: x\r\n", "Connection: close\r\n", "Expect: 100-continue\r\n", " chunked",
  "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "GET ", "CONNECT ", "/", "*", "?", "#", "%", "ffffffffffffffffff\r\n", "0\r\n\r\n",
];

export type Bytes = Uint8Array;
const latin1 = (s: string): Bytes => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
const corpusBytes: readonly Bytes[] = CORPUS.map(latin1);

function splice(b: Bytes, at: number, remove: number, insert: Bytes): Bytes {
  const out = new Uint8Array(b.length - remove + insert.length);
  out.set(b.subarray(0, at));
  out.set(insert, at);
  out.set(b.subarray(at + remove), at + insert.length);
  return out;
}

/** Offsets just after each CRLF inside the head: where header lines start. */
function lineStarts(b: Bytes): number[] {
  const starts: number[] = [];
  for (let i = 1; i < b.length; i++) if (b[i - 1] === 10) starts.push(i);
  return starts;
}

type Mutator = (b: Bytes, r: Rng) => Bytes;

const MUTATORS: readonly Mutator[] = [
  // flip one bit
  (b, r) => {
    if (b.length === 0) return b;
    const out = b.slice();
    out[r.int(b.length)]! ^= 1 << r.int(8);
    return out;
  },
  // random byte in place
  (b, r) => {
    if (b.length === 0) return b;
    const out = b.slice();
    out[r.int(b.length)] = r.int(256);
    return out;
  },
  // insert a token
  (b, r) => splice(b, r.int(b.length + 1), 0, latin1(r.pick(TOKENS))),
  // delete a short range
  (b, r) => {
    const at = r.int(b.length + 1);
    return splice(b, at, Math.min(b.length - at, 1 + r.int(4)), new Uint8Array(0));
  },
  // duplicate a line (a header, the request line, a chunk line)
  (b, r) => {
    const starts = lineStarts(b);
    if (starts.length === 0) return b;
    const s = r.pick(starts);
    let e = b.indexOf(10, s);
    if (e < 0) return b;
    e++;
    return splice(b, s, 0, b.slice(s, e));
  },
  // truncate
  (b, r) => b.slice(0, r.int(b.length + 1)),
  // duplicate a range
  (b, r) => {
    const s = r.int(b.length + 1), n = r.int(Math.min(32, b.length - s) + 1);
    return splice(b, s, 0, b.slice(s, s + n));
  },
  // toggle case of a letter
  (b, r) => {
    const out = b.slice();
    for (let k = 0; k < 8; k++) {
      const i = r.int(out.length);
      const c = out[i]!;
      if ((c | 0x20) >= 97 && (c | 0x20) <= 122) {
        out[i] = c ^ 0x20;
        break;
      }
    }
    return out;
  },
  // join with another corpus entry (pipelining after whatever this has become)
  (b, r) => {
    const other = r.pick(corpusBytes);
    return splice(b, b.length, 0, other);
  },
  // repeat one byte many times (long lines, many headers)
  (b, r) => splice(b, r.int(b.length + 1), 0, new Uint8Array(1 + r.int(600)).fill(b[r.int(b.length)] ?? 65)),
];

/** One fuzz case: a corpus entry with 1-4 mutations, or (one case in eight) untouched. */
export function mutatedCase(seed: number): Bytes {
  const r = new Rng(seed);
  let b = r.pick(corpusBytes);
  if (r.int(8) === 0) return b;
  const n = 1 + r.int(4);
  for (let k = 0; k < n; k++) b = r.pick(MUTATORS)(b, r);
  return b;
}

/** Cut points for feeding `b` in pieces: sorted, distinct, inside (0, length). */
export function splitPoints(b: Bytes, r: Rng, max = 3): number[] {
  if (b.length < 2) return [];
  const pts = new Set<number>();
  const n = 1 + r.int(max);
  for (let k = 0; k < n; k++) pts.add(1 + r.int(b.length - 1));
  return [...pts].sort((x, y) => x - y);
}

export const show = (b: Bytes): string => JSON.stringify(String.fromCharCode(...b.subarray(0, 400)));
