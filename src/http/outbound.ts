// Per-connection write queue. Bun's socket.write is unbuffered: it returns how many bytes the
// kernel took (maybe fewer than given, 0 when full, -1 once the peer is gone), so whatever is left
// waits here until the next `drain`. Small queued chunks are coalesced so that responses that are
// ready together (pipelining) leave in one write.

export interface WriteTarget {
  /** Bytes accepted, or a negative number when the socket is closed. */
  write(data: Uint8Array): number;
}

export class Outbound {
  /** Queued bytes not yet accepted by the socket. */
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
    (this.items ??= []).push(data);
    this.bytes += data.length;
  }

  /**
   * Writes as much as the socket takes. Returns true when the queue is empty, false when bytes are
   * left for the next drain (or the socket is closed: the caller learns that from `close`).
   */
  flush(target: WriteTarget): boolean {
    const items = this.items;
    while (items !== null && this.first < items.length) {
      const data = this.coalesce(items);
      const n = target.write(data);
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
    return true;
  }

  /** Drops everything queued (the connection is closing without a graceful flush). */
  clear(): void {
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
