/**
 * Long-lived superuser connections, at most one per instance address: the observation and the primary's
 * health probe reuse them instead of opening a connection per look (a new connection costs a fork on the
 * server and a TLS-free handshake here, every second, for every instance). A call that fails closes that
 * connection, and so does one that does not answer within its timeout once the connection has had a call
 * waiting for STALLED_KEEP_MS; the next call opens a new one.
 */
import { connect } from 'node:net';
import pg from 'pg';
import { dropConnection, noteAsked, superuserConfig, withInstance, type Endpoint } from './instance.ts';

interface Entry {
  client: pg.Client;
  connected: Promise<void>;
  /** The connection was established: queries on it may reach the server (see lastAsked). */
  up: boolean;
  /** Calls on it not settled yet, and since when the oldest of them waits. */
  pending: number;
  pendingSince?: number;
}

/**
 * A call that ran out of time on an established connection leaves it open for this long: a server that
 * stalled (frozen, starved of CPU) answers on it when it comes back, where a new connection (a fork and
 * an authentication on a loaded server) may take longer than a probe's timeout again and again. A
 * connection whose oldest call waits longer is closed, and the next call opens a new one.
 */
export const STALLED_KEEP_MS = 5000;

/** Calls allowed longer than this get a connection of their own (see Connections.run). */
export const SHARED_CALL_MAX_MS = 10_000;

/** A call did not answer within its timeout (the server may be frozen or cut off). */
export class NoAnswer extends Error {}

/**
 * Runs `fail` once the I/O already received has been read: a timer that fires late (the operator's own
 * event loop was held up, by load or a long task) runs before the answer waiting in the socket, and
 * would take a server that answered in time for one that did not.
 */
export function afterPendingIo(fail: () => void): void {
  setImmediate(fail);
}

/** One connection per address, opened on first use. */
export class Connections {
  private readonly open = new Map<string, Entry>();
  /** Whether the latest call to each address (host:port) answered. */
  private readonly answered = new Map<string, boolean>();

  /** False when the latest call to `host` failed or timed out (true when it answered, undefined: never called). */
  answers(host: string, port: number): boolean | undefined {
    return this.answered.get(`${host}:${port}`);
  }

  /**
   * Runs `work` on the connection to `endpoint` (opening it when needed); rejects after `timeoutMs`, closing
   * the connection, so a server that does not answer never holds the caller longer than that. A call that
   * may take long (a promote, a checkpoint) runs on a connection of its own: calls on one connection wait
   * for each other, and a probe queued behind it would time out and close the connection under it.
   */
  async run<T>(endpoint: Endpoint, work: (client: pg.Client) => Promise<T>, timeoutMs: number): Promise<T> {
    const key = `${endpoint.host}:${endpoint.port}`;
    if (timeoutMs > SHARED_CALL_MAX_MS) {
      // Its failure (a statement that ran out of time) says little about whether the server answers.
      const result = await withInstance(endpoint, work, timeoutMs);
      this.answered.set(key, true);
      return result;
    }
    const entry = this.open.get(key) ?? this.connect(key, endpoint, timeoutMs);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => afterPendingIo(() => reject(new NoAnswer(`${key} did not answer within ${timeoutMs} ms`))), timeoutMs);
    });
    entry.pending++;
    entry.pendingSince ??= Date.now();
    const call = entry.connected.then(() => (noteAsked(endpoint.host), work(entry.client)));
    call.then(settled, settled);
    function settled() {
      if (--entry.pending === 0) entry.pendingSince = undefined;
    }
    try {
      const result = await Promise.race([call, timeout]);
      this.answered.set(key, true);
      return result;
    } catch (err) {
      this.answered.set(key, false);
      const stalled = err instanceof NoAnswer && entry.up && Date.now() - (entry.pendingSince ?? 0) < STALLED_KEEP_MS;
      if (!stalled) this.close(key, entry);
      throw err;
    } finally {
      clearTimeout(timer);
      if (entry.up) noteAsked(endpoint.host);
    }
  }

  /** Closes every connection (the actor stopped). */
  closeAll(): void {
    for (const [key, entry] of this.open) this.close(key, entry);
  }

  /** Closes connections to addresses not in `keep` (pods that are gone). */
  retain(keep: Iterable<string>): void {
    const hosts = new Set(keep);
    const gone = (key: string) => !hosts.has(key.slice(0, key.lastIndexOf(':')));
    for (const [key, entry] of this.open) if (gone(key)) this.close(key, entry);
    for (const key of this.answered.keys()) if (gone(key)) this.answered.delete(key);
  }

  private connect(key: string, endpoint: Endpoint, timeoutMs: number): Entry {
    const client = new pg.Client({ ...superuserConfig(endpoint, timeoutMs), keepAlive: true });
    const entry: Entry = { client, connected: client.connect().then(() => void (entry.up = true)), up: false, pending: 0 };
    // A dropped connection surfaces through the next call; forget it now so that call opens a new one.
    client.on('error', () => this.close(key, entry));
    client.on('end', () => this.close(key, entry));
    entry.connected.catch(() => this.close(key, entry));
    this.open.set(key, entry);
    return entry;
  }

  private close(key: string, entry: Entry): void {
    if (this.open.get(key) === entry) this.open.delete(key);
    dropConnection(entry.client);
  }
}

/**
 * Whether `host:port` accepts a new TCP connection within `timeoutMs` (closed at once, before any startup
 * packet: PostgreSQL logs nothing for it). An open connection working says nothing about new ones: a server
 * out of connection slots or behind a filter refuses new clients while old sessions go on.
 */
export function acceptsConnections(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => afterPendingIo(() => done(false)), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
