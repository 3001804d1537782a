// The HTTP stacks `bench http` compares, each started as its own process on 127.0.0.1. The first
// four answer the question (Warren + Elysia against the others); "warren-bare" runs Warren's
// engine with the same hand-built handler as bare Bun.serve, which compares the transports alone.

import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { nodeServerCommand } from "./node-server.ts";
import { LineReader, placed, stderrText, stopChild, type Placement } from "./proc.ts";

export const CONTENDER_IDS = ["warren", "elysia", "bun", "node", "warren-bare"] as const;
export type ContenderId = (typeof CONTENDER_IDS)[number];

export const CONTENDER_TITLES: Record<ContenderId, string> = {
  warren: "Warren engine + Elysia",
  elysia: "Elysia on Bun.serve",
  bun: "bare Bun.serve",
  node: "node:http (Node)",
  "warren-bare": "Warren engine + bare handler",
};

const CHILD = join(import.meta.dir, "child.ts");
const WARREN_SERVER = join(import.meta.dir, "..", "..", "src", "http", "server.ts");
/** A server that has not printed its port by then is reported as failed to start. */
const START_TIMEOUT_MS = 20_000;

/** argv to start a contender, or why it cannot run here. */
export function contenderCommand(id: ContenderId): { argv: string[] } | { unavailable: string } {
  switch (id) {
    case "warren":
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
