/**
 * A bad value never takes a running cluster down: an image that does not exist, requests no node can meet
 * and a parameter PostgreSQL refuses are each found before any instance is touched; the instances keep
 * running their last good spec and the SpecAccepted condition says why. Then a good change applies.
 */
import { randomBytes } from 'node:crypto';
import { AppsV1Api } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PREFLIGHT_LABEL } from '../../src/actors/preflight.ts';
import { LABEL, clusterNames } from '../../src/cluster/names.ts';
import { API_VERSION } from '../../src/crd/resources.ts';
import type { PgClusterResource } from '../../src/crd/types.ts';
import { CustomResources } from '../../src/k8s/custom.ts';
import { deleteNamespace, localCluster, prepareNamespace, psql, type LocalCluster } from '../harness/cluster.ts';
import { startOperator, type OperatorProcess } from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';

interface Ctx {
  c: LocalCluster;
  ns: string;
  op: OperatorProcess;
  clusters: CustomResources<PgClusterResource>;
  apps: AppsV1Api;
  password: string;
  image: string;
}
const test = suite<Ctx>('bad specs on a running cluster');

test.before(async (ctx) => {
  ctx.c = localCluster();
  ctx.ns = `bad-${randomBytes(3).toString('hex')}`;
  ctx.clusters = new CustomResources(ctx.c.kubeconfig, 'pgclusters');
  ctx.apps = ctx.c.kubeconfig.makeApiClient(AppsV1Api);
  await prepareNamespace(ctx.c, ctx.ns);
  ctx.op = startOperator(ctx.c.kubeconfigPath, '/tmp/pg-operator-bad-spec.log');
  await ctx.clusters.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGCluster', metadata: { name: 'steady', namespace: ctx.ns }, spec: { replicas: 1, parameters: { work_mem: '6MB' } } } as unknown as PgClusterResource);
  const c = await ready(ctx);
  ctx.image = c.spec.image;
  const s = await ctx.c.core.readNamespacedSecret({ namespace: ctx.ns, name: clusterNames('steady').superuserSecret });
  ctx.password = Buffer.from(s.data!.password!, 'base64').toString();
});
test.after(async (ctx) => {
  if (ctx.c) await deleteNamespace(ctx.c, ctx.ns).catch((err: unknown) => console.error(String(err)));
  await ctx.op?.stop();
});

function ready(ctx: Ctx): Promise<PgClusterResource> {
  return waitFor('steady Ready with 2 instances', async () => {
    const c = await ctx.clusters.get(ctx.ns, 'steady');
    return c.status?.phase === 'Ready' && c.status.readyInstances === 2 ? c : undefined;
  }, 240_000, 1000);
}

async function rejected(ctx: Ctx, change: (c: PgClusterResource) => void, reason: string): Promise<string> {
  const written = await ctx.clusters.mutate(ctx.ns, 'steady', change);
  const generation = written!.metadata.generation!;
  const c = await waitFor(`generation ${generation} rejected (${reason})`, async () => {
    const x = await ctx.clusters.get(ctx.ns, 'steady');
    const accepted = x.status?.conditions?.find((k) => k.type === 'SpecAccepted');
    return accepted?.status === 'False' && accepted.observedGeneration === generation ? x : undefined;
  }, 180_000, 1000);
  const accepted = c.status!.conditions!.find((k) => k.type === 'SpecAccepted')!;
  assert.is(accepted.reason, reason, accepted.message);
  return accepted.message;
}

async function stillRunning(ctx: Ctx): Promise<void> {
  const c = await ctx.clusters.get(ctx.ns, 'steady');
  assert.is(c.status?.readyInstances, 2, JSON.stringify(c.status?.instances));
  const deployments = (await ctx.apps.listNamespacedDeployment({ namespace: ctx.ns, labelSelector: `${LABEL.cluster}=steady,${LABEL.instance}` })).items;
  assert.is(deployments.length, 2);
  for (const d of deployments) {
    const container = d.spec!.template.spec!.containers[0]!;
    assert.is(container.image, ctx.image, `${d.metadata?.name} was changed`);
    assert.is(container.resources?.requests?.memory, undefined, `${d.metadata?.name} was changed`);
  }
  for (const i of c.status!.instances!) assert.is(await psql(i.podIP!, ctx.password, 'show work_mem'), '6MB', i.name);
  const conf = await ctx.c.core.readNamespacedConfigMap({ namespace: ctx.ns, name: clusterNames('steady').configMap });
  assert.not.ok(conf.data?.['postgresql.conf']?.includes('parsecs'), 'the ConfigMap got the refused value');
}

test('an image that does not exist is refused before any instance restarts', async (ctx) => {
  const message = await rejected(ctx, (c) => (c.spec.image = 'localhost/pg-operator/no-such-image:1'), 'ImageUnavailable');
  assert.ok(message.includes('no-such-image'), message);
  await stillRunning(ctx);
  const checks = await ctx.c.core.listNamespacedPod({ namespace: ctx.ns, labelSelector: `${PREFLIGHT_LABEL}=steady` });
  assert.is(checks.items.filter((p) => !p.metadata?.deletionTimestamp).length, 0, 'the check pod was left behind');
});

test('resource requests no node can meet are refused', async (ctx) => {
  const message = await rejected(ctx, (c) => ((c.spec.image = ctx.image), (c.spec.resources = { requests: { memory: '100Ti' } })), 'Unschedulable');
  assert.ok(message.includes('memory 100Ti'), message);
  await stillRunning(ctx);
});

test('a parameter PostgreSQL refuses is named; the instances keep the last good configuration', async (ctx) => {
  const message = await rejected(ctx, (c) => ((c.spec.resources = undefined), (c.spec.parameters = { work_mem: '12 parsecs' })), 'InvalidParameter');
  assert.ok(message.includes('spec.parameters.work_mem'), message);
  await stillRunning(ctx);
});

test('a good spec after the bad ones is applied to every instance', async (ctx) => {
  await ctx.clusters.mutate(ctx.ns, 'steady', (c) => (c.spec.parameters = { work_mem: '8MB' }));
  const c = await waitFor('SpecAccepted again', async () => {
    const x = await ctx.clusters.get(ctx.ns, 'steady');
    return x.status?.conditions?.find((k) => k.type === 'SpecAccepted')?.status === 'True' && x.status.observedGeneration === x.metadata.generation ? x : undefined;
  }, 120_000, 1000);
  for (const i of c.status!.instances!) await waitFor(`work_mem on ${i.name}`, async () => (await psql(i.podIP!, ctx.password, 'show work_mem')) === '8MB', 60_000, 1000);
  assert.is((await ready(ctx)).status?.readyInstances, 2);
});

test.run();
