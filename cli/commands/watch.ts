/** `pgo watch [cluster]`: streams /events (actor transitions, Kubernetes Events, task progress) until interrupted. */
import type { Sade } from 'sade';
import { WebSocket } from 'ws';
import { ROUTE } from '../../src/api/routes.ts';
import { streamEvent } from '../../src/api/schemas.ts';
import { CliError } from '../config.ts';
import { formatEvent } from '../format.ts';
import { action, config, wantsJson, type Opts } from '../run.ts';

/** Registers `pgo watch`. */
export function watchCommands(prog: Sade): void {
  prog.command('watch [cluster]', 'Stream state transitions, Events and task progress of the namespace (or one cluster)').action(action(async (cluster: string | undefined, opts: Opts) => {
    const cfg = config(opts);
    const qs = new URLSearchParams({ namespace: cfg.namespace, ...(cluster ? { cluster } : {}) });
    const url = `${cfg.url.replace(/^https:/, 'wss:')}${ROUTE.events.path}?${qs}`;
    await new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(url, { ca: cfg.ca, headers: { Authorization: `Basic ${Buffer.from(`${cfg.user}:${cfg.password}`).toString('base64')}` } });
      ws.on('unexpected-response', (_req, res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => {
          let message = `HTTP ${res.statusCode}`;
          try {
            message = (JSON.parse(text) as { error: { message: string } }).error.message;
          } catch {
            // not JSON
          }
          reject(new CliError(message));
        });
      });
      ws.on('message', (data) => {
        const parsed = streamEvent.safeParse(JSON.parse((data as Buffer).toString('utf8')));
        if (!parsed.success) return;
        process.stdout.write(`${wantsJson(opts) ? JSON.stringify(parsed.data) : formatEvent(parsed.data)}\n`);
      });
      ws.on('close', (code, reason) => (code === 1000 || code === 1005 ? resolve() : reject(new CliError(`event stream closed: ${code} ${reason.toString()}`))));
      ws.on('error', (err) => reject(new CliError(`event stream: ${err.message}`, 1, { cause: err })));
      process.once('SIGINT', () => ws.close(1000));
      process.once('SIGTERM', () => ws.close(1000));
    });
  }));
}
