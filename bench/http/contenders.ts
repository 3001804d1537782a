// The HTTP stacks `bench http` compares, each started as its own process on 127.0.0.1.
// "warren" is the product as a user starts it: `warren serve` with its default flags (default
// model, logging and access log, which go to a file), plus a keep-alive timeout long enough for the
// idle-memory measurement; "warren-dist" is the same from the compiled dist/warren when it is built.
// The others are the anchors (Elysia on Bun.serve, bare Bun.serve, node:http) and two harness rows
// that are not the product: "warren-harness" (Warren's engine with a one-route Elysia app, no
// access log) and "warren-bare" (Warren's engine with bare Bun.serve's hand-built handler).

import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { nodeServerCommand } from "./node-server.ts";
import { LineReader, placed, stderrText, stopChild, type Placement } from "./proc.ts";

export const CONTENDER_IDS = ["warren", "elysia", "bun", "node", "warren-dist", "warren-harness", "warren-bare"] as const;
export type ContenderId = (typeof CONTENDER_IDS)[number];

export const CONTENDER_TITLES: Record<ContenderId, string> = {
  warren: "warren serve (as shipped)",
  elysia: "Elysia on Bun.serve",
  bun: "bare Bun.serve",
  node: "node:http (Node)",
  "warren-dist": "dist/warren serve (as shipped)",
  "warren-harness": "Warren engine + Elysia (harness, not the product)",
  "warren-bare": "Warren engine + bare handler (harness)",
};

const CHILD = join(import.meta.dir, "child.ts");
const ROOT = join(import.meta.dir, "..", "..");
const WARREN_SERVER = join(ROOT, "src", "http", "server.ts");
const WARREN_MAIN = join(ROOT, "src", "main.ts");
const WARREN_DIST = join(ROOT, "dist", "warren");
/** The shipped server's flags: its defaults, but idle connections kept for the idle-memory measurement. */
const SHIPPED_FLAGS = ["serve", "--port", "0", "--keep-alive-timeout-ms", "240000"];
/** A server that has not printed its port by then is reported as failed to start. */
const START_TIMEOUT_MS = 20_000;

/**
 * argv to start a contender, or why it cannot run here. `shipped`: the real server, which logs its
 * address ("listening on http://...") instead of printing the port.
 */
export function contenderCommand(id: ContenderId): { argv: string[]; shipped?: true } | { unavailable: string } {
  switch (id) {
    case "warren":
      return { argv: [process.execPath, WARREN_MAIN, ...SHIPPED_FLAGS], shipped: true };
    case "warren-dist":
      if (!existsSync(WARREN_DIST)) return { unavailable: "dist/warren is not built (npm run build)" };
      return { argv: [WARREN_DIST, ...SHIPPED_FLAGS], shipped: true };
    case "warren-harness":
      if (!existsSync(WARREN_SERVER)) return { unavailable: "src/http/server.ts not found" };
      return { argv: [process.execPath, CHILD, "warren"] };
    case "elysia":
      return { argv: [process.execPath, CHILD, "elysia"] };
    case "bun":
      return { argv: [process.execPath, CHILD, "bare"] };
    case "warren-bare":
      if (!existsSync(WARREN_SERVER)) return { unavailable: "src/http/server.ts not found" };
      return { argv: [process.execPath, CHILD, "warren-bare"] };
    case "node": {
      const node = Bun.which("node");
      return node ? { argv: nodeServerCommand(node) } : { unavailable: "node is not installed" };
    }
  }
}

export interface RunningServer {
  readonly id: ContenderId;
  readonly pid: number;
  readonly port: number;
  readonly proc: Subprocess;
}

export async function startServer(id: ContenderId, where: Placement): Promise<RunningServer> {
  const cmd = contenderCommand(id);
  if ("unavailable" in cmd) throw new Error(cmd.unavailable);
  if (cmd.shipped) return startShipped(id, cmd.argv, where);
  const proc = Bun.spawn(placed(cmd.argv, where), { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const first = await new LineReader(proc.stdout).next(START_TIMEOUT_MS);
  const port = Number(first);
  if (first === null || !Number.isInteger(port) || port <= 0) {
    await stopChild(proc, 500);
    const why = (await stderrText(proc)).split("\n").find((l) => /error/i.test(l)) ?? first ?? "no port printed";
    throw new Error(`${id} did not start: ${why.trim().slice(0, 200)}`);
  }
  return { id, pid: proc.pid, port, proc };
}

/**
 * The real server: its log (default format, access log on) goes to a file, as a service's would;
 * it is ready once /health answers 200 (the model is loaded, threads measured).
 */
async function startShipped(id: ContenderId, argv: readonly string[], where: Placement): Promise<RunningServer> {
  const log = join(mkdtempSync(join(tmpdir(), "warren-bench-")), "warren.log");
  const proc = Bun.spawn(placed(argv, where), { cwd: ROOT, stdout: Bun.file(log), stderr: Bun.file(log), stdin: "ignore" });
  const deadline = Date.now() + START_TIMEOUT_MS * 3;
  let port = 0;
  while (Date.now() < deadline && proc.exitCode === null) {
    port ||= Number(/listening on http:\/\/[^\s:]+:(\d+)/.exec(existsSync(log) ? readFileSync(log, "utf8") : "")?.[1] ?? 0);
    if (port && (await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.status === 200, () => false))) return { id, pid: proc.pid, port, proc };
    await Bun.sleep(50);
  }
  await stopChild(proc, 500);
  throw new Error(`${id} did not start: ${(existsSync(log) ? readFileSync(log, "utf8") : "").split("\n").slice(-3).join(" ").slice(0, 300)}`);
}
