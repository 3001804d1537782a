// Starts `warren serve` for bench runs (soak, fuzz against the CLI, the seed scenario): the real process on
// 127.0.0.1, the tiny generated model unless one is given, stopped with the run.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const MAIN = resolve(import.meta.dir, "../../src/main.ts");

interface SpawnedWarren {
  url: string;
  port: number;
  pid: number;
  /** Everything it logged (last 64 KiB). */
  log(): string;
  stop(): Promise<number>;
}

export async function spawnWarren(args: string[], model?: string): Promise<SpawnedWarren> {
  let dir: string | undefined;
  if (model === undefined) {
    dir = mkdtempSync(join(tmpdir(), "warren-bench-"));
    model = join(dir, "tiny.gguf");
    const { makeModel } = await import("../../src/models/presets.ts");
    await makeModel({ preset: "tiny", out: model });
  }
  const proc = Bun.spawn([process.execPath, MAIN, "serve", "--host", "127.0.0.1", "--port", "0", "--model", model, ...args], {
    stdin: "ignore", stdout: "pipe", stderr: "pipe",
  });
  let text = "";
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const d = new TextDecoder();
    for await (const c of s) text = (text + d.decode(c, { stream: true })).slice(-65536);
  };
  void pump(proc.stdout);
  void pump(proc.stderr);
  const stop = async () => {
    proc.kill("SIGKILL");
    const code = await proc.exited;
    if (dir) rmSync(dir, { recursive: true, force: true });
    return code;
  };
  for (const until = Date.now() + 60_000; Date.now() < until; await Bun.sleep(50)) {
    if (proc.exitCode !== null) break;
    const url = /listening on (http:\/\/\S+)/.exec(text)?.[1];
    if (url && (await fetch(`${url}/health`).then((r) => r.status === 200, () => false))) {
      return { url, port: Number(new URL(url).port), pid: proc.pid, log: () => text, stop };
    }
  }
  await stop();
  throw new Error(`warren serve did not become ready:\n${text.slice(-2000)}`);
}
