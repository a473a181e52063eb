/**
 * The API server: HTTPS only, HTTP Basic authentication against pgousers, pgorole permissions and
 * namespace access per route, zod validation of path, query and body, an audit line per call, and the
 * WebSocket /events. Dispatch is driven by the route table in routes.ts.
 */
import { ambiguity } from './strict-json.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import { z } from 'zod';
import { describeError, httpStatus } from '../k8s/custom.ts';
import { Authenticator } from './auth/authenticate.ts';
import { AccessStore } from './auth/store.ts';
import { ApiError, validate } from './errors.ts';
import { EventBus } from './events.ts';
import { accessHandlers } from './handlers/access.ts';
import { backupHandlers } from './handlers/backups.ts';
import { clusterHandlers } from './handlers/clusters.ts';
import { dataHandlers } from './handlers/data.ts';
import { userHandlers } from './handlers/users.ts';
import { Deps, type HandlerTable } from './handlers/deps.ts';
import { metaHandlers } from './handlers/meta.ts';
import { loadHandlers } from './handlers/load.ts';
import { upgradeHandlers } from './handlers/upgrades.ts';
import { policyHandlers } from './handlers/policies.ts';
import { replicaHandlers } from './handlers/replicas.ts';
import { restoreHandlers } from './handlers/restores.ts';
import { scheduleHandlers } from './handlers/schedules.ts';
import { openApiDocument } from './openapi.ts';
import { canUseNamespace, hasPermission } from './permissions.ts';
import { MESSAGES, matchRoute, type Route } from './routes.ts';
import { name as nameSchema, objectName } from './schemas.ts';
import { startSources, type Source } from './sources.ts';
import { loadOrCreateTls, type TlsMaterial } from './tls.ts';
import { VISUALIZER_HTML } from './visualizer.ts';
import { EventsEndpoint } from './ws.ts';

/** Largest request body accepted (policies carry SQL, nothing else comes close). */
export const MAX_BODY_BYTES = 1 << 20;

/** Options of the API server. */
export interface ApiOptions {
  kc: KubeConfig;
  /** The operator's namespace: pgousers, pgoroles and the certificate live there. */
  namespace: string;
  /** Port to listen on (0: any free port). Default 8443. */
  port?: number;
  host?: string;
  /** Certificate to serve; read from or stored in the `pgo.tls` Secret when absent. */
  tls?: TlsMaterial;
  log?: (line: string) => void;
  bus?: EventBus;
  /** Watch Kubernetes Events and pgtasks for the event stream (default true). */
  sources?: boolean;
  /** Per-WebSocket-client buffer limit in bytes. */
  maxBuffered?: number;
}

/** A running API server. */
export interface ApiServer {
  url: string;
  port: number;
  tls: TlsMaterial;
  bus: EventBus;
  events: EventsEndpoint;
  authenticator: Authenticator;
  close(): Promise<void>;
}

const noFields = z.strictObject({});
const handlers: HandlerTable = { ...metaHandlers, ...accessHandlers, ...clusterHandlers, ...replicaHandlers, ...dataHandlers, ...userHandlers, ...backupHandlers, ...restoreHandlers, ...scheduleHandlers, ...policyHandlers, ...loadHandlers, ...upgradeHandlers };

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': typeof body === 'string' ? 'text/html; charset=utf-8' : 'application/json', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', ...headers });
  res.end(text);
}

async function readBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) throw new ApiError(413, MESSAGES.tooLarge(limit));
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    // Counted as it arrives: a chunked body without Content-Length cannot grow past the limit either.
    if (size > limit) throw new ApiError(413, MESSAGES.tooLarge(limit));
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  const text = Buffer.concat(chunks).toString('utf8');
  let body: unknown;
  try {
    body = JSON.parse(text) as unknown;
  } catch (err) {
    throw new ApiError(400, MESSAGES.malformedJson((err as Error).message), ['body'], { cause: err });
  }
  // Only a valid text is scanned: duplicate keys and inexact numbers would be read differently elsewhere.
  const unclear = ambiguity(text);
  if (unclear) throw new ApiError(400, MESSAGES.ambiguousJson(unclear), ['body']);
  return body;
}

/** Maps an error to status and message; unexpected ones are logged and not shown in detail. */
function answerOf(err: unknown, log: (l: string) => void, where: string): ApiError {
  if (err instanceof ApiError) return err;
  const code = httpStatus(err) ?? httpStatus((err as { cause?: unknown })?.cause);
  if (code === 404) return new ApiError(404, describeError(err));
  if (code === 409) return new ApiError(409, `conflict: ${describeError(err)}`);
  if (code === 429 || code === 503) return new ApiError(503, `Kubernetes API busy: ${describeError(err)}; retry shortly`, undefined, { headers: { 'Retry-After': '1' } });
  if (code === 422 || code === 400) return new ApiError(400, `rejected by Kubernetes: ${describeError(err)}`);
  log(`${where}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return new ApiError(500, 'internal error; see the operator log');
}

/** Starts the API server. */
export async function startApiServer(opts: ApiOptions): Promise<ApiServer> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const audit = (fields: Record<string, unknown>) => log(`[audit] ${JSON.stringify(fields)}`);
  const tls = opts.tls ?? (await loadOrCreateTls(opts.kc, opts.namespace));
  const bus = opts.bus ?? new EventBus();
  const store = new AccessStore(opts.kc, opts.namespace);
  const authenticator = new Authenticator(store);
  const deps = new Deps(opts.kc, store, log);
  const events = new EventsEndpoint(authenticator, bus, audit, opts.maxBuffered);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = Date.now();
    const url = new URL(req.url ?? '/', 'https://localhost');
    const address = req.socket.remoteAddress ?? '';
    const entry: Record<string, unknown> = { user: '-', method: req.method, path: url.pathname, ip: address };
    let status = 500;
    try {
      // Unauthenticated: liveness and the API description (no data in either).
      if (url.pathname === '/healthz') return void send(res, (status = 200), { status: 'ok' });
      if (url.pathname === '/openapi.json') return void send(res, (status = 200), openApiDocument());
      const user = await authenticator.authenticate(req.headers.authorization, address);
      entry.user = user.name;
      if (url.pathname === '/visualizer' || url.pathname === '/') return void send(res, (status = 200), VISUALIZER_HTML);
      const match = matchRoute(req.method ?? 'GET', url.pathname);
      if (!match.route) {
        if (match.allowed.length) throw new ApiError(405, `method ${req.method} not allowed on ${url.pathname}; use ${match.allowed.join(', ')}`, undefined, { headers: { Allow: match.allowed.join(', ') } });
        throw new ApiError(404, MESSAGES.noRoute(req.method ?? '', url.pathname));
      }
      const route: Route = match.route;
      entry.route = route.id;
      if (!hasPermission(user, route.permission)) throw new ApiError(403, MESSAGES.forbidden(user.name, route.permission));
      const params: Record<string, string> = {};
      for (const [k, v] of Object.entries(match.params)) params[k] = validate(k === 'task' ? objectName : nameSchema, v, `path.${k}`);
      if (params.namespace) {
        entry.ns = params.namespace;
        if (!canUseNamespace(user, params.namespace)) throw new ApiError(403, MESSAGES.namespaceForbidden(user.name, params.namespace));
      }
      if (params.name) entry.name = params.name;
      if (route.websocket) throw new ApiError(400, 'this route is a WebSocket: connect with Upgrade: websocket');
      const rawQuery = Object.fromEntries(url.searchParams);
      const query = (route.query ? validate(route.query, rawQuery, 'query') : validate(noFields, rawQuery, 'query')) as Record<string, unknown>;
      const raw = await readBody(req, MAX_BODY_BYTES);
      if (!route.body && raw !== undefined) throw new ApiError(400, `${route.method} ${route.id} takes no request body`, ['body']);
      const body = (route.body ? validate(route.body, raw, 'body') : {}) as Record<string, unknown>;
      if (route.notImplemented) throw new ApiError(501, route.notImplemented);
      const handler = handlers[route.id as keyof HandlerTable];
      if (!handler) throw new ApiError(501, MESSAGES.notImplemented(route.id));
      const reply = await handler(deps, { user, params, query, body });
      send(res, (status = reply.status ?? 200), reply.body);
    } catch (err) {
      const e = answerOf(err, log, `${req.method} ${url.pathname}`);
      status = e.status;
      if (!res.headersSent) send(res, status, { error: { status, message: e.message, ...(e.fields ? { fields: e.fields } : {}) } }, { ...e.headers, ...(status === 413 ? { Connection: 'close' } : {}) });
    } finally {
      // One line per call: who, what, where, outcome. Never headers or bodies (they carry credentials and SQL).
      audit({ ...entry, status, ms: Date.now() - t0 });
    }
  }

  const https = createHttpsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, (req, res) => void handle(req, res));
  https.headersTimeout = 20_000;
  https.requestTimeout = 60_000;
  https.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => void events.upgrade(req, socket, head));
  https.on('tlsClientError', (_err, socket) => socket.destroy());

  // A front socket listener looks at the first byte: a TLS handshake goes to the HTTPS server; anything
  // else (plain HTTP) gets a 400 naming https:// and is closed — the API never serves without TLS.
  const sockets = new Set<Socket>();
  const front = createNetServer((socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.once('data', (first: Buffer) => {
      socket.pause();
      socket.unshift(first);
      if (first[0] === 0x16) {
        https.emit('connection', socket);
        process.nextTick(() => socket.resume());
      } else {
        const body = JSON.stringify({ error: { status: 400, message: MESSAGES.plainHttp } });
        socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      }
    });
    socket.on('error', () => socket.destroy());
    socket.setTimeout(30_000, () => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.listen(opts.port ?? 8443, opts.host ?? '0.0.0.0', () => resolve());
  });
  const port = (front.address() as AddressInfo).port;
  const sources: Source | undefined = opts.sources === false ? undefined : startSources(opts.kc, bus, log);
  log(`API listening on https://${opts.host ?? '0.0.0.0'}:${port}`);
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    tls,
    bus,
    events,
    authenticator,
    close: async () => {
      sources?.stop();
      events.close();
      https.closeAllConnections();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => front.close(() => resolve()));
    },
  };
}
