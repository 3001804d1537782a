// Shrinks a fuzz finding before it is reported: delta debugging (Zeller and Hildebrandt's ddmin)
// removes bytes, then the same search over runs of bytes replaces them with "x" (lines, spaces and
// colons are kept, so the shape of the request stays readable), keeping each step only while the
// same kind of finding still holds. What cannot be removed without losing the finding is what it
// needs; what cannot be replaced is what it is about (a finding at a size limit keeps its length,
// and shows it in a run of x). The case keeps its pieces (how it was split across reads or writes):
// a cut stays between the bytes it separated, so a finding that needs a split keeps it.
import type { Bytes } from "./mutate.ts";

/** A case as sent: its bytes and the offsets where the pieces were cut (sorted, inside (0, length)). */
export interface Pieces {
  bytes: Bytes;
  cuts: number[];
}

/** The candidates of one round, tested together; the reply is the index of the first that still fails, or -1. */
type Rounds = Generator<Pieces[], void, number>;

interface ShrinkOptions {
  /** Stop after this many candidates were tested (each costs a parse, or a connection). */
  maxTests?: number;
  /** Stop at this performance.now() time, with the smallest case found so far. */
  untilMs?: number;
}

/** Shrinks `c` while `fails` holds for the candidate (the same kind of finding). Returns `c` itself when nothing smaller fails. */
export function shrink(c: Pieces, fails: (candidate: Pieces) => boolean, opts: ShrinkOptions = {}): Pieces {
  const rounds = reduce(c);
  let best = c, tests = 0, step = rounds.next();
  while (!step.done && tests < (opts.maxTests ?? 20_000) && performance.now() < (opts.untilMs ?? Infinity)) {
    const batch = step.value;
    let hit = -1;
    for (let k = 0; k < batch.length && hit < 0; k++) {
      tests++;
      if (fails(batch[k]!)) hit = k;
    }
    if (hit >= 0) best = batch[hit]!;
    step = rounds.next(hit);
  }
  return best;
}

/** As shrink, for predicates that take time (a live connection): each round's candidates are tested
 *  together by `firstFailing`, which resolves the index of the first that still fails, or -1. */
export async function shrinkAsync(c: Pieces, firstFailing: (batch: Pieces[]) => Promise<number>, opts: ShrinkOptions = {}): Promise<Pieces> {
  const rounds = reduce(c);
  let best = c, tests = 0, step = rounds.next();
  while (!step.done && tests < (opts.maxTests ?? 5000) && performance.now() < (opts.untilMs ?? Infinity)) {
    const batch = step.value;
    tests += batch.length;
    const hit = await firstFailing(batch);
    if (hit >= 0) best = batch[hit]!;
    step = rounds.next(hit);
  }
  return best;
}

/** ddmin over the byte indices of `c`, then the cuts, then the replacing pass over what is left. */
function* reduce(c: Pieces): Rounds {
  let keep = Array.from(c.bytes, (_, i) => i);
  let parts = 2;
  while (keep.length >= 2) {
    const chunks = split(keep, parts);
    let hit = yield chunks.map((k) => subset(c, k));
    if (hit >= 0) {
      keep = chunks[hit]!;
      parts = 2;
      continue;
    }
    // With two parts the complements are the chunks themselves.
    if (parts > 2) {
      const complements = chunks.map((_, k) => chunks.filter((_, j) => j !== k).flat());
      hit = yield complements.map((k) => subset(c, k));
      if (hit >= 0) {
        keep = complements[hit]!;
        parts = Math.max(parts - 1, 2);
        continue;
      }
    }
    if (parts >= keep.length) break;
    parts = Math.min(parts * 2, keep.length);
  }
  yield* plainer(yield* fewerCuts(subset(c, keep)));
}

/** Drops the cuts the finding does not need, one at a time. */
function* fewerCuts(c: Pieces): Generator<Pieces[], Pieces, number> {
  let current = c;
  for (let k = current.cuts.length - 1; k >= 0; k--) {
    const cuts = current.cuts.filter((_, j) => j !== k);
    if ((yield [{ bytes: current.bytes, cuts }]) === 0) current = { bytes: current.bytes, cuts };
  }
  return current;
}

/** Replaces runs of `c`'s bytes with "x", from halves down to single bytes, while the finding holds. */
function* plainer(c: Pieces): Generator<Pieces[], void, number> {
  let current = c;
  let open = Array.from(c.bytes, (_, i) => i).filter((i) => !KEPT.has(c.bytes[i]!));
  let parts = Math.min(2, open.length);
  while (open.length > 0) {
    const chunks = split(open, parts);
    const candidates = chunks.map((chunk) => {
      const bytes = current.bytes.slice();
      for (const i of chunk) bytes[i] = X;
      return { bytes, cuts: current.cuts };
    });
    const hit = yield candidates;
    if (hit >= 0) {
      current = candidates[hit]!;
      const done = new Set(chunks[hit]);
      open = open.filter((i) => !done.has(i));
      parts = Math.min(Math.max(parts - 1, 2), open.length);
      continue;
    }
    if (parts >= open.length) break;
    parts = Math.min(parts * 2, open.length);
  }
}

const X = 0x78;
/** Bytes the replacing pass leaves alone: "x" itself, and what gives a request its shape (CR, LF, SP, HTAB, ":"). */
const KEPT = new Set([X, 13, 10, 32, 9, 58]);

/** `keep` in `parts` runs of near-equal length (fewer when keep is shorter). */
function split(keep: number[], parts: number): number[][] {
  const out: number[][] = [];
  for (let k = 0; k < parts; k++) {
    const run = keep.slice(Math.floor((k * keep.length) / parts), Math.floor(((k + 1) * keep.length) / parts));
    if (run.length > 0) out.push(run);
  }
  return out;
}

/** The bytes of `c` at the indices `keep` (ascending), each cut moved to where its bytes went. */
function subset(c: Pieces, keep: readonly number[]): Pieces {
  const bytes = Uint8Array.from(keep, (i) => c.bytes[i]!);
  const cuts = new Set<number>();
  let kept = 0;
  for (const cut of c.cuts) {
    while (kept < keep.length && keep[kept]! < cut) kept++;
    if (kept > 0 && kept < bytes.length) cuts.add(kept);
  }
  return { bytes, cuts: [...cuts] };
}

/** A case for a report: the bytes as a JSON string, then the cuts. */
export function showPieces(c: Pieces, maxBytes = 2000): string {
  const text = JSON.stringify(String.fromCharCode(...c.bytes.subarray(0, maxBytes)));
  const more = c.bytes.length > maxBytes ? ` (first ${maxBytes} of ${c.bytes.length} bytes)` : "";
  return `${text}${more}${c.cuts.length > 0 ? `, cut at ${c.cuts.join(",")}` : ""}`;
}
