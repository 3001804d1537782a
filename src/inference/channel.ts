// Single-consumer async queue: the scheduler pushes events without waiting, the consumer pulls.
// Events are small (a few chars each) and bounded by max_tokens, so no backpressure is needed here;
// a consumer that stops reading is cut off by the HTTP layer's write timeout, which cancels the request.

export class Channel<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private head = 0;
  private waiter: ((r: IteratorResult<T>) => void) | null = null;
  private closed = false;

  constructor(private readonly onReturn: () => void) {}

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
