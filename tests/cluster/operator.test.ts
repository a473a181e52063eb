import { randomBytes } from 'node:crypto';
import { AppsV1Api } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LABEL, KEEP_DATA_ANNOTATION, clusterNames } from '../../src/cluster/names.ts';
import type { PgClusterResource, PgReplicaResource } from '../../src/crd/types.ts';
import { API_VERSION } from '../../src/crd/resources.ts';
import { CustomResources } from '../../src/k8s/custom.ts';
import { deleteNamespace, localCluster, prepareNamespace, psql, type LocalCluster } from '../harness/cluster.ts';
import { startOperator, type OperatorProcess } from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';

interface Ctx {
  c: LocalCluster;
  ns: string;
  op: OperatorProcess;
  clusters: CustomResources<PgClusterResource>;
  replicas: CustomResources<PgReplicaResource>;
  apps: AppsV1Api;
}
const test = suite<Ctx>('operator on the local cluster');
const logFile = '/tmp/pg-operator-e2e.log';

const pgcluster = (ns: string, name: string, spec: Record<string, unknown>): PgClusterResource =>
  ({ apiVersion: API_VERSION, kind: 'PGCluster', metadata: { name, namespace: ns }, spec }) as PgClusterResource;

async function readyCluster(ctx: Ctx, name: string, instances: number, timeoutMs = 180_000): Promise<PgClusterResource> {
  return waitFor(`${name} Ready with ${instances} instances`, async () => {
    const c = await ctx.clusters.get(ctx.ns, name);
    return c.status?.phase === 'Ready' && c.status.readyInstances === instances && c.status.instances?.length === instances ? c : undefined;
  }, timeoutMs, 1000);
}

async function superuserPassword(ctx: Ctx, cluster: string): Promise<string> {
  const s = await ctx.c.core.readNamespacedSecret({ namespace: ctx.ns, name: clusterNames(cluster).superuserSecret });
  return Buffer.from(s.data!.password!, 'base64').toString();
}

async function deploymentsOf(ctx: Ctx, cluster: string): Promise<string[]> {
  const list = await ctx.apps.listNamespacedDeployment({ namespace: ctx.ns, labelSelector: `${LABEL.cluster}=${cluster},${LABEL.instance}` });
  return list.items.filter((d) => !d.metadata?.deletionTimestamp).map((d) => d.metadata!.name!).sort();
}

test.before(async (ctx) => {
  ctx.c = localCluster();
  ctx.ns = `op-${randomBytes(3).toString('hex')}`;
  ctx.clusters = new CustomResources(ctx.c.kubeconfig, 'pgclusters');
  ctx.replicas = new CustomResources(ctx.c.kubeconfig, 'pgreplicas');
  ctx.apps = ctx.c.kubeconfig.makeApiClient(AppsV1Api);
  await prepareNamespace(ctx.c, ctx.ns);
  ctx.op = startOperator(ctx.c.kubeconfigPath, logFile);
});

test.after(async (ctx) => {
  if (ctx.c) await deleteNamespace(ctx.c, ctx.ns).catch((err: unknown) => console.error(String(err)));
  await ctx.op?.stop();
});

test('a cluster with 2 replicas becomes Ready, one instance per node', async (ctx) => {
  await ctx.clusters.createIfAbsent(pgcluster(ctx.ns, 'hippo', { replicas: 2 }));
  const c = await readyCluster(ctx, 'hippo', 3);
  assert.is(c.status?.currentPrimary, 'hippo');
  const nodes = new Set(c.status!.instances!.map((i) => i.node));
  assert.is(nodes.size, 3, `instances share nodes: ${[...nodes].join(',')}`);
  const replicas = ctx.replicas.listAll().then((l) => l.items.filter((r) => r.metadata.namespace === ctx.ns));
  assert.is((await replicas).length, 2);
  assert.equal(await deploymentsOf(ctx, 'hippo'), ['hippo', ...(await replicas).map((r) => r.metadata.name)].sort());
});

test('a row written on the primary is read on both replicas', async (ctx) => {
  const c = await ctx.clusters.get(ctx.ns, 'hippo');
  const password = await superuserPassword(ctx, 'hippo');
  const primary = c.status!.instances!.find((i) => i.role === 'primary')!;
  const value = randomBytes(4).toString('hex');
  await psql(primary.podIP!, password, `create table if not exists e2e(v text); insert into e2e values ('${value}')`);
  for (const r of c.status!.instances!.filter((i) => i.role === 'replica')) {
    assert.is(await psql(r.podIP!, password, 'select pg_is_in_recovery()'), 't');
    await waitFor(`the row on ${r.name}`, async () => (await psql(r.podIP!, password, `select count(*) from e2e where v = '${value}'`)) === '1', 15_000);
  }
});

test('parameters from the spec are applied to every instance', async (ctx) => {
  const c = await ctx.clusters.get(ctx.ns, 'hippo');
  await ctx.clusters.mutate(ctx.ns, 'hippo', (x) => (x.spec.parameters = { work_mem: '12MB' }));
  const password = await superuserPassword(ctx, 'hippo');
  for (const i of c.status!.instances!) {
    await waitFor(`work_mem on ${i.name}`, async () => (await psql(i.podIP!, password, 'show work_mem')) === '12MB', 60_000, 1000);
  }
});

test('a parameter that needs a restart restarts the instances, replicas first; the primary stays primary', async (ctx) => {
  await ctx.clusters.mutate(ctx.ns, 'hippo', (x) => (x.spec.parameters = { work_mem: '12MB', max_connections: '150' }));
  const password = await superuserPassword(ctx, 'hippo');
  const c = await waitFor('max_connections 150 everywhere', async () => {
    const x = await ctx.clusters.get(ctx.ns, 'hippo');
    if (x.status?.phase !== 'Ready' || x.status.pendingRestart !== false) return undefined;
    for (const i of x.status.instances!) if ((await psql(i.podIP!, password, 'show max_connections').catch(() => '')) !== '150') return undefined;
    return x;
  }, 240_000, 2000);
  const primary = c.status!.instances!.find((i) => i.role === 'primary')!;
  assert.is(primary.name, 'hippo');
  assert.is(await psql(primary.podIP!, password, 'select pg_is_in_recovery()'), 'f');
  const events = await ctx.c.core.listNamespacedEvent({ namespace: ctx.ns, fieldSelector: 'involvedObject.name=hippo,reason=Restarted' });
  const order = events.items.sort((a, b) => new Date(a.firstTimestamp!).getTime() - new Date(b.firstTimestamp!).getTime()).map((e) => e.message);
  assert.is(order.length, 3, order.join('; '));
  assert.match(order[2]!, /^restarted hippo /);
});

test('updating resources rolls the pods, labels reach them without a roll; the primary comes back as the primary', async (ctx) => {
  await ctx.clusters.mutate(ctx.ns, 'hippo', (x) => {
    x.spec.resources = { requests: { cpu: '10m', memory: '64Mi' } };
    x.spec.userLabels = { team: 'payments' };
  });
  const c = await waitFor('the rolled pods Ready', async () => {
    const x = await ctx.clusters.get(ctx.ns, 'hippo');
    if (x.status?.phase !== 'Ready' || x.status.observedGeneration !== x.metadata.generation) return undefined;
    const pods = await ctx.c.core.listNamespacedPod({ namespace: ctx.ns, labelSelector: `${LABEL.cluster}=hippo,team=payments` });
    const rolled = pods.items.filter((p) => p.spec?.containers[0]?.resources?.requests?.memory === '64Mi' && !p.metadata?.deletionTimestamp);
    return rolled.length === 3 ? x : undefined;
  }, 240_000, 2000);
  const password = await superuserPassword(ctx, 'hippo');
  const primary = c.status!.instances!.find((i) => i.role === 'primary')!;
  assert.is(primary.name, 'hippo');
  assert.is(await psql(primary.podIP!, password, 'select pg_is_in_recovery()'), 'f');
  for (const r of c.status!.instances!.filter((i) => i.role === 'replica')) {
    assert.is(await psql(r.podIP!, password, 'select pg_is_in_recovery()'), 't');
    assert.is(await psql(r.podIP!, password, 'select count(*) > 0 from e2e'), 't');
  }
});

test('scale up to 3 replicas, then down to 1', async (ctx) => {
  await ctx.replicas.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGReplica', metadata: { name: 'hippo-xtra', namespace: ctx.ns }, spec: { clusterName: 'hippo' } });
  await readyCluster(ctx, 'hippo', 4);
  const replicas = (await ctx.replicas.listAll()).items.filter((r) => r.metadata.namespace === ctx.ns).map((r) => r.metadata.name);
  for (const name of replicas.filter((n) => n !== 'hippo-xtra')) await ctx.replicas.delete(ctx.ns, name);
  await readyCluster(ctx, 'hippo', 2);
  await waitFor('2 Deployments', async () => (await deploymentsOf(ctx, 'hippo')).join() === 'hippo,hippo-xtra', 60_000, 1000);
});

test('node affinity: a required node name places the primary there; the replica elsewhere', async (ctx) => {
  await ctx.clusters.createIfAbsent(pgcluster(ctx.ns, 'pinned', { replicas: 1, nodeAffinity: { nodeName: 'node3', type: 'required' } }));
  const c = await readyCluster(ctx, 'pinned', 2);
  assert.is(c.status!.instances!.find((i) => i.role === 'primary')!.node, 'node3');
  assert.is.not(c.status!.instances!.find((i) => i.role === 'replica')!.node, 'node3');
});

test('the operator killed in the middle of a creation finishes it without duplicates', async (ctx) => {
  await ctx.op.stop('SIGKILL');
  ctx.op = startOperator(ctx.c.kubeconfigPath, logFile);
  await ctx.clusters.createIfAbsent(pgcluster(ctx.ns, 'crash', { replicas: 2 }));
  await waitFor('the first pgreplica of crash', async () => (await ctx.replicas.listAll()).items.some((r) => r.spec.clusterName === 'crash' && r.metadata.namespace === ctx.ns), 30_000, 50);
  await ctx.op.stop('SIGKILL');
  ctx.op = startOperator(ctx.c.kubeconfigPath, logFile);
  await readyCluster(ctx, 'crash', 3);
  const replicas = (await ctx.replicas.listAll()).items.filter((r) => r.spec.clusterName === 'crash' && r.metadata.namespace === ctx.ns);
  assert.is(replicas.length, 2);
  assert.is((await deploymentsOf(ctx, 'crash')).length, 3);
});

test('a StorageClass that does not exist: a clear condition and nothing half-built', async (ctx) => {
  await ctx.clusters.createIfAbsent(pgcluster(ctx.ns, 'nostorage', { storage: { primary: { size: '1Gi', storageClass: 'does-not-exist' } } }));
  const c = await waitFor('the ApplyFailed condition', async () => {
    const x = await ctx.clusters.get(ctx.ns, 'nostorage');
    return x.status?.conditions?.find((k) => k.type === 'Progressing' && k.reason === 'ApplyFailed') ? x : undefined;
  }, 30_000, 500);
  assert.match(c.status!.message!, /StorageClass "does-not-exist" \(spec\.storage\.primary\.storageClass\) does not exist/);
  assert.equal(await deploymentsOf(ctx, 'nostorage'), []);
  const secrets = await ctx.c.core.listNamespacedSecret({ namespace: ctx.ns, labelSelector: `${LABEL.cluster}=nostorage` });
  assert.is(secrets.items.length, 0);
  await ctx.clusters.delete(ctx.ns, 'nostorage');
});

const unschedulable = async (ctx: Ctx, name: string) =>
  waitFor(`${name} reported Unschedulable`, async () => {
    const x = await ctx.clusters.get(ctx.ns, name);
    const ready = x.status?.conditions?.find((k) => k.type === 'Ready');
    return ready?.reason === 'Unschedulable' ? ready.message : undefined;
  }, 60_000, 1000);

test('a node label no node has (required): an Unschedulable condition and a Warning event', async (ctx) => {
  await ctx.clusters.createIfAbsent(pgcluster(ctx.ns, 'nolabel', { nodeAffinity: { nodeLabel: { key: 'pg-operator.dev/node', value: 'node9' }, type: 'required' } }));
  assert.match(await unschedulable(ctx, 'nolabel'), /^nolabel cannot be scheduled: .*node affinity/);
  const events = await ctx.c.core.listNamespacedEvent({ namespace: ctx.ns, fieldSelector: 'involvedObject.name=nolabel,reason=Unschedulable' });
  assert.ok(events.items.length >= 1);
  assert.is((await ctx.clusters.get(ctx.ns, 'nolabel')).status?.phase, 'Creating');
  await ctx.clusters.delete(ctx.ns, 'nolabel');
});

test('more instances than nodes under required anti-affinity: the extra one is reported', async (ctx) => {
  await ctx.clusters.createIfAbsent(pgcluster(ctx.ns, 'crowded', { replicas: 3, podAntiAffinity: 'required' }));
  assert.match(await unschedulable(ctx, 'crowded'), /cannot be scheduled: .*anti-affinity/);
  const c = await waitFor('the three that fit Ready', async () => {
    const x = await ctx.clusters.get(ctx.ns, 'crowded');
    return x.status?.readyInstances === 3 ? x : undefined;
  }, 120_000, 1000);
  assert.is(c.status?.phase, 'Creating');
  assert.is(c.status?.conditions?.find((k) => k.type === 'Ready')?.reason, 'Unschedulable');
  await ctx.clusters.delete(ctx.ns, 'crowded');
});

test('deleting a cluster removes its objects; keep-data keeps the volumes and their Secrets', async (ctx) => {
  await ctx.clusters.mutate(ctx.ns, 'pinned', (x) => (x.metadata.annotations = { ...x.metadata.annotations, [KEEP_DATA_ANNOTATION]: 'true' }));
  await ctx.clusters.delete(ctx.ns, 'pinned');
  await ctx.clusters.delete(ctx.ns, 'crash');
  const left = async (cluster: string) => {
    const sel = { namespace: ctx.ns, labelSelector: `${LABEL.cluster}=${cluster}` };
    const [d, s, p, sec, cm] = await Promise.all([
      ctx.apps.listNamespacedDeployment(sel), ctx.c.core.listNamespacedService(sel), ctx.c.core.listNamespacedPersistentVolumeClaim(sel),
      ctx.c.core.listNamespacedSecret(sel), ctx.c.core.listNamespacedConfigMap(sel),
    ]);
    return { deployments: d.items.length, services: s.items.length, claims: p.items.filter((x) => !x.metadata?.deletionTimestamp).length, secrets: sec.items.length, configMaps: cm.items.length };
  };
  await waitFor('crash removed', async () => Object.values(await left('crash')).every((n) => n === 0), 90_000, 1000);
  await waitFor('pinned removed but its volumes', async () => {
    const l = await left('pinned');
    // The two data volumes and the pgBackRest repository's (the backups of the data kept), and the Secrets
    // whose passwords that data knows (superuser, replication, user) with the repository's certificates.
    return l.deployments === 0 && l.services === 0 && l.secrets >= 3 && l.claims === 3;
  }, 90_000, 1000);
});

test.run();
