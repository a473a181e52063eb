/**
 * What the failover end-to-end tests share: a 3-instance pgcluster `ha` under a writer that commits through
 * the primary Service from another node (one connection, opened before any fault), and the outcome every
 * fault must end in (one writable primary, alone behind the primary Service, both replicas streaming from
 * it, every acknowledged value present).
 */
import { randomBytes } from 'node:crypto';
import * as assert from 'uvu/assert';
import { inject, type Fault } from '../../bench/failover/faults.ts';
import { readyBackends, serviceAddress } from '../../bench/failover/k8s.ts';
import type { Target } from '../../bench/failover/target.ts';
import { startWriter, type Writer } from '../../bench/failover/writer.ts';
import { clusterNames } from '../../src/cluster/names.ts';
import { API_VERSION } from '../../src/crd/resources.ts';
import type { PgClusterResource, PgTaskResource } from '../../src/crd/types.ts';
import { CustomResources } from '../../src/k8s/custom.ts';
import { localCluster, prepareNamespace, psql, type LocalCluster } from './cluster.ts';
import type { OperatorProcess } from './operator.ts';
import { waitFor } from './wait.ts';

/** The pgcluster every failover test uses. */
export const NAME = 'ha';

/** The context of a failover suite. */
export interface HaCtx {
  c: LocalCluster;
  ns: string;
  op: OperatorProcess;
  clusters: CustomResources<PgClusterResource>;
  tasks: CustomResources<PgTaskResource>;
  password: string;
  /** Writers started by the tests, stopped at the end whatever happened. */
  writers: Writer[];
}

/** A writer and the table it fills (one per writer: each counts from 1). */
export interface Load {
  writer: Writer;
  table: string;
}

/** The fault injector's view of the cluster. */
export const haTarget = (ns: string): Target => ({ name: 'pg-operator', namespace: ns, primaryService: NAME, podSelector: '', container: 'database', members: 3 }) as unknown as Target;

/** Prepares `ns` and the clients; the caller starts the operator, then calls createHa. */
export async function haContext(prefix: string): Promise<Omit<HaCtx, 'op' | 'password'>> {
  const c = localCluster();
  const ns = `${prefix}-${randomBytes(3).toString('hex')}`;
  await prepareNamespace(c, ns);
  return { c, ns, clusters: new CustomResources(c.kubeconfig, 'pgclusters'), tasks: new CustomResources(c.kubeconfig, 'pgtasks'), writers: [] };
}

/** Creates pgcluster `ha` (2 replicas, synchronous replication); resolves to its superuser password once healthy. */
export async function createHa(ctx: HaCtx): Promise<void> {
  await ctx.clusters.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGCluster', metadata: { name: NAME, namespace: ctx.ns }, spec: { replicas: 2, syncReplication: true } } as PgClusterResource);
  const s = await waitFor('superuser secret', () => ctx.c.core.readNamespacedSecret({ namespace: ctx.ns, name: clusterNames(NAME).superuserSecret }).catch(() => undefined), 60_000);
  ctx.password = Buffer.from(s.data!.password!, 'base64').toString();
  await assertHealthy(ctx);
}

/** The primary as the primary Service selects it (exactly one ready endpoint). */
export async function primaryBackend(ctx: HaCtx) {
  return waitFor('one pod behind the primary Service', async () => {
    const b = await readyBackends(ctx.c, ctx.ns, NAME);
    return b.length === 1 ? b[0] : undefined;
  }, 120_000, 500);
}

/** A writer on a node other than `avoid` (the primary's by default), committing through the primary Service into a new table. */
export async function writer(ctx: HaCtx, primary: { ip: string; node: string }, avoid: string[] = [primary.node]): Promise<Load> {
  const table = `acks_${randomBytes(3).toString('hex')}`;
  await psql(primary.ip, ctx.password, `create table ${table} (v bigint primary key)`);
  const { host, port } = await serviceAddress(ctx.c, ctx.ns, NAME);
  const node = ['node1', 'node2', 'node3'].find((n) => !avoid.includes(n))!;
  const w = startWriter(`pgo-${node}`, { host, port, user: 'postgres', password: ctx.password, database: 'postgres', table });
  ctx.writers.push(w);
  await waitFor('the writer commits', () => (w.acks.length > 5 ? true : undefined), 30_000, 200);
  return { writer: w, table };
}

/**
 * The outcome every fault must end in: all three instances Ready, exactly one writable (the one behind the
 * primary Service and in status), two replicas streaming from it, and every acknowledged value present.
 */
export async function assertHealthy(ctx: HaCtx, load?: Load): Promise<PgClusterResource> {
  const c = await waitFor('3 instances Ready, one writable, 2 streaming', async () => {
    const x = await ctx.clusters.get(ctx.ns, NAME);
    if (x.status?.phase !== 'Ready' || x.status.readyInstances !== 3 || x.status.failover) return undefined;
    const writable = [];
    for (const i of x.status.instances ?? []) {
      if ((await psql(i.podIP!, ctx.password, 'select pg_is_in_recovery()').catch(() => '?')) === 'f') writable.push(i.name);
    }
    if (writable.length !== 1 || writable[0] !== x.status.currentPrimary) return undefined;
    const primary = x.status.instances!.find((i) => i.name === x.status!.currentPrimary)!;
    const streaming = await psql(primary.podIP!, ctx.password, "select count(*) from pg_stat_replication where state = 'streaming'").catch(() => '0');
    return streaming === '2' ? x : undefined;
  }, 240_000, 2000);
  const primary = c.status!.instances!.find((i) => i.name === c.status!.currentPrimary)!;
  const behind = await readyBackends(ctx.c, ctx.ns, NAME);
  assert.equal(behind.map((b) => b.ip), [primary.podIP], 'the primary Service selects exactly the primary');
  if (load) {
    await load.writer.stop();
    const acked = load.writer.acks.map((a) => a.v);
    assert.ok(acked.length > 0, 'the writer committed something');
    const present = new Set((await psql(primary.podIP!, ctx.password, `select v from ${load.table}`)).split('\n').map(Number));
    const lost = acked.filter((v) => !present.has(v));
    assert.equal(lost, [], `acknowledged commits lost: ${lost.length} of ${acked.length}`);
  }
  return c;
}

/** A new primary, with no failover in progress, other than `before`'s. */
export function newPrimary(ctx: HaCtx, before: PgClusterResource, timeoutMs = 120_000): Promise<PgClusterResource> {
  return waitFor('a new primary', async () => {
    const x = await ctx.clusters.get(ctx.ns, NAME);
    return x.status?.currentPrimary !== before.status?.currentPrimary && !x.status?.failover ? x : undefined;
  }, timeoutMs, 500);
}

/** Injects `fault` into the primary under load; returns once the cluster has recovered with nothing lost. */
export async function survive(ctx: HaCtx, fault: Fault, expectNewPrimary: boolean): Promise<void> {
  const before = await assertHealthy(ctx); // each test starts from a healthy cluster, whatever the last one left
  const primary = await primaryBackend(ctx);
  const load = await writer(ctx, primary);
  const injected = await inject(ctx.c, haTarget(ctx.ns), primary, fault);
  try {
    if (expectNewPrimary) {
      await newPrimary(ctx, before);
      await waitFor('the writer commits again', () => (load.writer.acks.at(-1)!.t > injected.t0 ? true : undefined), 60_000, 200);
    }
  } finally {
    await injected.restore();
  }
  const after = await assertHealthy(ctx, load);
  if (expectNewPrimary) {
    const last = after.status!.failoverHistory!.at(-1)!;
    assert.is(last.from, before.status!.currentPrimary);
    assert.is(last.to, after.status!.currentPrimary);
  }
}

/** Creates a failover or switchover pgtask and waits for its outcome. */
export async function task(ctx: HaCtx, type: 'failover' | 'switchover', targetName?: string): Promise<PgTaskResource> {
  const name = `${NAME}-${type}-${randomBytes(2).toString('hex')}`;
  await ctx.tasks.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGTask', metadata: { name, namespace: ctx.ns }, spec: { type, clusterName: NAME, ...(targetName ? { target: targetName } : {}) } });
  return waitFor(`pgtask ${name} done`, async () => {
    const t = await ctx.tasks.get(ctx.ns, name);
    return t.status?.phase === 'Succeeded' || t.status?.phase === 'Failed' ? t : undefined;
  }, 120_000, 500);
}
