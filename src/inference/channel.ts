// Single-consumer async queue: the scheduler pushes events without waiting, the consumer pulls.
// The producer reads `backlog` to stop generating for a consumer that has stopped reading (a client
// whose socket is full), and `onTake` tells it when the consumer catches up.

export class Channel<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private head = 0;
  private waiter: ((r: IteratorResult<T>) => void) | null = null;
  private closed = false;

  constructor(
    private readonly onReturn: () => void,
    private readonly onTake?: () => void,
  ) {}

  /** Events pushed and not yet taken. */
  get backlog(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    if (this.closed) return;
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      w({ value: item, done: false });
    } else this.items.push(item);
  }

  close(): void {
    this.closed = true;
    const w = this.waiter;
    if (w && this.head >= this.items.length) {
      this.waiter = null;
      w({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.head < this.items.length) {
      const value = this.items[this.head++]!;
      if (this.head === this.items.length) {
        this.items = [];
        this.head = 0;
      }
      this.onTake?.();
      return Promise.resolve({ value, done: false });
    }
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiter = resolve));
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => this.next(),
      return: async () => {
        // The consumer walked away (client disconnected, or it broke out of the loop).
        if (!this.closed) this.onReturn();
        this.closed = true;
        return { value: undefined, done: true };
      },
    };
  }
}
