// Bounded FIFO admission queue. Removal by identity (cancellation, queue timeout) is O(n) over at
// most `capacity` entries, which stays small (tens), so a plain array beats a linked structure.

export class BoundedQueue<T> {
  private items: T[] = [];
  constructor(readonly capacity: number) {}

  get length(): number {
    return this.items.length;
  }

  /**
   * False when full: the caller refuses the work (503), it never waits. `headroom` admits that many
   * extra entries (jobs about to move into free slots, which are not really waiting).
   */
  offer(item: T, headroom = 0): boolean {
    if (this.items.length >= this.capacity + headroom) return false;
    this.items.push(item);
    return true;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  shift(): T | undefined {
    return this.items.shift();
  }

  remove(item: T): boolean {
    const i = this.items.indexOf(item);
    if (i === -1) return false;
    this.items.splice(i, 1);
    return true;
  }
}
