// Disconnect storms: 100 streaming clients of the real CLI go away at random points (while
// sending, while queued, mid-stream; FIN or RST). Afterwards no work is leaked: every slot is free,
// the queue is empty, /metrics agrees, and the next requests succeed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Rng } from "../../bench/fuzz/mutate.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { metrics, postJson, tinyModel, waitUntil } from "../helpers/hardening.ts";
import { startWarren, type WarrenProcess } from "../helpers/warren-process.ts";

let w: WarrenProcess;
let port: number;
beforeAll(async () => {
  w = await startWarren(["--model", await tinyModel(), "--threads", "1", "--parallel", "4", "--max-queue", "128"]);
  port = Number(new URL(w.url).port);
}, 30_000);
afterAll(() => w?.stop("SIGKILL"));

type Leave = "mid-head" | "mid-body" | "after-send" | "after-bytes";

/** One client: starts a long stream, then leaves as `how` says. */
async function client(r: Rng, i: number): Promise<Leave> {
  const body = JSON.stringify({ prompt: `client ${i} says`, max_tokens: 300 + r.int(300), ignore_eos: true, stream: true });
  const raw = `POST /generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const how: Leave = r.pick(["mid-head", "mid-body", "after-send", "after-bytes", "after-bytes"] as const);
  const c = await RawClient.connect(port);
  const headEnd = raw.indexOf("\r\n\r\n") + 4;
  if (how === "mid-head") c.send(raw.slice(0, 1 + r.int(headEnd - 1)));
  else if (how === "mid-body") c.send(raw.slice(0, headEnd + r.int(body.length)));
  else c.send(raw);
  if (how === "after-send") await Bun.sleep(r.int(50));
  if (how === "after-bytes") {
    const want = 200 + r.int(3000);
    const until = Date.now() + 5000;
    while (c.received < want && !c.isClosed && Date.now() < until) await Bun.sleep(5);
  }
  // Half of them close politely (FIN), half reset.
  if (r.int(2) === 0) c.close();
  else c.destroy();
  return how;
}

describe("100 streaming clients that disconnect at random points", () => {
  test("leave no busy slot, no queued request and no open connection; the next requests succeed", async () => {
    const r = new Rng(7);
    const before = await metrics(w.url);
    const kinds = await Promise.all(Array.from({ length: 100 }, (_, i) => client(new Rng(r.int(2 ** 31)), i)));
    expect(new Set(kinds).size).toBe(4);
    await waitUntil(async () => {
      const m = await metrics(w.url);
      return m.warren_slots_busy === 0 && m.warren_queue_depth === 0 && m.warren_open_connections === 1;
    }, "slots, queue and connections to drain", 10_000);
    const m = await metrics(w.url);
    expect([m.warren_slots_busy, m.warren_queue_depth, m.warren_slots_paused]).toEqual([0, 0, 0]);
    const cancelled = (x: Record<string, number>) => x['warren_requests_finished_total{reason="cancelled"}'] ?? 0;
    // Every request that reached the model and lost its client was cancelled, not run to the end.
    expect(cancelled(m) - cancelled(before)).toBeGreaterThan(20);
    expect(m['warren_requests_finished_total{reason="error"}'] ?? 0).toBe(0);

    const next = await Promise.all(Array.from({ length: 8 }, (_, i) => postJson(`${w.url}/generate`, { prompt: `after ${i}`, max_tokens: 16, ignore_eos: true })));
    for (const res of next) {
      expect(res.status).toBe(200);
      expect(((await res.json()) as { data: { tokens: number } }).data.tokens).toBe(16);
    }
    const stream = await postJson(`${w.url}/generate`, { prompt: "after all", max_tokens: 16, stream: true, ignore_eos: true });
    expect(await stream.text()).toContain('"done":true');
    expect(w.proc.exitCode).toBeNull();
  }, 40_000);
});
