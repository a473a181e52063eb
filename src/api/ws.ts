/**
 * WebSocket /events: authenticated like every route (Basic on the upgrade request), needs ShowCluster and
 * the namespace; streams the bus's events for that namespace (and one cluster with `cluster=`).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Authenticator } from './auth/authenticate.ts';
import { ApiError, validate } from './errors.ts';
import { matches, type EventBus } from './events.ts';
import { canUseNamespace, hasPermission } from './permissions.ts';
import { MESSAGES, ROUTE } from './routes.ts';
import type { StreamEvent } from './schemas.ts';

/** Bytes a client may have queued before it counts as too slow and is disconnected. */
export const MAX_BUFFERED = 1 << 20;
/** Close code sent to a client that does not keep up. */
export const SLOW_CLIENT_CLOSE = 4008;

function refuse(socket: Duplex, err: unknown): number {
  const status = err instanceof ApiError ? err.status : 500;
  const message = err instanceof ApiError ? err.message : 'internal error';
  const headers = err instanceof ApiError ? Object.entries(err.headers).map(([k, v]) => `${k}: ${v}\r\n`).join('') : '';
  const body = JSON.stringify({ error: { status, message } });
  socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${headers}Connection: close\r\n\r\n${body}`);
  return status;
}

/** Sends `event` unless the client is too far behind, in which case it is dropped (closed). */
export function sendBounded(ws: WebSocket, event: StreamEvent, limit = MAX_BUFFERED): boolean {
  if (ws.readyState !== ws.OPEN) return false;
  // A client that stops reading makes bufferedAmount grow; past the limit it is cut off instead of
  // letting the server queue an unbounded amount of memory for it.
  if (ws.bufferedAmount > limit) {
    ws.close(SLOW_CLIENT_CLOSE, 'too slow: events were queued faster than read');
    setTimeout(() => ws.terminate(), 1000).unref();
    return false;
  }
  ws.send(JSON.stringify(event));
  return true;
}

/** Handles upgrade requests for /api/v1/events. */
export class EventsEndpoint {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  constructor(
    private readonly auth: Authenticator,
    private readonly bus: EventBus,
    private readonly audit: (line: Record<string, unknown>) => void,
    private readonly limit = MAX_BUFFERED,
  ) {}

  /** Number of connected clients. */
  get clients(): number {
    return this.wss.clients.size;
  }

  /** Handles one upgrade request. */
  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const t0 = Date.now();
    const url = new URL(req.url ?? '/', 'https://localhost');
    const address = req.socket.remoteAddress ?? '';
    let user = '-';
    try {
      if (url.pathname !== ROUTE.events.path) throw new ApiError(404, MESSAGES.noRoute('GET', url.pathname));
      const principal = await this.auth.authenticate(req.headers.authorization, address);
      user = principal.name;
      if (!hasPermission(principal, ROUTE.events.permission)) throw new ApiError(403, MESSAGES.forbidden(principal.name, ROUTE.events.permission));
      const query = validate(ROUTE.events.query, Object.fromEntries(url.searchParams), 'query');
      if (!canUseNamespace(principal, query.namespace)) throw new ApiError(403, MESSAGES.namespaceForbidden(principal.name, query.namespace));
      this.wss.handleUpgrade(req, socket, head, (ws) => this.serve(ws, query.namespace, query.cluster));
      this.audit({ user, route: 'events', ns: query.namespace, cluster: query.cluster, status: 101, ms: Date.now() - t0, ip: address });
    } catch (err) {
      const status = refuse(socket, err);
      this.audit({ user, route: 'events', status, ms: Date.now() - t0, ip: address });
    }
  }

  private serve(ws: WebSocket, namespace: string, cluster?: string): void {
    const unsubscribe = this.bus.subscribe((event) => {
      if (matches(event, namespace, cluster)) sendBounded(ws, event, this.limit);
    });
    ws.on('close', unsubscribe);
    ws.on('error', unsubscribe);
    ws.on('message', () => undefined); // clients send nothing; their messages are ignored
    sendBounded(ws, { kind: 'hello', time: new Date().toISOString(), namespace, cluster, message: `following ${cluster ? `cluster ${cluster} in ` : ''}namespace ${namespace}` }, this.limit);
  }

  /** Closes every connection. */
  close(): void {
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }
}
