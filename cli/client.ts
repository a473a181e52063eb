/** HTTPS calls to the API, built from the shared route table; request bodies are checked before sending. */
import { request } from 'node:https';
import type { z } from 'zod';
import { issueLines } from '../src/api/errors.ts';
import { buildPath, type Route } from '../src/api/routes.ts';
import { CliError, type CliConfig } from './config.ts';

/** Input of one call. */
export interface CallInput {
  params?: Record<string, string>;
  query?: Record<string, string | boolean | undefined>;
  body?: unknown;
}

/** An error answer from the API. */
export class ApiCallError extends CliError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message, status === 501 ? 3 : 1);
    this.name = 'ApiCallError';
  }
}

const tlsHint = (cfg: CliConfig) =>
  cfg.ca ? '' : "; set PGO_CA_CERT to the API's certificate: kubectl -n pgo get secret pgo.tls -o jsonpath='{.data.tls\\.crt}' | base64 -d > ~/.pgo-ca.crt";

/** Calls `route` and returns its parsed answer (typed by the route's response schema). */
export async function call<R extends Route>(cfg: CliConfig, route: R, input: CallInput = {}): Promise<z.infer<R['response']>> {
  const params = { namespace: cfg.namespace, ...input.params };
  let body: string | undefined;
  if (route.body) {
    const checked = route.body.safeParse(input.body ?? {});
    if (!checked.success) throw new CliError(`invalid arguments: ${issueLines(checked.error, 'body').join('; ')}`, 2);
    body = JSON.stringify(input.body ?? {});
  }
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(input.query ?? {})) if (v !== undefined) qs.set(k, String(v));
  const url = `${cfg.url}${buildPath(route, params)}${qs.size ? `?${qs}` : ''}`;
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(url, {
      method: route.method,
      ca: cfg.ca,
      headers: {
        Authorization: `Basic ${Buffer.from(`${cfg.user}:${cfg.password}`).toString('base64')}`,
        Accept: 'application/json',
        ...(body !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) } : {}),
      },
      timeout: 60_000,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 60 s')));
    req.on('error', (err) => reject(new CliError(`cannot reach the API at ${cfg.url}: ${err.message}${/certificate|self.signed/i.test(err.message) ? tlsHint(cfg) : ''}`, 1, { cause: err })));
    if (body !== undefined) req.write(body);
    req.end();
  });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ApiCallError(status, `unexpected answer from the API (HTTP ${status}): ${text.slice(0, 200)}`);
  }
  if (status >= 400) {
    const e = (json as { error?: { message?: string } }).error;
    throw new ApiCallError(status, e?.message ?? `HTTP ${status}`);
  }
  return json as z.infer<R['response']>;
}
