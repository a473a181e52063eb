import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { AppsV1Api } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { API_VERSION } from '../../src/crd/resources.ts';
import type { PgClusterResource } from '../../src/crd/types.ts';
import { CustomResources } from '../../src/k8s/custom.ts';
import { deleteNamespace, localCluster, type LocalCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait.ts';

// The operator from its image, installed with exactly the committed manifests (crds/ and deploy/).
const test = suite<{ c: LocalCluster; ns: string }>('operator in the cluster, from its image');
const root = fileURLToPath(new URL('../../', import.meta.url));

test.before(async (ctx) => {
  ctx.c = localCluster();
  ctx.ns = `incluster-${randomBytes(3).toString('hex')}`;
  await ctx.c.kubectl('apply', '-f', `${root}crds/`, '-f', `${root}deploy/operator.yaml`);
  await ctx.c.core.createNamespace({ body: { metadata: { name: ctx.ns } } });
});

test.after(async ({ c, ns }) => {
  if (!c) return;
  await deleteNamespace(c, ns).catch((err: unknown) => console.error(String(err)));
  await c.kubectl('delete', '--wait=true', '--timeout=120s', '-f', `${root}deploy/operator.yaml`).catch(() => undefined);
});

test('the operator Deployment becomes available and runs a cluster', async ({ c, ns }) => {
  const apps = c.kubeconfig.makeApiClient(AppsV1Api);
  await waitFor('the operator Deployment available', async () => (await apps.readNamespacedDeployment({ namespace: 'pgo', name: 'pg-operator' })).status?.availableReplicas === 1, 120_000, 1000);
  // The image runs the compiled bundle: no sources, no node_modules, no TypeScript toolchain anywhere in it.
  assert.equal((await c.kubectl('exec', '-n', 'pgo', 'deployment/pg-operator', '--', 'ls', '-A', '/app')).trim().split('\n'), ['operator.mjs', 'operator.mjs.map']);
  assert.is((await c.kubectl('exec', '-n', 'pgo', 'deployment/pg-operator', '--', 'sh', '-c', 'find / -xdev \\( -name node_modules -o -name tsx -o -name typescript \\) -print 2>/dev/null; true')).trim(), '');
  const clusters = new CustomResources<PgClusterResource>(c.kubeconfig, 'pgclusters');
  await clusters.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGCluster', metadata: { name: 'inside', namespace: ns }, spec: { replicas: 1 } } as PgClusterResource);
  const ready = await waitFor('inside Ready', async () => {
    const x = await clusters.get(ns, 'inside');
    return x.status?.phase === 'Ready' && x.status.readyInstances === 2 ? x : undefined;
  }, 180_000, 1000);
  assert.is(ready.status?.currentPrimary, 'inside');
  const logs = await c.kubectl('logs', '-n', 'pgo', 'deployment/pg-operator');
  assert.match(logs, new RegExp(`${ns}/inside -> monitoring.ready`));
  // No secret value in the log: not the API's admin password, not a password of the cluster's users.
  const values = async (namespace: string) => (await c.core.listNamespacedSecret({ namespace })).items.flatMap((x) => Object.values(x.data ?? {}).map((v) => Buffer.from(v, 'base64').toString()));
  const secrets = [...(await values('pgo')), ...(await values(ns))].filter((v) => v.length >= 8 && !v.includes('\n'));
  assert.ok(secrets.length >= 3, 'the admin password and the cluster users\' passwords were looked for');
  for (const value of secrets) assert.not.ok(logs.includes(value), 'a secret value is in the operator log');
});

test.run();
