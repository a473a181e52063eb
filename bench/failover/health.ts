/** Health of a target, judged the same way for every target: from Kubernetes and from PostgreSQL itself. */
import pg from 'pg';
import type { LocalCluster } from '../../tests/harness/cluster.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { readyBackends, type Backend } from './k8s.ts';
import type { Credentials, Target } from './target.ts';

/** Runs `sql` on `host` (a pod IP, reachable from the host) and returns the rows. */
export async function query<R extends pg.QueryResultRow>(host: string, cred: Credentials, sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ host, port: 5432, ...cred, connectionTimeoutMillis: 3000, query_timeout: 10_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.query<R>(sql, params)).rows;
  } finally {
    client.end().catch(() => undefined);
  }
}

/**
 * Why `target` is not healthy, or undefined when it is: every member pod Ready, exactly one pod behind the
 * primary Service, that pod writable, and every other member streaming from it.
 */
export async function unhealthy(c: LocalCluster, target: Target, cred: Credentials): Promise<string | undefined> {
  const pods = await c.core.listNamespacedPod({ namespace: target.namespace, labelSelector: target.podSelector });
  const live = pods.items.filter((p) => !p.metadata?.deletionTimestamp);
  const ready = live.filter((p) => p.status?.conditions?.some((k) => k.type === 'Ready' && k.status === 'True'));
  if (ready.length !== target.members) return `${ready.length}/${target.members} pods Ready`;
  const backends = await readyBackends(c, target.namespace, target.primaryService);
  if (backends.length !== 1) return `${backends.length} pods behind the primary Service`;
  const rows = await query<{ rec: boolean; streaming: number }>(backends[0]!.ip, cred,
    "SELECT pg_is_in_recovery() AS rec, (SELECT count(*)::int FROM pg_stat_replication WHERE state = 'streaming') AS streaming");
  if (rows[0]?.rec) return 'the primary Service selects a standby';
  if (rows[0]?.streaming !== target.members - 1) return `${rows[0]?.streaming ?? 0}/${target.members - 1} replicas streaming`;
  return undefined;
}

/** Waits up to `timeoutMs` for `target` to be healthy; returns its primary, or throws with the last reason. */
export async function waitHealthy(c: LocalCluster, target: Target, cred: Credentials, timeoutMs: number): Promise<Backend> {
  const deadline = Date.now() + timeoutMs;
  let reason = 'not checked';
  for (;;) {
    try {
      const why = await unhealthy(c, target, cred);
      if (!why) return (await readyBackends(c, target.namespace, target.primaryService))[0]!;
      reason = why;
    } catch (err) {
      reason = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) throw new Error(`${target.name} not healthy after ${timeoutMs / 1000} s: ${reason}`);
    await sleep(1000);
  }
}
