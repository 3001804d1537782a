// Where a command writes: `warren model`, `warren bench` and the project's benchmarks take an Io,
// so tests capture their output without spawning a process. Text is written as given (callers
// end their lines).

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Whether stderr is a terminal: selects the live progress bar over plain progress lines. */
  readonly errIsTTY: boolean;
}

export const processIo: Io = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  errIsTTY: process.stderr.isTTY === true,
};

/** Io that keeps everything in memory: for tests and for callers that post-process the output. */
export function memoryIo(errIsTTY = false): Io & { stdout(): string; stderr(): string } {
  let out = "";
  let err = "";
  return { out: (t) => void (out += t), err: (t) => void (err += t), errIsTTY, stdout: () => out, stderr: () => err };
}
