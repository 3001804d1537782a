// Holds many idle keep-alive connections open to a server so its memory per connection can be read.
// Each connection sends one GET and reads its response (so the server has set up its per-connection
// state), then stays silent. Run as a child with a raised fd limit:
//   bun bench/http/idle.ts '{"host":"127.0.0.1","port":8080,"path":"/health","count":10000}'
// prints `READY {"open":N,"failed":M,"firstError":...}`, waits for a line on stdin, prints
// `DONE {"stillOpen":K}` (connections the server had not closed meanwhile) and exits.

import type { Socket } from "bun";

interface IdleConfig {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly count: number;
}

/** Connects in flight at once: more overflows the listen backlog and SYN retries add seconds. */
const CONNECT_PARALLEL = 256;
const RESPONSE_TIMEOUT_MS = 10_000;

interface IdleConn {
  open: boolean;
  answered: (() => void) | null;
}

async function openIdle(cfg: IdleConfig): Promise<{ conns: IdleConn[]; sockets: Socket<IdleConn>[]; failed: number; firstError: string | null }> {
  const request = `GET ${cfg.path} HTTP/1.1\r\nHost: ${cfg.host}:${cfg.port}\r\n\r\n`;
  const conns: IdleConn[] = [];
  const sockets: Socket<IdleConn>[] = [];
  let failed = 0;
  let firstError: string | null = null;
  let next = 0;
  const one = async () => {
    const c: IdleConn = { open: true, answered: null };
    try {
      const answered = new Promise<void>((r) => (c.answered = r));
      const s = await Bun.connect<IdleConn>({
        hostname: cfg.host,
        port: cfg.port,
        data: c,
        socket: {
          data: (sock) => sock.data.answered?.(),
          close: (sock) => {
            sock.data.open = false;
            sock.data.answered?.();
          },
          error: () => {},
        },
      });
      s.write(request);
      const ok = await Promise.race([answered.then(() => c.open), Bun.sleep(RESPONSE_TIMEOUT_MS).then(() => false)]);
      if (!ok) throw new Error("no response");
      conns.push(c);
      sockets.push(s);
    } catch (e) {
      failed++;
      firstError ??= `${(e as { code?: string }).code ?? ""} ${(e as Error).message ?? String(e)}`.trim();
    }
  };
  const worker = async () => {
    while (next < cfg.count) {
      next++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONNECT_PARALLEL, cfg.count) }, worker));
  return { conns, sockets, failed, firstError };
}

if (import.meta.main) {
  const cfg = JSON.parse(process.argv[2] ?? "{}") as IdleConfig;
  const r = await openIdle(cfg);
  process.stdout.write(`READY ${JSON.stringify({ open: r.conns.length, failed: r.failed, firstError: r.firstError })}\n`);
  for await (const _ of console) break;
  const stillOpen = r.conns.filter((c) => c.open).length;
  process.stdout.write(`DONE ${JSON.stringify({ stillOpen })}\n`);
  for (const s of r.sockets) s.end();
  process.exit(0);
}
