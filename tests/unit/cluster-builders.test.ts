import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { instanceAffinity } from '../../src/cluster/affinity.ts';
import { clusterServices, confValue, instanceDeployment, parametersConfigMap } from '../../src/cluster/builders.ts';
import { runtimeParameters } from '../../src/actors/parameters.ts';
import type { V1Deployment } from '@kubernetes/client-node';
import { DATA_CLAIM_ANNOTATION, LABEL, initialReplicaName, instanceClaim } from '../../src/cluster/names.ts';
import { clusterInstances, desiredObjects, initialReplicas } from '../../src/cluster/plan.ts';
import { phaseOf } from '../../src/cluster/status.ts';
import { pgClusterSpec } from '../../src/crd/pgcluster.ts';
import type { PgClusterResource, PgReplicaResource } from '../../src/crd/types.ts';

function cluster(spec: unknown = {}, status?: PgClusterResource['status']): PgClusterResource {
  return {
    apiVersion: 'pg-operator.dev/v1',
    kind: 'PGCluster',
    metadata: { name: 'hippo', namespace: 'db', uid: 'uid-1', generation: 1 },
    spec: pgClusterSpec.parse(spec),
    status,
  };
}
const replica = (name: string, spec: Partial<PgReplicaResource['spec']> = {}): PgReplicaResource => ({
  apiVersion: 'pg-operator.dev/v1',
  kind: 'PGReplica',
  metadata: { name, namespace: 'db', uid: `uid-${name}` },
  spec: { clusterName: 'hippo', ...spec },
});

test('a cluster plans a ConfigMap, two Services, the repository host and a volume and Deployment per instance', () => {
  const objs = desiredObjects(cluster(), [replica('hippo-abcd'), replica('other-1', { clusterName: 'other' })]);
  assert.equal(objs.map((o) => `${o.kind}/${o.metadata?.name}`), [
    'ConfigMap/hippo-pgconf', 'Service/hippo', 'Service/hippo-replica',
    'ConfigMap/hippo-pgbackrest-config', 'Service/hippo-backrest-shared-repo', 'Service/hippo-pods', 'PersistentVolumeClaim/hippo-pgbr-repo', 'Deployment/hippo-backrest-shared-repo',
    'PersistentVolumeClaim/hippo', 'Deployment/hippo', 'PersistentVolumeClaim/hippo-abcd', 'Deployment/hippo-abcd',
  ]);
});

test('a first instance on kept data (data-claim annotation) mounts that claim; a replica keeps its own; a pgreplica image overrides the cluster one', () => {
  const c = cluster({ backrest: { enabled: false } });
  c.metadata.annotations = { [DATA_CLAIM_ANNOTATION]: 'hippo-x1y2' };
  const objs = desiredObjects(c, [replica('hippo-abcd', { image: 'pg:next' })]);
  assert.equal(objs.map((o) => `${o.kind}/${o.metadata?.name}`).slice(3), ['PersistentVolumeClaim/hippo-x1y2', 'Deployment/hippo', 'PersistentVolumeClaim/hippo-abcd', 'Deployment/hippo-abcd']);
  assert.is(objs[3]!.metadata?.labels?.[LABEL.instance], 'hippo', 'the adopted claim is labelled with the instance that uses it');
  const claimOf = (d: unknown) => (d as V1Deployment).spec!.template.spec!.volumes!.find((v) => v.name === 'pgdata')!.persistentVolumeClaim!.claimName;
  const imageOf = (d: unknown) => (d as V1Deployment).spec!.template.spec!.containers[0]!.image;
  assert.is(claimOf(objs[4]), 'hippo-x1y2');
  assert.is(claimOf(objs[6]), 'hippo-abcd');
  assert.is(imageOf(objs[4]), 'localhost/pg-operator/postgres:15');
  assert.is(imageOf(objs[6]), 'pg:next');
  assert.is(instanceClaim(c, 'hippo'), 'hippo-x1y2');
  assert.is(instanceClaim(c, 'hippo-abcd'), 'hippo-abcd');
  assert.is(instanceClaim(cluster(), 'hippo'), 'hippo');
});

test('with backups off there is no repository host and no pgBackRest sidecar', () => {
  const c = cluster({ backrest: { enabled: false } });
  const objs = desiredObjects(c, []);
  assert.equal(objs.map((o) => `${o.kind}/${o.metadata?.name}`), ['ConfigMap/hippo-pgconf', 'Service/hippo', 'Service/hippo-replica', 'PersistentVolumeClaim/hippo', 'Deployment/hippo']);
  const [instance] = clusterInstances(c, []);
  assert.equal(instanceDeployment(c, instance!).spec!.template.spec!.containers.map((x) => x.name), ['database']);
});

test('replica objects are owned by their pgreplica, the rest by the pgcluster', () => {
  const [primary, rep] = clusterInstances(cluster(), [replica('hippo-abcd')]);
  assert.is(primary!.owner.kind, 'PGCluster');
  assert.is(rep!.owner.kind, 'PGReplica');
  assert.is(rep!.owner.uid, 'uid-hippo-abcd');
  assert.is(rep!.bootstrap, 'replica');
});

test('the Services select by role; the pod template carries no role label', () => {
  const [primary, replicas] = clusterServices(cluster());
  assert.equal(primary!.spec!.selector, { [LABEL.cluster]: 'hippo', [LABEL.role]: 'primary' });
  assert.equal(replicas!.spec!.selector, { [LABEL.cluster]: 'hippo', [LABEL.role]: 'replica' });
  const d = instanceDeployment(cluster(), clusterInstances(cluster(), [])[0]!);
  assert.not.ok(LABEL.role in (d.spec!.template.metadata!.labels ?? {}));
  const env = d.spec!.template.spec!.containers[0]!.env!;
  assert.equal(env.find((e) => e.name === 'PGO_ROLE')?.valueFrom?.fieldRef?.fieldPath, `metadata.labels['${LABEL.role}']`);
  assert.ok(env.every((e) => !/_PASSWORD$/.test(e.name) || (e.value === undefined && e.valueFrom?.secretKeyRef)), 'passwords only from Secrets');
});

test('node affinity: a node name, preferred or required; a label; spreading by default', () => {
  const preferred = instanceAffinity('hippo', { nodeName: 'node2', type: 'preferred' }, 'preferred')!;
  assert.equal(preferred.nodeAffinity!.preferredDuringSchedulingIgnoredDuringExecution![0]!.preference.matchExpressions, [
    { key: 'kubernetes.io/hostname', operator: 'In', values: ['node2'] },
  ]);
  assert.ok(preferred.podAntiAffinity!.preferredDuringSchedulingIgnoredDuringExecution);
  const required = instanceAffinity('hippo', { nodeLabel: { key: 'zone', value: 'a' }, type: 'required' }, 'required')!;
  assert.equal(required.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms[0]!.matchExpressions, [
    { key: 'zone', operator: 'In', values: ['a'] },
  ]);
  assert.ok(required.podAntiAffinity!.requiredDuringSchedulingIgnoredDuringExecution);
  // Spread among the instances only, not against the repository host's pod.
  assert.equal(required.podAntiAffinity!.requiredDuringSchedulingIgnoredDuringExecution[0]!.labelSelector!.matchLabels, { [LABEL.cluster]: 'hippo', [LABEL.component]: 'database' });
  assert.is(instanceAffinity('hippo', undefined, 'disabled'), undefined);
});

test('parameters become a quoted postgresql.conf fragment', () => {
  const cm = parametersConfigMap(cluster({ parameters: { work_mem: '8MB', search_path: "a, 'b'" }, syncReplication: true }));
  assert.is(cm.data!['postgresql.conf'], "# Managed by pg-operator from the pgcluster spec.\nsearch_path = 'a, ''b'''\nwork_mem = '8MB'\nsynchronous_standby_names = 'ANY 1 (*)'\n");
  assert.is(confValue('a\\b'), "'a\\\\b'");
});

test('running instances get synchronous replication as the spec has it now, on or off', () => {
  assert.equal(runtimeParameters(cluster({ parameters: { work_mem: '8MB' }, syncReplication: true })), { synchronous_standby_names: 'ANY 1 (*)', work_mem: '8MB' });
  assert.equal(runtimeParameters(cluster({ syncReplication: false })), { synchronous_standby_names: '' });
});

test('initial replicas: derived names, only the missing ones, none once recorded', () => {
  const c = cluster({ replicas: 2 });
  const first = initialReplicas(c, []);
  assert.equal(first.map((r) => r.metadata.name), [initialReplicaName('hippo', 'uid-1', 0), initialReplicaName('hippo', 'uid-1', 1)]);
  assert.match(first[0]!.metadata.name, /^hippo-[a-z0-9]{4}$/);
  assert.equal(initialReplicas(c, [first[0]!]).map((r) => r.metadata.name), [first[1]!.metadata.name]);
  assert.equal(initialReplicas(cluster({ replicas: 2 }, { initialReplicasCreated: true }), []), []);
});

test('phases: creating until first ready; updating only for a newer spec', () => {
  const ctx = { generation: 1, appliedGeneration: 0, failures: 0, dirty: false, primary: 'hippo', established: false, fenced: [], settings: { autofail: true, failoverDelayMs: 3000, sync: false } };
  assert.is(phaseOf('applying', ctx, undefined), 'Creating');
  assert.is(phaseOf('monitoring.initializing', ctx, undefined), 'Creating');
  assert.is(phaseOf('monitoring.ready', ctx, 'Creating'), 'Ready');
  assert.is(phaseOf('applying', { ...ctx, generation: 2, appliedGeneration: 1 }, 'Ready'), 'Updating');
  assert.is(phaseOf('applying', { ...ctx, appliedGeneration: 1 }, 'Ready'), 'Ready');
  assert.is(phaseOf('monitoring.degraded', ctx, 'Ready'), 'Degraded');
});

test.run();
