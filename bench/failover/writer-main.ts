/**
 * The benchmark's client, run as its own process inside a node's network namespace (so the primary Service's
 * ClusterIP works through that node's kube-proxy, as for a client pod). One connection; each transaction
 * INSERTs the next counter value (autocommit, synchronous); on any error it drops the connection and
 * reconnects after a short back-off. Prints one line per outcome on stdout:
 *   `a VALUE MS`  the commit of VALUE was acknowledged at MS (epoch milliseconds)
 *   `e MS CODE`   a failed attempt (connect, timeout, error) at MS
 * Environment: PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE, BENCH_TABLE. Stops on SIGTERM.
 */
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';

const table = process.env.BENCH_TABLE ?? 'failover_bench';
let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
});

const out = (line: string) => process.stdout.write(`${line}\n`);
let client: pg.Client | undefined;
let value = 0;
while (!stopping) {
  try {
    if (!client) {
      const c = new pg.Client({ connectionTimeoutMillis: 1000, query_timeout: 2000, keepAlive: true });
      c.on('error', () => undefined);
      client = c;
      await c.connect();
    }
    const v = ++value;
    await client.query(`INSERT INTO ${table} (v) VALUES ($1)`, [v]);
    out(`a ${v} ${Date.now()}`);
  } catch (err) {
    const e = err as { code?: string; message?: string };
    out(`e ${Date.now()} ${e.code ?? (e.message ?? 'error').replace(/\s+/g, '_').slice(0, 40)}`);
    // Not awaited: a frozen or unreachable server would never answer the Terminate message.
    client?.end().catch(() => undefined);
    client = undefined;
    await sleep(100);
  }
}
client?.end().catch(() => undefined);
process.exit(0);
