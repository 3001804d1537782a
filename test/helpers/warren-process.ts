// Starts `warren serve` as a child process (the real CLI, real sockets) and waits until it is healthy.
import { spawn, type Subprocess } from "bun";
import { resolve } from "node:path";
import { REPO_ROOT } from "./models.ts";

export interface WarrenProcess {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  url: string;
  /** Everything the process logged so far. */
  log(): string;
  /** The exit code, once the process has exited and everything it wrote has been read into log(). */
  exited: Promise<number>;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

export async function startWarren(args: string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number; entry?: string[] } = {}): Promise<WarrenProcess> {
  // Tests read the readable lines; the default (JSON off a terminal) has tests of its own.
  const format = args.some((a) => a.startsWith("--log-format")) ? [] : ["--log-format", "text"];
  const cmd = [...(opts.entry ?? [process.execPath, resolve(REPO_ROOT, "src/main.ts")]), "serve", "--port", "0", ...format, ...args];
  const proc = spawn({ cmd, cwd: opts.cwd ?? REPO_ROOT, env: { ...process.env, ...opts.env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let text = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  };
  const pumped = Promise.all([pump(proc.stderr), pump(proc.stdout)]).catch(() => {});
  const exited = Promise.all([proc.exited, pumped]).then(([code]) => code);
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let url = "";
  while (Date.now() < deadline) {
    url ||= text.match(/listening on (http:\/\/[^\s]+)/)?.[1] ?? "";
    if (url && (await fetch(`${url}/health`).then((r) => r.status === 200, () => false))) break;
    if (proc.exitCode !== null) throw new Error(`warren exited with ${proc.exitCode}:\n${text}`);
    await Bun.sleep(50);
  }
  if (!url || Date.now() >= deadline) {
    proc.kill("SIGKILL");
    throw new Error(`warren did not become healthy:\n${text}`);
  }
  return {
    proc,
    url,
    log: () => text,
    exited,
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null) proc.kill(signal);
      return exited;
    },
  };
}
