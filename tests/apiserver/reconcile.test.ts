import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Supervisor } from '../../src/actors/supervisor.ts';
import { CLEANUP_FINALIZER, LABEL } from '../../src/cluster/names.ts';
import { API_VERSION } from '../../src/crd/resources.ts';
import type { PgClusterResource } from '../../src/crd/types.ts';
import { installCrds } from '../../src/k8s/crds.ts';
import { CustomResources } from '../../src/k8s/custom.ts';
import { startControlPlane, type ControlPlane } from '../harness/apiserver.ts';
import { waitFor } from '../harness/wait.ts';

// Only etcd and kube-apiserver run here: no scheduler, kubelets or garbage collector, so the cluster
// never becomes Ready; these tests check what the operator writes, not what Kubernetes does with it.
const test = suite<{ cp: ControlPlane; sup: Supervisor; clusters: CustomResources<PgClusterResource>; logs: string[] }>('reconcile on a real kube-apiserver');
const ns = 'default';

test.before(async (ctx) => {
  ctx.cp = await startControlPlane();
  await installCrds(ctx.cp.kubeconfig);
  ctx.logs = [];
  ctx.sup = new Supervisor(ctx.cp.kubeconfig, (line) => ctx.logs.push(line));
  await ctx.sup.start();
  ctx.clusters = new CustomResources(ctx.cp.kubeconfig, 'pgclusters');
});
test.after(async (ctx) => {
  ctx.sup?.stop();
  await ctx.cp?.stop();
});

const names = <T extends { metadata?: { name?: string } }>(items: T[]) => items.map((i) => i.metadata!.name!).sort();

test('a new pgcluster gets exactly its objects, a finalizer and a Creating status', async ({ cp, clusters }) => {
  await clusters.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGCluster', metadata: { name: 'hippo', namespace: ns }, spec: { replicas: 1 } } as PgClusterResource);
  const core = cp.kubeconfig.makeApiClient(CoreV1Api);
  const apps = cp.kubeconfig.makeApiClient(AppsV1Api);
  const sel = { namespace: ns, labelSelector: `${LABEL.cluster}=hippo` };
  const replica = await waitFor('the initial pgreplica', async () => {
    const list = (await new CustomResources(cp.kubeconfig, 'pgreplicas').listAll()).items;
    return list.length === 1 ? list[0] : undefined;
  });
  await waitFor('two Deployments', async () => (await apps.listNamespacedDeployment(sel)).items.length === 2);
  assert.equal(names((await apps.listNamespacedDeployment(sel)).items), ['hippo', replica.metadata.name].sort());
  assert.equal(names((await core.listNamespacedPersistentVolumeClaim(sel)).items), ['hippo', replica.metadata.name].sort());
  assert.equal(names((await core.listNamespacedService(sel)).items), ['hippo', 'hippo-replica']);
  assert.equal(names((await core.listNamespacedSecret(sel)).items), ['hippo-postgres-secret', 'hippo-primaryuser-secret', 'hippo-testuser-secret']);
  assert.equal(names((await core.listNamespacedConfigMap(sel)).items), ['hippo-pgconf']);
  const c = await waitFor('status', async () => {
    const x = await clusters.get(ns, 'hippo');
    return x.status?.state === 'monitoring.initializing' ? x : undefined;
  });
  assert.is(c.status?.phase, 'Creating');
  assert.is(c.status?.observedGeneration, 1);
  assert.ok(c.metadata.finalizers?.includes(CLEANUP_FINALIZER));
  assert.is(c.status?.conditions?.find((x) => x.type === 'Ready')?.status, 'False');
});

test('passwords are generated once: re-applying keeps the Secrets', async ({ cp, clusters }) => {
  const core = cp.kubeconfig.makeApiClient(CoreV1Api);
  const before = (await core.readNamespacedSecret({ namespace: ns, name: 'hippo-postgres-secret' })).data?.password;
  await clusters.mutate(ns, 'hippo', (c) => (c.spec.parameters = { work_mem: '16MB' }));
  await waitFor('the new parameters in the ConfigMap', async () =>
    (await core.readNamespacedConfigMap({ namespace: ns, name: 'hippo-pgconf' })).data?.['postgresql.conf']?.includes("work_mem = '16MB'"),
  );
  await waitFor('observedGeneration 2', async () => (await clusters.get(ns, 'hippo')).status?.observedGeneration === 2);
  assert.is((await core.readNamespacedSecret({ namespace: ns, name: 'hippo-postgres-secret' })).data?.password, before);
});

test('a status update that meets a conflicting write re-reads and retries', async ({ clusters }) => {
  let calls = 0;
  const written = await clusters.updateStatus(ns, 'hippo', async (current) => {
    calls++;
    // Someone else writes between our read and our write: ours must get a 409 and retry.
    if (calls === 1) await clusters.replace({ ...current, metadata: { ...current.metadata, labels: { touched: 'yes' } } });
    return { ...current.status, message: `attempt ${calls}` };
  });
  assert.is(calls, 2);
  assert.is(written?.status?.message, 'attempt 2');
  assert.is(written?.metadata.labels?.touched, 'yes');
});

test('deleting a pgcluster releases the finalizer', async ({ clusters }) => {
  await clusters.delete(ns, 'hippo');
  await waitFor('hippo gone', async () => {
    try {
      await clusters.get(ns, 'hippo');
      return false;
    } catch {
      return true;
    }
  });
});

test.run();
