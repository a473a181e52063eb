/**
 * Failover end to end on the local cluster: for each fault of the primary (crashed PostgreSQL, frozen
 * container, deleted pod, stopped node, cut-off node), manual failover, switchover and an operator killed in
 * the middle of a failover, under a continuous write load with synchronous replication, the cluster ends with
 * exactly one writable primary, the only pod behind the primary Service, both replicas streaming from it,
 * and every acknowledged commit present. Outcomes are asserted, not times (bench/failover.ts measures those).
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { inject, type Fault } from '../../bench/failover/faults.ts';
import { readyBackends, serviceAddress } from '../../bench/failover/k8s.ts';
import type { Target } from '../../bench/failover/target.ts';
import { startWriter, type Writer } from '../../bench/failover/writer.ts';
import { clusterNames } from '../../src/cluster/names.ts';
import { API_VERSION } from '../../src/crd/resources.ts';
import type { PgClusterResource, PgTaskResource } from '../../src/crd/types.ts';
import { CustomResources } from '../../src/k8s/custom.ts';
import { deleteNamespace, localCluster, prepareNamespace, psql, type LocalCluster } from '../harness/cluster.ts';
import { startOperator, type OperatorProcess } from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';

interface Ctx {
  c: LocalCluster;
  ns: string;
  op: OperatorProcess;
  clusters: CustomResources<PgClusterResource>;
  tasks: CustomResources<PgTaskResource>;
  password: string;
  /** Writers started by the tests, stopped at the end whatever happened. */
  writers: Writer[];
}
const test = suite<Ctx>('failover on the local cluster');
const logFile = '/tmp/pg-operator-failover.log';
const NAME = 'ha';

/** A writer and the table it fills (one per writer: each counts from 1). */
interface Load {
  writer: Writer;
  table: string;
}

const target = (ns: string): Target => ({ name: 'pg-operator', namespace: ns, primaryService: NAME, podSelector: '', container: 'database', members: 3 }) as unknown as Target;

/** The primary as the primary Service selects it (exactly one ready endpoint). */
async function primaryBackend(ctx: Ctx) {
  return waitFor('one pod behind the primary Service', async () => {
    const b = await readyBackends(ctx.c, ctx.ns, NAME);
    return b.length === 1 ? b[0] : undefined;
  }, 120_000, 500);
}

/** A writer on a node other than the primary's, committing through the primary Service into a new table. */
async function writer(ctx: Ctx, primary: { ip: string; node: string }): Promise<Load> {
  const table = `acks_${randomBytes(3).toString('hex')}`;
  await psql(primary.ip, ctx.password, `create table ${table} (v bigint primary key)`);
  const { host, port } = await serviceAddress(ctx.c, ctx.ns, NAME);
  const node = ['node1', 'node2', 'node3'].find((n) => n !== primary.node)!;
  const w = startWriter(`pgo-${node}`, { host, port, user: 'postgres', password: ctx.password, database: 'postgres', table });
  ctx.writers.push(w);
  await waitFor('the writer commits', () => (w.acks.length > 5 ? true : undefined), 30_000, 200);
  return { writer: w, table };
}

/**
 * The outcome every fault must end in: all three instances Ready, exactly one writable (the one behind the
 * primary Service and in status), two replicas streaming from it, and every acknowledged value present.
 */
async function assertHealthy(ctx: Ctx, load?: Load): Promise<PgClusterResource> {
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

/** Injects `fault` into the primary under load; returns the cluster once it has recovered. */
async function survive(ctx: Ctx, fault: Fault, expectNewPrimary: boolean): Promise<void> {
  const before = await assertHealthy(ctx); // each test starts from a healthy cluster, whatever the last one left
  const primary = await primaryBackend(ctx);
  const load = await writer(ctx, primary);
  const injected = await inject(ctx.c, target(ctx.ns), primary, fault);
  try {
    if (expectNewPrimary) {
      await waitFor('a new primary', async () => {
        const x = await ctx.clusters.get(ctx.ns, NAME);
        return x.status?.currentPrimary !== before.status?.currentPrimary && !x.status?.failover ? x : undefined;
      }, 120_000, 500);
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

async function task(ctx: Ctx, type: 'failover' | 'switchover', targetName?: string): Promise<PgTaskResource> {
  const name = `${NAME}-${type}-${randomBytes(2).toString('hex')}`;
  await ctx.tasks.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGTask', metadata: { name, namespace: ctx.ns }, spec: { type, clusterName: NAME, ...(targetName ? { target: targetName } : {}) } });
  return waitFor(`pgtask ${name} done`, async () => {
    const t = await ctx.tasks.get(ctx.ns, name);
    return t.status?.phase === 'Succeeded' || t.status?.phase === 'Failed' ? t : undefined;
  }, 120_000, 500);
}

test.before(async (ctx) => {
  ctx.c = localCluster();
  ctx.ns = `fo-${randomBytes(3).toString('hex')}`;
  ctx.clusters = new CustomResources(ctx.c.kubeconfig, 'pgclusters');
  ctx.tasks = new CustomResources(ctx.c.kubeconfig, 'pgtasks');
  ctx.writers = [];
  await prepareNamespace(ctx.c, ctx.ns);
  ctx.op = startOperator(ctx.c.kubeconfigPath, logFile);
  await ctx.clusters.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGCluster', metadata: { name: NAME, namespace: ctx.ns }, spec: { replicas: 2, syncReplication: true } } as PgClusterResource);
  const s = await waitFor('superuser secret', () => ctx.c.core.readNamespacedSecret({ namespace: ctx.ns, name: clusterNames(NAME).superuserSecret }).catch(() => undefined), 60_000);
  ctx.password = Buffer.from(s.data!.password!, 'base64').toString();
  await assertHealthy(ctx);
});

test.after(async (ctx) => {
  for (const w of ctx.writers ?? []) await w.stop();
  // While the operator runs: its pgclusters carry the operator's finalizer.
  if (ctx.c) await deleteNamespace(ctx.c, ctx.ns).catch((err: unknown) => console.error(String(err)));
  await ctx.op?.stop();
});

test('crashed PostgreSQL on the primary: recovered, one primary, nothing lost', async (ctx) => {
  // The kubelet restarts the container at once; it comes back as the primary unless the delay ran out first.
  await survive(ctx, 'crash', false);
});

test('frozen primary: fails over; after the thaw the old primary rejoins as a replica', async (ctx) => {
  await survive(ctx, 'freeze', true);
});

test('deleted primary pod: recovered, one primary, nothing lost', async (ctx) => {
  await survive(ctx, 'pod-delete', false);
});

test('stopped primary node: fails over; the old primary rejoins when the node is back', async (ctx) => {
  await survive(ctx, 'node-stop', true);
});

test('network-partitioned primary node: fails over; the old primary never takes writes again', async (ctx) => {
  await survive(ctx, 'net-cut', true);
});

test('manual failover: an unknown target is refused with the reason; a chosen target is promoted', async (ctx) => {
  const before = await assertHealthy(ctx);
  const targetName = before.status!.instances!.find((i) => i.role === 'replica')!.name;
  const bad = await task(ctx, 'failover', 'nope');
  assert.is(bad.status?.phase, 'Failed');
  assert.match(bad.status?.message ?? '', /nope is not an instance/);
  const t = await task(ctx, 'failover', targetName);
  assert.is(t.status?.phase, 'Succeeded', t.status?.message);
  const after = await assertHealthy(ctx);
  assert.is(after.status?.currentPrimary, targetName);
  assert.is(after.status?.failoverHistory?.at(-1)?.kind, 'manual');
});

test('switchover: nothing lost, the old primary comes back as a replica in the same pod', async (ctx) => {
  const before = await assertHealthy(ctx);
  const load = await writer(ctx, await primaryBackend(ctx));
  const t = await task(ctx, 'switchover');
  assert.is(t.status?.phase, 'Succeeded', t.status?.message);
  const after = await assertHealthy(ctx, load);
  assert.is.not(after.status?.currentPrimary, before.status?.currentPrimary);
  assert.is(after.status?.failoverHistory?.at(-1)?.kind, 'switchover');
  const old = after.status!.instances!.find((i) => i.name === before.status!.currentPrimary)!;
  assert.is(old.podIP, before.status!.instances!.find((i) => i.name === old.name)!.podIP, 'same pod');
});

for (const step of ['fencing', 'promoting', 'relabeling']) {
  test(`operator killed while ${step}: a new operator finishes the failover`, async (ctx) => {
    await ctx.op.stop();
    ctx.op = startOperator(ctx.c.kubeconfigPath, logFile, { PGO_FAILOVER_STEP_DELAY_MS: '4000' });
    const before = await assertHealthy(ctx);
    const name = `${NAME}-failover-${randomBytes(2).toString('hex')}`;
    const targetName = before.status!.instances!.find((i) => i.role === 'replica')!.name;
    await ctx.tasks.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGTask', metadata: { name, namespace: ctx.ns }, spec: { type: 'failover', clusterName: NAME, target: targetName } });
    await waitFor(`status.state failover.${step}`, async () => {
      const t = await ctx.tasks.get(ctx.ns, name);
      if (t.status?.phase === 'Failed') throw new Error(`pgtask ${name} failed: ${t.status.message}`);
      return (await ctx.clusters.get(ctx.ns, NAME)).status?.state === `failover.${step}` ? true : undefined;
    }, 60_000, 100);
    await ctx.op.stop('SIGKILL');
    await sleep(500);
    ctx.op = startOperator(ctx.c.kubeconfigPath, logFile);
    const after = await assertHealthy(ctx);
    assert.is(after.status?.currentPrimary, targetName);
  });
}

test('no replica Ready: no failover, and the cluster says why in a condition', async (ctx) => {
  const solo = 'solo';
  await ctx.clusters.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGCluster', metadata: { name: solo, namespace: ctx.ns }, spec: { replicas: 0 } } as PgClusterResource);
  const ready = await waitFor('solo Ready', async () => {
    const x = await ctx.clusters.get(ctx.ns, solo);
    return x.status?.phase === 'Ready' ? x : undefined;
  }, 180_000, 1000);
  const pod = (await ctx.c.core.listNamespacedPod({ namespace: ctx.ns, labelSelector: `pg-operator.dev/instance=${solo}` })).items[0]!;
  await ctx.c.fault('freeze', `${ctx.ns}/${pod.metadata!.name!}`, 'database');
  try {
    const x = await waitFor('PrimaryAvailable=False NoFailoverCandidate', async () => {
      const c = await ctx.clusters.get(ctx.ns, solo);
      const cond = c.status?.conditions?.find((k) => k.type === 'PrimaryAvailable');
      return cond?.reason === 'NoFailoverCandidate' ? c : undefined;
    }, 60_000, 500);
    assert.is(x.status?.currentPrimary, ready.status?.currentPrimary);
    assert.match(x.status!.conditions!.find((k) => k.type === 'PrimaryAvailable')!.message, /has no replica/);
  } finally {
    await ctx.c.fault('thaw', `${ctx.ns}/${pod.metadata!.name!}`, 'database');
  }
  await waitFor('solo Ready again', async () => ((await ctx.clusters.get(ctx.ns, solo)).status?.phase === 'Ready' ? true : undefined), 60_000, 1000);
});

test.run();
