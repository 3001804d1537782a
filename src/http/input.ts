// Unparsed request bytes of one connection. Bun hands every read a fresh buffer, so the common
// case (whole requests per read) keeps the read itself with no copy; only a head split across
// reads is accumulated. Bytes before `start` are never moved or overwritten, because decoded body
// pieces may still point into them.

export class InputBuffer {
  buf: Uint8Array | null = null;
  start = 0;
  end = 0;
  /** True when `buf` is our own accumulator (may be appended to in place), not a read buffer. */
  private owned = false;

  get length(): number {
    return this.end - this.start;
  }

  append(chunk: Uint8Array): void {
    if (this.buf === null || this.start === this.end) {
      this.buf = chunk;
      this.start = 0;
      this.end = chunk.length;
      this.owned = false;
      return;
    }
    if (this.owned && this.end + chunk.length <= this.buf.length) {
      this.buf.set(chunk, this.end);
      this.end += chunk.length;
      return;
    }
    // Doubling keeps a head trickled in byte by byte linear overall.
    const live = this.end - this.start;
    const grown = new Uint8Array(Math.max(1024, 2 * (live + chunk.length)));
    grown.set(this.buf.subarray(this.start, this.end), 0);
    grown.set(chunk, live);
    this.buf = grown;
    this.start = 0;
    this.end = live + chunk.length;
    this.owned = true;
  }

  consume(n: number): void {
    this.start += n;
    if (this.start === this.end) this.clear();
  }

  clear(): void {
    this.buf = null;
    this.start = this.end = 0;
    this.owned = false;
  }
}
