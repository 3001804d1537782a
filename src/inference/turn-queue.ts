// One worker, many callers: each caller hands over a list of tasks, and the tasks run one at a
// time, taking turns between callers (round robin), so a request with one input is not stuck
// behind another with two thousand. Bounded: tasks beyond `maxQueued` are refused at once.
//
// The embedding context evaluates one sequence per decode (see llama/embedding.ts), so taking
// turns is the batching there is: concurrent requests share one context and run back to back.
import { InferenceError } from "./types.ts";

type Task = () => Promise<unknown>;

const shuttingDown = () => new InferenceError("shutting_down", "the server is shutting down");

interface Turn {
  tasks: readonly Task[];
  /** Index of the next task to run. */
  next: number;
  results: unknown[];
  settled: boolean;
  resolve(results: unknown[]): void;
  reject(err: unknown): void;
  unlisten?: () => void;
}

export class TurnQueue {
  private readonly waiting: Turn[] = [];
  private running: Promise<void> | undefined;
  private closed = false;
  /** Tasks accepted and not yet finished (the one running included). */
  private pending = 0;

  constructor(
    private readonly maxQueued: number,
    /** Made when a caller's signal fires; rejects that caller's promise. */
    private readonly cancelled: () => Error,
  ) {}

  get queued(): number {
    return this.pending;
  }

  /** Runs `tasks` in order, taking turns with other callers; results come back in task order. */
  run<T>(tasks: ReadonlyArray<() => Promise<T>>, signal?: AbortSignal): Promise<T[]> {
    if (this.closed) return Promise.reject(shuttingDown());
    if (signal?.aborted) return Promise.reject(this.cancelled());
    if (tasks.length === 0) return Promise.resolve([]);
    if (this.pending + tasks.length > this.maxQueued) {
      return Promise.reject(new InferenceError("queue_full", `${this.pending} embedding inputs are queued; ${tasks.length} more would pass the limit of ${this.maxQueued}`));
    }
    return new Promise<T[]>((resolve, reject) => {
      const turn: Turn = { tasks, next: 0, results: new Array(tasks.length), settled: false, resolve: resolve as (r: unknown[]) => void, reject };
      if (signal) {
        const onAbort = () => this.settle(turn, this.cancelled());
        signal.addEventListener("abort", onAbort, { once: true });
        turn.unlisten = () => signal.removeEventListener("abort", onAbort);
      }
      this.pending += tasks.length;
      this.waiting.push(turn);
      this.running ??= this.drain().finally(() => (this.running = undefined));
    });
  }

  /** Refuses new work and everything waiting; resolves once the task in progress has finished. */
  async close(): Promise<void> {
    this.closed = true;
    for (const turn of this.waiting.splice(0)) this.settle(turn, shuttingDown());
    await this.running;
  }

  private async drain(): Promise<void> {
    for (let turn = this.waiting.shift(); turn; turn = this.waiting.shift()) {
      if (turn.settled) continue;
      const i = turn.next;
      try {
        turn.results[i] = await turn.tasks[i]!();
      } catch (err) {
        this.settle(turn, err);
        continue;
      }
      if (turn.settled) continue;
      turn.next++;
      this.pending--;
      if (turn.next === turn.tasks.length) this.settle(turn);
      else if (this.closed) this.settle(turn, shuttingDown());
      else this.waiting.push(turn);
    }
  }

  /** Ends a turn once: resolved when all its tasks ran, rejected otherwise (its remaining tasks are dropped). */
  private settle(turn: Turn, err?: unknown): void {
    if (turn.settled) return;
    turn.settled = true;
    turn.unlisten?.();
    this.pending -= turn.tasks.length - turn.next;
    const at = this.waiting.indexOf(turn);
    if (at !== -1) this.waiting.splice(at, 1);
    if (err === undefined) turn.resolve(turn.results);
    else turn.reject(err);
  }
}
