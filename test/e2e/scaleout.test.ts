// Three real Warren replicas behind a real nginx running deploy/nginx/warren.conf.
// Which replica served a request is read from the replicas' own access logs (request_id=...),
// what nginx did from its access log (upstream=...). Needs nginx: installed with apt-get when
// missing and root; otherwise every test here shows as skipped, with the reason printed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "bun";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ensureModel } from "../../src/models/presets.ts";
import { REPO_ROOT } from "../helpers/models.ts";
import { skipUnlessCi } from "../helpers/apt.ts";
import { ensureNginx, freePort, renderWarrenConf, startNginx, type Nginx } from "../helpers/nginx.ts";
import { startWarren, type WarrenProcess } from "../helpers/warren-process.ts";

const nginxBin = await ensureNginx();
if (nginxBin.why) console.warn(`\n*** ${process.env.CI ? "FAILING" : "SKIPPING"} scale-out tests: ${nginxBin.why} ***\n`);

const CONF = resolve(REPO_ROOT, "deploy/nginx/warren.conf");
/** fail_timeout in deploy/nginx/warren.conf, read rather than assumed. */
const FAIL_TIMEOUT_MS = 1000 * Number(/fail_timeout=(\d+)s/.exec(readFileSync(CONF, "utf8"))?.[1] ?? NaN);
const REPLICA_ARGS = ["--threads", "1", "--parallel", "4", "--log-level", "info", "--log-format", "text"];

interface Outcome {
  id: string;
  status: number;
  tokens: number;
  startMs: number;
  endMs: number;
}

describe.skipIf(skipUnlessCi(nginxBin.bin !== undefined))("three replicas behind nginx (deploy/nginx/warren.conf)", () => {
  let dir: string;
  let model: string;
  let nginx: Nginx | undefined;
  const replicas: WarrenProcess[] = [];
  const restarted: Replica[] = [];
  const ports: number[] = [];

  beforeAll(async () => {
    // In CI the tests run even without nginx, and fail here saying why.
    if (nginxBin.bin === undefined) throw new Error(nginxBin.why);
    dir = mkdtempSync(join(tmpdir(), "warren-scaleout-"));
    model = join(dir, "tiny.gguf");
    await ensureModel(model, "tiny");
    // Pushed as each comes up, so afterAll also stops the ones started before another failed.
    await Promise.all([0, 1, 2].map(async () => replicas.push(await startWarren(["--model", model, ...REPLICA_ARGS]))));
    ports.push(...replicas.map((r) => Number(new URL(r.url).port)));
    const listenPort = freePort();
    nginx = await startNginx(nginxBin.bin!, (logDir) => renderWarrenConf(readFileSync(CONF, "utf8"), { replicaPorts: ports, listenPort, logDir }), listenPort);
  }, 60_000);

  afterAll(async () => {
    await nginx?.stop();
    await Promise.all([...replicas, ...restarted].map((r) => r.stop("SIGKILL")));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${nginx!.url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

  /** One non-streamed /generate through nginx, never throwing: status 0 = the connection failed. */
  async function generate(id: string, maxTokens: number, headers: Record<string, string> = {}): Promise<Outcome> {
    const startMs = performance.now();
    try {
      const r = await post("/generate", { prompt: "Once upon a time", max_tokens: maxTokens, ignore_eos: true }, { "x-request-id": id, ...headers });
      const body = (await r.json().catch(() => ({}))) as { data?: { tokens?: number } };
      return { id, status: r.status, tokens: body.data?.tokens ?? -1, startMs, endMs: performance.now() };
    } catch {
      return { id, status: 0, tokens: -1, startMs, endMs: performance.now() };
    }
  }

  /** `n` requests with at most `concurrency` open; `after(i)` runs as each one ends; none starts once `enough()`. */
  async function runMany(n: number, concurrency: number, one: (i: number) => Promise<Outcome>, after?: (o: Outcome) => void, enough = () => false): Promise<Outcome[]> {
    const out: Outcome[] = [];
    let next = 0;
    const worker = async () => {
      while (next < n && !enough()) {
        const o = await one(next++);
        out.push(o);
        after?.(o);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return out;
  }

  /** Index of the replica (0-2) whose log shows request `id` answered; -1 if none. */
  const servedBy = (id: string): number =>
    ports.findIndex((port, i) => [replicas[i]!, ...restarted.filter((r) => r.port === port)].some((r) => answered(r.log(), id)));
  const nginxLine = (id: string) => nginx!.accessLog().split("\n").find((l) => l.includes(`request_id=${id} `)) ?? "";
  /** Waits until every id is in some replica's log: access lines are written in batches, up to 100 ms late. */
  const logged = async (ids: string[]): Promise<void> => {
    const until = Date.now() + 3_000;
    while (Date.now() < until && !ids.every((id) => servedBy(id) >= 0)) await Bun.sleep(10);
  };

  test("requests spread over all three replicas (least_conn)", async () => {
    const outcomes = await runMany(30, 6, (i) => generate(`spread-${i}`, 16));
    expect(outcomes.filter((o) => o.status === 200).length).toBe(30);
    await logged(outcomes.map((o) => o.id));
    const by = outcomes.map((o) => servedBy(o.id));
    expect(by.filter((i) => i < 0)).toEqual([]);
    // Every replica serves some. Not an even share: least_conn breaks ties among idle replicas in its
    // own order, and short answers leave them idle often (30 requests split 3/3/24 and 12/10/8 in runs
    // with either engine), so a floor above 1 fails now and then without anything being wrong.
    for (const i of [0, 1, 2]) expect(by.filter((x) => x === i).length).toBeGreaterThanOrEqual(1);
  }, 30_000);

  test("X-Request-Id: a sane one is echoed and logged by nginx and the replica; absent or unsafe ones are generated", async () => {
    const sent = "trace-abc.123:X_y";
    const r1 = await post("/generate", { prompt: "Hi", max_tokens: 2 }, { "x-request-id": sent });
    expect(r1.status).toBe(200);
    expect(r1.headers.get("x-request-id")).toBe(sent);
    await logged([sent]);
    expect(servedBy(sent)).toBeGreaterThanOrEqual(0);
    expect(nginxLine(sent)).toMatch(/"POST \/generate HTTP\/1.1" 200/);

    for (const bad of [undefined, "has space", "x".repeat(129), "semi;colon"]) {
      const r = await post("/generate", { prompt: "Hi", max_tokens: 2 }, bad === undefined ? {} : { "x-request-id": bad });
      expect(r.status).toBe(200);
      const id = r.headers.get("x-request-id")!;
      // nginx's $request_id, passed on to the replica, which keeps it: one id in both logs.
      expect(id).toMatch(/^[0-9a-f]{32}$/);
      await logged([id]);
      expect(servedBy(id)).toBeGreaterThanOrEqual(0);
      expect(nginxLine(id)).not.toBe("");
    }

    // Straight to a replica: Warren makes its own, on errors and streams too, and takes a sane one.
    const direct = replicas[0]!.url;
    const own = await fetch(`${direct}/health`);
    expect(own.headers.get("x-request-id")).toMatch(/^[0-9a-f]{32}$/);
    const missing = await fetch(`${direct}/no-such-route`, { headers: { "x-request-id": "bad id" } });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("x-request-id")).toMatch(/^[0-9a-f]{32}$/);
    const stream = await fetch(`${direct}/generate`, { method: "POST", headers: { "x-request-id": "s-1" }, body: JSON.stringify({ prompt: "Hi", max_tokens: 2, stream: true }) });
    expect(stream.headers.get("x-request-id")).toBe("s-1");
    await stream.text();
  }, 20_000);

  test("a stream arrives through nginx token by token, not at the end", async () => {
    const maxTokens = 1200;
    const t0 = performance.now();
    const r = await post("/generate", { prompt: "Once upon a time", max_tokens: maxTokens, ignore_eos: true, stream: true });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("text/event-stream");
    const reader = r.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    let firstFrameMs = -1;
    let reads = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      reads++;
      text += decoder.decode(value, { stream: true });
      if (firstFrameMs < 0 && text.includes("data: ")) firstFrameMs = performance.now() - t0;
    }
    const totalMs = performance.now() - t0;
    const last = JSON.parse(text.trim().split("\n\n").at(-1)!.slice("data: ".length));
    expect(last).toMatchObject({ done: true, tokens: maxTokens });
    // Buffered anywhere on the way, the body would come in a few large reads at the very end.
    expect(reads).toBeGreaterThan(50);
    expect(firstFrameMs).toBeLessThan(totalMs / 4);
    console.log(`[scale-out] stream: first frame ${firstFrameMs.toFixed(0)} ms, end ${totalMs.toFixed(0)} ms, ${reads} reads`);
  }, 30_000);

  test("X-Session-Id keeps a conversation on one replica; different sessions still spread", async () => {
    for (let i = 0; i < 8; i++) expect((await generate(`sticky-a-${i}`, 2, { "x-session-id": "conversation-a" })).status).toBe(200);
    for (let s = 0; s < 12; s++) expect((await generate(`sticky-s${s}`, 2, { "x-session-id": `session-${s}` })).status).toBe(200);
    await logged([...Array.from({ length: 8 }, (_, i) => `sticky-a-${i}`), ...Array.from({ length: 12 }, (_, s) => `sticky-s${s}`)]);
    const homes = new Set(Array.from({ length: 8 }, (_, i) => servedBy(`sticky-a-${i}`)));
    expect([...homes]).toHaveLength(1);
    expect(homes.has(-1)).toBe(false);
    const spread = new Set(Array.from({ length: 12 }, (_, s) => servedBy(`sticky-s${s}`)));
    expect(spread.size).toBeGreaterThanOrEqual(2);
  }, 20_000);

  let killEndMs = 0;
  test("SIGKILL of a replica mid-run loses at most the requests in flight on it; every later request succeeds", async () => {
    const victim = replicas[0]!;
    const victimAddr = `127.0.0.1:${ports[0]}`;
    let finished = 0;
    let killAt = Infinity;
    let deadAt = Infinity;
    const outcomes = await runMany(60, 6, (i) => generate(`kill-${i}`, 120), () => {
      if (++finished === 12) {
        killAt = performance.now();
        victim.proc.kill("SIGKILL");
        void refusing(ports[0]!).then(() => (deadAt = performance.now()));
      }
    });
    killEndMs = performance.now();
    await Bun.sleep(100);
    const failed = outcomes.filter((o) => o.status !== 200 || o.tokens !== 120);
    const later = outcomes.filter((o) => o.startMs > deadAt);
    const at = (ms: number) => `${(ms - killAt).toFixed(1)} ms`;
    console.log(`[scale-out] SIGKILL: dead ${at(deadAt)} after the kill; ${failed.length} failed (${failed.map((o) => `${o.id}:${o.status} ${at(o.startMs)}..${at(o.endMs)}`).join(", ")}), ${later.length} started after it died`);
    if (failed.length > 0) console.log(nginx!.errorLog().split("\n").filter((l) => l.includes("[error]")).slice(-8).join("\n"));
    expect(later.length).toBeGreaterThanOrEqual(30);
    for (const o of later) expect(o).toMatchObject({ status: 200, tokens: 120 });
    expect(failed.length).toBeLessThanOrEqual(6);
    for (const o of failed) {
      // In flight on the victim when it died: started before it was gone, ended after the kill.
      expect(o.startMs).toBeLessThan(deadAt);
      expect(o.endMs).toBeGreaterThan(killAt);
      expect(nginxLine(o.id)).toContain(`upstream=${victimAddr} `);
    }
  }, 45_000);

  test("the replica restarted on the same port answers 503 while loading, then rejoins after fail_timeout", async () => {
    const r = await startReplica(model, ports[0]!, (x) => restarted.push(x));
    expect(r.healthSeen[0]).toBe("503 loading");
    expect(r.healthSeen.at(-1)).toBe("200 healthy");
    // nginx skips a failed server for fail_timeout after its last failure (at most the end of the
    // run above), counted in whole seconds: so up to one second more.
    const deadline = killEndMs + FAIL_TIMEOUT_MS + 3000;
    const outcomes: Outcome[] = [];
    let onRestarted = 0;
    while (onRestarted < 3 && performance.now() < deadline) {
      outcomes.push(...(await runMany(6, 6, (i) => generate(`rejoin-${outcomes.length + i}`, 16))));
      await Bun.sleep(200);
      onRestarted = outcomes.filter((o) => answered(r.log(), o.id)).length;
    }
    console.log(`[scale-out] rejoined ${((performance.now() - killEndMs) / 1000).toFixed(1)} s after the last failure (fail_timeout ${FAIL_TIMEOUT_MS / 1000} s)`);
    expect(outcomes.filter((o) => o.status !== 200)).toEqual([]);
    expect(onRestarted).toBeGreaterThanOrEqual(3);
  }, 30_000);

  test("rolling restart: out of nginx, then SIGTERM: /health says 503 draining, in-flight work finishes, nothing is lost", async () => {
    const victim = replicas[1]!;
    const site = (down: number[]) => renderWarrenConf(readFileSync(CONF, "utf8"), { replicaPorts: ports, listenPort: Number(new URL(nginx!.url).port), logDir: nginx!.dir, down });
    let enough = false;
    const traffic = runMany(100_000, 6, (i) => generate(`drain-${i}`, 120), undefined, () => enough);
    await Bun.sleep(300);
    // Why not SIGTERM alone: see "Rolling restarts" in deploy/nginx/warren.conf.
    await nginx!.reload(site([ports[1]!]));
    // A draining replica refuses new connections; a request already arriving on an open one is
    // answered. A GET with a body, held half-sent across the signal, is such a request.
    const health = await rawRequestStarted(ports[1]!, "GET /health HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n", "a");
    const direct = await fetch(`${victim.url}/generate`, {
      method: "POST",
      headers: { "x-request-id": "drain-direct" },
      body: JSON.stringify({ prompt: "Hi", max_tokens: 1500, ignore_eos: true, stream: true }),
    });
    const reader = direct.body!.getReader();
    await reader.read();
    victim.proc.kill("SIGTERM");
    let text = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += new TextDecoder().decode(r.value);
    expect(JSON.parse(text.trim().split("\n\n").at(-1)!.slice("data: ".length))).toMatchObject({ done: true, tokens: 1500 });
    // The held request keeps the victim alive until it is answered.
    expect(await health.finish("b")).toMatch(/^HTTP\/1.1 503[^]*"status":"draining"/);
    expect(await victim.exited).toBe(0);
    expect(victim.log()).toMatch(/SIGTERM: draining[^]*POST \/generate 200 .*request_id=drain-direct$/m);
    await Bun.sleep(300);
    enough = true;
    const outcomes = await traffic;
    if (outcomes.some((o) => o.status !== 200)) console.log(nginx!.errorLog().split("\n").filter((l) => l.includes("[error]")).join("\n"));
    expect(outcomes.filter((o) => o.status !== 200 || o.tokens !== 120)).toEqual([]);
    expect(outcomes.length).toBeGreaterThan(12);
    await nginx!.reload(site([]));
  }, 30_000);

  // Work arriving on an already-open connection while Warren drains is served (nginx cannot retry a POST).
  test("SIGTERM alone, with nginx still sending to the replica, loses no request", async () => {
    const victim = replicas[2]!;
    let enough = false;
    const traffic = runMany(100_000, 8, (i) => generate(`term-${i}`, 40), undefined, () => enough);
    await Bun.sleep(500);
    victim.proc.kill("SIGTERM");
    expect(await victim.exited).toBe(0);
    await Bun.sleep(500);
    enough = true;
    const failed = (await traffic).filter((o) => o.status !== 200);
    if (failed.length > 0) console.log(nginx!.errorLog().split("\n").filter((l) => l.includes("[error]")).join("\n") + "\n[victim log]\n" + victim.log().split("\n").slice(-40).join("\n"));
    expect(failed).toEqual([]);
  }, 40_000);
});

/**
 * Resolves once the replica on `port` is dead as the network sees it: connections to it are refused
 * (the kernel closes all of a killed process's sockets together, ~1-25 ms after SIGKILL here, once
 * its last thread is gone). Bun's `exited` waits for the reaping, which on a busy 2-core machine came
 * after a whole 0.6 s test run had finished.
 */
async function refusing(port: number): Promise<void> {
  for (;;) {
    const refused = await new Promise<boolean>((settle) => {
      const probe = connect(port, "127.0.0.1");
      probe.once("connect", () => {
        probe.destroy();
        settle(false);
      });
      probe.once("error", (e: NodeJS.ErrnoException) => settle(e.code === "ECONNREFUSED"));
    });
    if (refused) return;
    await Bun.sleep(1);
  }
}

/** Whether an access-log line shows `id` answered. */
function answered(log: string, id: string): boolean {
  return new RegExp(`POST /generate \\d+ .*request_id=${id.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`, "m").test(log);
}

interface Replica {
  port: number;
  log(): string;
  healthSeen: string[];
  stop(signal?: NodeJS.Signals): Promise<number>;
}

/** Starts a replica on a fixed port (handed to `track` at once, for cleanup), recording every /health answer until it is ready. */
async function startReplica(model: string, port: number, track: (r: Replica) => void): Promise<Replica> {
  const proc = spawn({
    cmd: [process.execPath, resolve(REPO_ROOT, "src/main.ts"), "serve", "--model", model, "--port", String(port), ...REPLICA_ARGS],
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let text = "";
  for (const s of [proc.stdout, proc.stderr]) void (async () => {
    const d = new TextDecoder();
    for await (const c of s) text += d.decode(c, { stream: true });
  })();
  const replica: Replica = {
    port,
    log: () => text,
    healthSeen: [],
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null) proc.kill(signal);
      return proc.exited;
    },
  };
  track(replica);
  const deadline = Date.now() + 30_000;
  while (!text.includes("listening on")) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`replica did not start:\n${text}`);
    await Bun.sleep(5);
  }
  while (replica.healthSeen.at(-1) !== "200 healthy") {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`replica did not become healthy:\n${text}`);
    const r = await fetch(`http://127.0.0.1:${port}/health`);
    const body = (await r.json()) as { data: { status: string } };
    const seen = `${r.status} ${body.data.status}`;
    if (replica.healthSeen.at(-1) !== seen) replica.healthSeen.push(seen);
    await Bun.sleep(20);
  }
  return replica;
}

/** Sends `head` and `partial` on a fresh connection and leaves it open; finish() sends the rest and reads the answer. */
async function rawRequestStarted(port: number, head: string, partial: string): Promise<{ finish(rest: string): Promise<string> }> {
  const sock = connect(port, "127.0.0.1");
  let got = "";
  sock.on("data", (d) => (got += d.toString("latin1")));
  const closed = new Promise<void>((res) => sock.on("close", () => res()));
  sock.on("error", () => {});
  await new Promise<void>((res, rej) => {
    sock.once("connect", () => res());
    sock.once("error", rej);
  });
  sock.write(head + partial);
  await Bun.sleep(50);
  return {
    async finish(rest) {
      sock.write(rest);
      await Promise.race([closed, Bun.sleep(5_000)]);
      sock.destroy();
      return got;
    },
  };
}
