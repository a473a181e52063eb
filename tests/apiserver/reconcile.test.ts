import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Supervisor } from '../../src/actors/supervisor.ts';
import { CLEANUP_FINALIZER, LABEL } from '../../src/cluster/names.ts';
import { API_VERSION } from '../../src/crd/resources.ts';
import { LIMIT_MESSAGES, MAX_INSTANCES, MAX_REPLICAS } from '../../src/crd/limits.ts';
import type { PgClusterResource, PgReplicaResource } from '../../src/crd/types.ts';
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
  // Two instances and the pgBackRest repository host (backups are on by default).
  await waitFor('three Deployments', async () => (await apps.listNamespacedDeployment(sel)).items.length === 3);
  assert.equal(names((await apps.listNamespacedDeployment(sel)).items), ['hippo', 'hippo-backrest-shared-repo', replica.metadata.name].sort());
  assert.equal(names((await core.listNamespacedPersistentVolumeClaim(sel)).items), ['hippo', 'hippo-pgbr-repo', replica.metadata.name].sort());
  assert.equal(names((await core.listNamespacedService(sel)).items), ['hippo', 'hippo-backrest-shared-repo', 'hippo-pods', 'hippo-replica']);
  assert.equal(names((await core.listNamespacedSecret(sel)).items), ['hippo-pgbackrest-ca', 'hippo-pgbackrest-certs', 'hippo-postgres-secret', 'hippo-primaryuser-secret', 'hippo-testuser-secret']);
  assert.equal(names((await core.listNamespacedConfigMap(sel)).items), ['hippo-pgbackrest-config', 'hippo-pgconf']);
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

const replicaOf = (cluster: string, name: string) => ({ apiVersion: API_VERSION, kind: 'PGReplica', metadata: { name, namespace: ns }, spec: { clusterName: cluster } }) as PgReplicaResource;

test('a cluster gets at most MAX_INSTANCES instances; the newest pgreplicas beyond are marked Failed', async ({ cp, clusters }) => {
  const replicas = new CustomResources<PgReplicaResource>(cp.kubeconfig, 'pgreplicas');
  await clusters.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGCluster', metadata: { name: 'cap', namespace: ns }, spec: {} } as PgClusterResource);
  for (let i = 0; i < MAX_INSTANCES + 2; i++) {
    await replicas.createIfAbsent(replicaOf('cap', `cap-r${String(i).padStart(2, '0')}`));
    await new Promise((r) => setTimeout(r, 20)); // distinct creation order
  }
  const apps = cp.kubeconfig.makeApiClient(AppsV1Api);
  await waitFor('the excess pgreplicas marked Failed', async () => (await replicas.list(ns)).filter((r) => r.spec.clusterName === 'cap' && r.status?.phase === 'Failed').length === 3, 60_000);
  const failed = (await replicas.list(ns)).filter((r) => r.status?.phase === 'Failed');
  assert.ok(failed.every((r) => r.status?.message === LIMIT_MESSAGES.instances), JSON.stringify(failed.map((r) => r.status)));
  await new Promise((r) => setTimeout(r, 2000));
  const deployments = (await apps.listNamespacedDeployment({ namespace: ns, labelSelector: `${LABEL.cluster}=cap,${LABEL.instance}` })).items;
  assert.is(deployments.length, MAX_INSTANCES);
  assert.not.ok(deployments.some((d) => failed.some((r) => r.metadata.name === d.metadata?.name)), 'an excess replica got a Deployment');
});

test('deleting a cluster in the middle of a large scale-up stops its effects at once', async ({ cp, clusters, sup }) => {
  const replicas = new CustomResources<PgReplicaResource>(cp.kubeconfig, 'pgreplicas');
  const apps = cp.kubeconfig.makeApiClient(AppsV1Api);
  const core = cp.kubeconfig.makeApiClient(CoreV1Api);
  await clusters.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGCluster', metadata: { name: 'big', namespace: ns }, spec: { replicas: MAX_REPLICAS } } as PgClusterResource);
  for (let i = 0; i < 6; i++) await replicas.createIfAbsent(replicaOf('big', `big-extra${i}`));
  const sel = { namespace: ns, labelSelector: `${LABEL.cluster}=big` };
  await waitFor('the scale-up under way', async () => (await apps.listNamespacedDeployment(sel)).items.length >= 1, 30_000, 20);
  await clusters.delete(ns, 'big');
  await waitFor('the actor stopped', () => Promise.resolve(sup.stateOf(ns, 'big') === undefined), 10_000, 20);
  // One request in flight when the actor stopped may still land: count after it.
  await new Promise((r) => setTimeout(r, 1000));
  const count = async () => (await apps.listNamespacedDeployment(sel)).items.length + (await core.listNamespacedPersistentVolumeClaim(sel)).items.length + (await replicas.list(ns)).filter((r) => r.spec.clusterName === 'big').length;
  const before = await count();
  await new Promise((r) => setTimeout(r, 5000));
  const after = await count();
  console.log(`scale-up cut by deletion: ${before} objects when the actor stopped, ${after - before} created in the 5 s after`);
  assert.is(after, before, 'objects were created for a deleted cluster');
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
