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
import { API_VERSION } from '../../src/crd/resources.ts';
import type { PgClusterResource } from '../../src/crd/types.ts';
import { deleteNamespace } from '../harness/cluster.ts';
import { NAME, assertHealthy, createHa, haContext, primaryBackend, survive, task, writer, type HaCtx } from '../harness/ha.ts';
import { startOperator } from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';

type Ctx = HaCtx;
const test = suite<Ctx>('failover on the local cluster');
const logFile = '/tmp/pg-operator-failover.log';

test.before(async (ctx) => {
  Object.assign(ctx, await haContext('fo'));
  ctx.op = startOperator(ctx.c.kubeconfigPath, logFile);
  await createHa(ctx);
});

test.after(async (ctx) => {
  for (const w of ctx.writers ?? []) await w.stop();
  // While the operator runs: its pgclusters carry the operator's finalizer.
  if (ctx.c) await deleteNamespace(ctx.c, ctx.ns).catch((err: unknown) => console.error(String(err)));
  await ctx.op?.stop();
});

/** Restarts of the database container of the primary's pod, as the kubelet counts them. */
async function primaryRestarts(ctx: Ctx): Promise<{ pod: string; restarts: number }> {
  const { pod } = await primaryBackend(ctx);
  const p = await ctx.c.core.readNamespacedPod({ namespace: ctx.ns, name: pod });
  return { pod, restarts: p.status?.containerStatuses?.find((s) => s.name === 'database')?.restartCount ?? -1 };
}

test('crashed PostgreSQL on the primary: restarted in place, still the primary, nothing lost', async (ctx) => {
  // The entrypoint starts a crashed postmaster again inside the container: no failover, no kubelet restart.
  const before = await primaryRestarts(ctx);
  const history = (await ctx.clusters.get(ctx.ns, NAME)).status?.failoverHistory?.length ?? 0;
  await survive(ctx, 'crash', false);
  assert.equal(await primaryRestarts(ctx), before, 'the same pod, and its container was not restarted by the kubelet');
  assert.is((await ctx.clusters.get(ctx.ns, NAME)).status?.failoverHistory?.length ?? 0, history, 'no failover');
});

test('partly alive primary (new connections refused, open ones still commit): fails over; the old one takes no more commits, nothing acknowledged is lost', async (ctx) => {
  // The writer's connection was opened before the fault: it must not go on committing on the old primary.
  await survive(ctx, 'refuse-new', true);
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
