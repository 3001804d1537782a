// A throwaway nginx in front of test replicas: found or installed, fed the repo's own
// deploy/nginx/warren.conf with test ports, run in the foreground with every path (pid, logs, temp
// files) under a temporary prefix, so nothing outside it is read or written.
import { spawn, type Subprocess } from "bun";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensurePackage } from "./apt.ts";

const SBIN_PLACES = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"];

function findNginx(): string | undefined {
  return Bun.which("nginx") ?? SBIN_PLACES.find((p) => existsSync(p));
}

/** nginx's path, installing it with apt-get when missing and root; else why it is unavailable. */
export function ensureNginx(): ReturnType<typeof ensurePackage> {
  return ensurePackage("nginx", findNginx);
}

interface RenderOptions {
  /** Replica ports, in order; they replace the example servers in every upstream block. */
  replicaPorts: number[];
  listenPort: number;
  /** Replaces /var/log/nginx/. */
  logDir: string;
  /** Replicas (by port) marked `down`: how an operator takes one out before stopping it. */
  down?: number[];
}

/** deploy/nginx/warren.conf with test addresses. Throws if the file no longer has the shape this expects. */
export function renderWarrenConf(template: string, o: RenderOptions): string {
  let upstreams = 0;
  let out = template.replace(/(?:^([ \t]*)server 127\.0\.0\.1:\d+( [^;\n]*)?;\n)+/gm, (_block, indent: string, params = "") => {
    upstreams++;
    return o.replicaPorts.map((p) => `${indent}server 127.0.0.1:${p}${params}${o.down?.includes(p) ? " down" : ""};\n`).join("");
  });
  const listens = out.match(/^\s*listen 8080;$/gm)?.length ?? 0;
  out = out.replace(/^(\s*)listen 8080;$/m, `$1listen 127.0.0.1:${o.listenPort};`);
  out = out.replaceAll("/var/log/nginx/", o.logDir.replace(/\/?$/, "/"));
  if (upstreams !== 2 || listens !== 1) throw new Error(`warren.conf changed shape: ${upstreams} server lists (want 2), ${listens} "listen 8080;" (want 1)`);
  return out;
}

export interface Nginx {
  proc: Subprocess;
  url: string;
  /** Its prefix: config, pid, logs and temp files. */
  dir: string;
  accessLog(): string;
  errorLog(): string;
  /** Rewrites the site config and reloads (SIGHUP); resolves once the old workers are gone. */
  reload(site: string): Promise<void>;
  stop(): Promise<void>;
}

/** Child pids of `pid` (Linux). */
function workers(pid: number): number[] {
  const f = `/proc/${pid}/task/${pid}/children`;
  return existsSync(f) ? readFileSync(f, "utf8").trim().split(/\s+/).filter(Boolean).map(Number) : [];
}

/** A free loopback port (closed again: a small window for someone else to take it). */
export function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

/** Wraps an http-context file in a minimal main config whose paths all live under `dir`. */
function mainConf(dir: string, siteFile: string): string {
  const tmp = (n: string) => join(dir, n);
  return [
    "worker_processes 1;",
    `pid ${tmp("nginx.pid")};`,
    `error_log ${tmp("error.log")} info;`,
    "events { worker_connections 512; }",
    "http {",
    `  client_body_temp_path ${tmp("client_body")};`,
    `  proxy_temp_path ${tmp("proxy")};`,
    `  fastcgi_temp_path ${tmp("fastcgi")};`,
    `  uwsgi_temp_path ${tmp("uwsgi")};`,
    `  scgi_temp_path ${tmp("scgi")};`,
    `  access_log ${tmp("access-default.log")};`,
    `  include ${siteFile};`,
    "}",
    "",
  ].join("\n");
}

/** `nginx -t` on a config under `dir`: [ok, output]. */
async function testConfig(bin: string, dir: string): Promise<[boolean, string]> {
  const p = spawn({ cmd: [bin, "-t", "-p", dir, "-c", join(dir, "nginx.conf"), "-e", join(dir, "error.log")], stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return [code === 0, out + err];
}

/**
 * Starts nginx in the foreground with `site(dir)` (an http-context config; `dir` is where its logs
 * go); resolves once it answers on its port.
 */
export async function startNginx(bin: string, site: (dir: string) => string, listenPort: number): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), "warren-nginx-"));
  // Workers drop to an unprivileged user when started as root; they must reach the temp paths.
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, "warren.conf"), site(dir));
  writeFileSync(join(dir, "nginx.conf"), mainConf(dir, join(dir, "warren.conf")));
  const [ok, out] = await testConfig(bin, dir);
  if (!ok) throw new Error(`nginx -t failed:\n${out}`);
  const proc = spawn({
    cmd: [bin, "-p", dir, "-c", join(dir, "nginx.conf"), "-e", join(dir, "error.log"), "-g", "daemon off;"],
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  const read = (n: string) => (existsSync(join(dir, n)) ? readFileSync(join(dir, n), "utf8") : "");
  const url = `http://127.0.0.1:${listenPort}`;
  const deadline = Date.now() + 10_000;
  while (!(await fetch(`${url}/health`).then((r) => r.status === 200, () => false))) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`nginx did not come up (exit ${proc.exitCode}):\n${read("error.log")}`);
    }
    await Bun.sleep(50);
  }
  return {
    proc,
    url,
    dir,
    accessLog: () => read("warren.access.log"),
    errorLog: () => read("error.log"),
    async reload(text) {
      writeFileSync(join(dir, "warren.conf"), text);
      const [ok, out] = await testConfig(bin, dir);
      if (!ok) throw new Error(`nginx -t failed:\n${out}`);
      // Done when new workers run and the old ones (which may still route by the old config) are gone.
      const old = workers(proc.pid);
      proc.kill("SIGHUP");
      const until = Date.now() + 15_000;
      for (;;) {
        const now = workers(proc.pid);
        if (now.some((p) => !old.includes(p)) && old.every((p) => !now.includes(p))) return;
        if (Date.now() > until) throw new Error(`nginx reload did not finish:\n${read("error.log")}`);
        await Bun.sleep(20);
      }
    },
    async stop() {
      // SIGTERM is nginx's fast shutdown; SIGQUIT would wait for idle keep-alive clients.
      if (proc.exitCode === null) proc.kill("SIGTERM");
      const done = await Promise.race([proc.exited.then(() => true), Bun.sleep(5_000).then(() => false)]);
      if (!done) proc.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
