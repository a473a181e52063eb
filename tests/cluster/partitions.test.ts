/**
 * Failover when only part of the system is cut off, with synchronous replication and a writer whose one
 * connection was opened before the fault: the primary's node loses the control plane but not the other
 * nodes (its standbys could go on streaming from it and acknowledging its commits), the kube-apiserver
 * restarted in the middle of a failover, and the primary's node cut off while a switchover runs; then, with
 * asynchronous replication, the control-plane cut again: the old primary stops itself before its replicas
 * are cut off it; last, synchronous again, the primary's node stopped for good: its instance moves to a live node. Each ends
 * with one writable primary, every acknowledged commit present and the history entry.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { inject } from '../../bench/failover/faults.ts';
import { NAME, assertHealthy, createHa, haContext, haTarget, newPrimary, primaryBackend, survive, task, writer, type HaCtx } from '../harness/ha.ts';
import { deleteNamespace, psql } from '../harness/cluster.ts';
import { startOperator } from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';

const test = suite<HaCtx>('failover under partial partitions on the local cluster');
const logFile = '/tmp/pg-operator-partitions.log';

test.before(async (ctx) => {
  Object.assign(ctx, await haContext('part'));
  // Each failover step waits 3 s first, so a fault can land in the middle of one.
  ctx.op = startOperator(ctx.c.kubeconfigPath, logFile, { PGO_FAILOVER_STEP_DELAY_MS: '3000' });
  await createHa(ctx);
});

test.after(async (ctx) => {
  for (const w of ctx.writers ?? []) await w.stop();
  if (ctx.c) await deleteNamespace(ctx.c, ctx.ns).catch((err: unknown) => console.error(String(err)));
  await ctx.op?.stop();
});

test('primary node cut off the control plane only: its standbys are cut off it, so it acknowledges nothing more; fails over, nothing lost', async (ctx) => {
  await survive(ctx, 'control-cut', true);
});

test('kube-apiserver restarted in the middle of a failover: the failover finishes, nothing lost', async (ctx) => {
  const before = await assertHealthy(ctx);
  const primary = await primaryBackend(ctx);
  const load = await writer(ctx, primary);
  const frozen = await inject(ctx.c, haTarget(ctx.ns), primary, 'freeze');
  try {
    await waitFor('the failover fencing', async () => ((await ctx.clusters.get(ctx.ns, NAME)).status?.state === 'failover.fencing' ? true : undefined), 60_000, 100);
    await ctx.c.fault('apiserver-restart', '5');
    await newPrimary(ctx, before);
  } finally {
    await frozen.restore();
  }
  const after = await assertHealthy(ctx, load);
  assert.is(after.status?.failoverHistory?.at(-1)?.from, before.status?.currentPrimary);
});

test('primary node cut off while a switchover runs: the switchover goes on as a failover, nothing lost, the old primary fenced', async (ctx) => {
  const before = await assertHealthy(ctx);
  const primary = await primaryBackend(ctx);
  const load = await writer(ctx, primary);
  const done = task(ctx, 'switchover').catch((err: unknown) => err as Error);
  await waitFor('the switchover recording its intent', async () => ((await ctx.clusters.get(ctx.ns, NAME)).status?.failover?.kind === 'switchover' ? true : undefined), 60_000, 100);
  const cut = await inject(ctx.c, haTarget(ctx.ns), primary, 'net-cut');
  try {
    const t = await done;
    if (t instanceof Error) throw t;
    assert.is(t.status?.phase, 'Succeeded', t.status?.message);
    await newPrimary(ctx, before);
  } finally {
    await cut.restore();
  }
  const after = await assertHealthy(ctx, load);
  const entry = after.status?.failoverHistory?.at(-1);
  assert.is(entry?.from, before.status?.currentPrimary);
  assert.is(entry?.kind, 'manual', `the switchover became a failover: ${entry?.reason}`);
  assert.match(entry?.reason ?? '', /failing over/);
});

test('asynchronous replication, primary node cut off the control plane only: it stops itself before its replicas are cut off it; no second writer, nothing acknowledged lost', async (ctx) => {
  // From here on without the step delay: the failover reaches its replicas while the old primary still runs.
  await ctx.op.stop();
  ctx.op = startOperator(ctx.c.kubeconfigPath, logFile, { PGO_LOST_NODE_SECONDS: '5' });
  // Observed first (it observes every 5 s): parameters reach only the instances the apply has observed.
  await assertHealthy(ctx);
  await sleep(10_000);
  await setSync(ctx, false);
  // Every value the writer saw acknowledged, on the old primary too, is on the new one: the old primary
  // acknowledged nothing its replicas did not get (without self-fencing, thousands were lost here).
  await survive(ctx, 'control-cut', true);
});

test('primary node stopped for good: after the failover its instance is moved to a live node (its volume retained), and the cluster is whole again without that node', async (ctx) => {
  // Synchronous again: with asynchronous replication a stopped node may take its last commits with it.
  const before = await setSync(ctx, true);
  const primary = await primaryBackend(ctx);
  const load = await writer(ctx, primary);
  const lost = before.status!.currentPrimary!;
  const stopped = await inject(ctx.c, haTarget(ctx.ns), primary, 'node-stop');
  try {
    await newPrimary(ctx, before);
    // Three instances Ready, streaming, nothing lost, while the node is still down.
    const after = await assertHealthy(ctx, load);
    const moved = after.status!.instances!.find((i) => i.name === lost)!;
    assert.ok(moved.node && moved.node !== primary.node, `${lost} runs on ${moved.node}, not on the lost ${primary.node}`);
    const events = await ctx.c.core.listNamespacedEvent({ namespace: ctx.ns, fieldSelector: `involvedObject.name=${NAME},reason=NodeLost` });
    assert.match(events.items[0]?.message ?? '', new RegExp(`node ${primary.node} has not been Ready.*moving ${lost}`));
  } finally {
    await stopped.restore();
  }
  // The old volume is kept, not deleted: here, where nobody needs it, the test removes it.
  const retained = (await ctx.c.core.listPersistentVolume()).items.filter((pv) => pv.spec?.claimRef?.namespace === ctx.ns && pv.spec.claimRef.name === lost && pv.spec.persistentVolumeReclaimPolicy === 'Retain');
  assert.is(retained.length, 1, 'the lost volume is retained');
  await ctx.c.core.deletePersistentVolume({ name: retained[0]!.metadata!.name! });
});

/** Turns synchronous replication on or off and waits until the primary runs with it. */
async function setSync(ctx: HaCtx, on: boolean) {
  await ctx.clusters.mutate(ctx.ns, NAME, (c) => void (c.spec.syncReplication = on));
  return waitFor(`synchronous replication ${on ? 'on' : 'off'}`, async () => {
    const c = await assertHealthy(ctx);
    const primary = c.status!.instances!.find((i) => i.name === c.status!.currentPrimary)!;
    return ((await psql(primary.podIP!, ctx.password, 'show synchronous_standby_names')) !== '') === on ? c : undefined;
  }, 120_000, 1000);
}

test.run();
