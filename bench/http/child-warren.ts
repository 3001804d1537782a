// Warren's HTTP engine as a `bench http` contender. Kept apart from child.ts (which imports it
// dynamically) so the other contenders still run while src/http/server.ts is missing or broken.

import { listen, type Handler } from "../../src/http/server.ts";

/** Same as the other contenders: idle keep-alive connections must outlive the memory measurement. */
const KEEP_ALIVE_TIMEOUT_MS = 240_000;

export function startWarrenContender(handler: Handler, hostname: string): number {
  return listen(handler, { hostname, port: 0, keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS }).port;
}
