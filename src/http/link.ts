// One accepted socket as the HTTP engine sees it (server.ts wires Bun's callbacks to it).
import { ConnState, type Connection } from "./connection.ts";
import type { ConnectionHost, Exchange } from "./exchange.ts";
import type { DateCache } from "./serialize.ts";

/** What a Link needs of its server (SocketServer). */
export interface LinkOwner {
  readonly dates: DateCache;
  /** A connection for `link`, idle since `idleSinceMs`: a spare one when there is one. */
  takeConnection(link: Link, idleSinceMs: number): Connection;
  /** An idle connection no socket holds, kept for the next one (or dropped past the limit). */
  spareConnection(conn: Connection): void;
  /** `link`'s flush is scheduled (its connection must stay until it has run). */
  flushPending(link: Link): boolean;
  noteWrite(queuedBytes: number): void;
  dispatch(link: Link, ex: Exchange): void;
  requestDone(link: Link, ex: Exchange, aborted: boolean): void;
  scheduleFlush(link: Link): void;
}

/** What a Link uses of its socket (Bun's TCP socket, which server.ts hands in). */
interface LinkSocket {
  /** Bytes the kernel took from data[offset, offset + length), or a negative number once closed. */
  write(data: Uint8Array, offset: number, length: number): number;
  end(): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  readonly remoteAddress: string;
}

/** One accepted socket: Bun's handle, the connection it feeds, and the abort signal its requests
 *  share. It is that connection's host: what the connection asks of the socket goes through it.
 *  While the socket is idle the Link holds no Connection: the object goes back to the server's
 *  spares and the next request takes one (an idle keep-alive connection is then a Link and Bun's
 *  socket; the keep-alive timer runs on here). */
export class Link implements ConnectionHost {
  private held: Connection | null;
  /** While detached: since when the socket has been idle. */
  private idleSinceMs: number;
  readonly dates: DateCache;
  /** Aborts the requests in flight when the peer goes away (see dispatch). */
  aborter: AbortController | null = null;
  aborterUses = 0;
  private peer: string | null = null;

  constructor(readonly sock: LinkSocket, private readonly server: LinkOwner, now: number) {
    this.dates = server.dates;
    this.held = server.takeConnection(this, now);
    this.idleSinceMs = now;
  }

  /** The connection, taken from the spares when the socket was idle. */
  get conn(): Connection {
    return (this.held ??= this.server.takeConnection(this, this.idleSinceMs));
  }

  /** The peer's address (read once: each read of Bun's makes a new string), or undefined once the
   *  socket can no longer tell. */
  get remote(): string | undefined {
    if (this.peer === null) {
      try {
        this.peer = this.sock.remoteAddress;
      } catch {
        return undefined;
      }
    }
    return this.peer;
  }

  /** It holds a Connection object (it has work, or has not settled since its last event). */
  get holding(): boolean {
    return this.held !== null;
  }

  get idle(): boolean {
    return this.held === null || this.held.state === ConnState.Idle;
  }

  /** After an event has run to its end: an idle connection with nothing held goes back to the spares. */
  settle(): void {
    const c = this.held;
    if (c === null || !c.reusable || this.server.flushPending(this)) return;
    this.idleSinceMs = c.idleSinceMs;
    this.held = null;
    this.server.spareConnection(c);
  }

  /** The periodic sweep: timers of a held connection, the keep-alive timeout of a detached one. */
  tick(now: number, keepAliveTimeoutMs: number): void {
    if (this.held !== null) this.held.tick(now);
    else if (now - this.idleSinceMs >= keepAliveTimeoutMs) this.conn.tick(now);
  }

  /** The socket closed: a held connection learns it; a detached one has nothing to learn. */
  closed(now: number): void {
    this.held?.onClose(now);
  }

  /** Response bytes queued for this socket. */
  get queuedBytes(): number {
    return this.held === null ? 0 : this.held.queuedBytes;
  }

  write(data: Uint8Array, length: number): number {
    this.server.noteWrite(this.conn.queuedBytes);
    return this.sock.write(data, 0, length);
  }
  end(): void {
    this.sock.end();
  }
  destroy(): void {
    this.sock.terminate();
  }
  pauseReading(): void {
    this.sock.pause();
  }
  resumeReading(): void {
    this.sock.resume();
  }
  dispatch(ex: Exchange): void {
    this.server.dispatch(this, ex);
  }
  requestDone(ex: Exchange, aborted: boolean): void {
    this.server.requestDone(this, ex, aborted);
  }
  scheduleFlush(): void {
    this.server.scheduleFlush(this);
  }
}
