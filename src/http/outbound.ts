// Per-connection write queue. Bun's socket.write is unbuffered: it returns how many bytes the
// kernel took (maybe fewer than given, 0 when full, -1 once the peer is gone), so whatever is left
// waits here until the next `drain`. Small queued chunks are coalesced so that responses that are
// ready together (pipelining) leave in one write.
//
// Responses are staged: encoded straight into one buffer shared by all connections, so the usual
// answer costs no allocation of its own and no second copy before its write. The buffer is lent to
// one Outbound at a time and always holds the tail of its queue; whoever needs it next first moves
// the holder's staged bytes into the holder's own queue (only a response still waiting on another
// one, or on a slow socket, ever pays that copy).
import type { Encodable } from "./serialize.ts";

export interface WriteTarget {
  /** Writes data[0, length): bytes accepted, or a negative number when the socket is closed.
   *  (A length rather than a view: a view per write of the shared buffer is measurable.) */
  write(data: Uint8Array, length: number): number;
}

export class Outbound {
  /** Queued bytes not yet accepted by the socket (staged ones included). */
  bytes = 0;
  // Allocated on first use: an idle keep-alive connection carries no queue.
  private items: Uint8Array[] | null = null;
  private first = 0;

  constructor(private readonly coalesceMaxBytes: number) {}

  get empty(): boolean {
    return this.bytes === 0;
  }

  push(data: Uint8Array): void {
    if (data.length === 0) return;
    if (holder === this) this.unstage();
    (this.items ??= []).push(data);
    this.bytes += data.length;
  }

  /** Queues a response: `head`'s bytes, then `body`. Staged when it fits. */
  pushEncoded(head: Encodable, body: Uint8Array | null): void {
    const size = head.size + (body === null ? 0 : body.length);
    const into = this.stageFor(size) ? stage : new Uint8Array(size);
    const off = head.encode(into, into === stage ? staged : 0);
    if (body !== null) into.set(body, off);
    if (into === stage) this.commitStaged(size);
    else this.push(into);
  }

  /** Makes this the holder with room for `size` more bytes; false when they should not be staged. */
  private stageFor(size: number): boolean {
    if (holder !== this || staged + size > this.coalesceMaxBytes) {
      holder?.unstage();
      if (size > this.coalesceMaxBytes) return false;
      holder = this;
    }
    if (stage.length < staged + size) grow(staged + size);
    return true;
  }

  private commitStaged(size: number): void {
    staged += size;
    this.bytes += size;
  }

  /**
   * Writes as much as the socket takes. Returns true when the queue is empty, false when bytes are
   * left for the next drain (or the socket is closed: the caller learns that from `close`).
   */
  flush(target: WriteTarget): boolean {
    const items = this.items;
    while (items !== null && this.first < items.length) {
      const data = this.coalesce(items);
      const n = target.write(data, data.length);
      if (n < 0) return false;
      this.bytes -= n;
      if (n < data.length) {
        items[this.first] = data.subarray(n);
        this.compact(items);
        return false;
      }
      items[this.first++] = EMPTY;
    }
    this.items = null;
    this.first = 0;
    return holder === this ? this.flushStaged(target) : true;
  }

  private flushStaged(target: WriteTarget): boolean {
    const n = target.write(stage, staged);
    if (n < 0) return false;
    this.bytes -= n;
    // The rest moves out of the shared buffer: the next drain may be far away.
    if (n < staged) this.items = [stage.slice(n, staged)];
    holder = null;
    staged = 0;
    return this.items === null;
  }

  /** Moves the staged tail into this queue's own memory, freeing the shared buffer. */
  private unstage(): void {
    if (staged > 0) (this.items ??= []).push(stage.slice(0, staged));
    holder = null;
    staged = 0;
  }

  /** Drops everything queued (the connection is closing without a graceful flush). */
  clear(): void {
    if (holder === this) {
      holder = null;
      staged = 0;
    }
    this.items = null;
    this.first = 0;
    this.bytes = 0;
  }

  /** Joins the leading small chunks into one buffer (up to coalesceMaxBytes) and puts it in front. */
  private coalesce(items: Uint8Array[]): Uint8Array {
    const head = items[this.first]!;
    if (this.first + 1 >= items.length || head.length >= this.coalesceMaxBytes) return head;
    let total = 0, last = this.first;
    while (last < items.length && total + items[last]!.length <= this.coalesceMaxBytes) total += items[last++]!.length;
    if (last - this.first < 2) return head;
    const joined = new Uint8Array(total);
    let off = 0;
    for (let k = this.first; k < last; k++) {
      joined.set(items[k]!, off);
      off += items[k]!.length;
      items[k] = EMPTY;
    }
    this.first = last - 1;
    items[this.first] = joined;
    return joined;
  }

  /** Keeps shift-free dequeueing linear: drop consumed slots once they are half the array. */
  private compact(items: Uint8Array[]): void {
    if (this.first < 32 || this.first * 2 < items.length) return;
    this.items = items.slice(this.first);
    this.first = 0;
  }
}

const EMPTY = new Uint8Array(0);

/** The shared staging buffer, its current holder and how many bytes the holder has in it. */
let stage = new Uint8Array(16 * 1024);
let holder: Outbound | null = null;
let staged = 0;

function grow(min: number): void {
  let size = stage.length * 2;
  while (size < min) size *= 2;
  const bigger = new Uint8Array(size);
  bigger.set(stage.subarray(0, staged));
  stage = bigger;
}
