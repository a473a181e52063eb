import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { V1Pod } from '@kubernetes/client-node';
import { USER_LABELS_ANNOTATION, podLabelPatch } from '../../src/actors/roles.ts';
import { instanceDeployment } from '../../src/cluster/builders.ts';
import { LABEL } from '../../src/cluster/names.ts';
import { pgClusterSpec } from '../../src/crd/pgcluster.ts';
import type { PgClusterResource } from '../../src/crd/types.ts';

const pod = (labels: Record<string, string>, userKeys?: string): V1Pod => ({
  metadata: { name: 'hippo-x', labels, annotations: userKeys === undefined ? {} : { [USER_LABELS_ANNOTATION]: userKeys } },
});

test('a pod that has its role and user labels needs no patch', () => {
  assert.is(podLabelPatch(pod({ [LABEL.role]: 'primary', env: 'e2e' }, 'env'), 'primary', { env: 'e2e' }), undefined);
  assert.is(podLabelPatch(pod({ [LABEL.role]: 'replica' }), 'replica', {}), undefined);
});

test('new and changed user labels are set and recorded; the role only when it differs', () => {
  assert.equal(podLabelPatch(pod({ [LABEL.role]: 'replica', env: 'old' }, 'env'), 'replica', { env: 'new', team: 'a' }), {
    metadata: { labels: { env: 'new', team: 'a' }, annotations: { [USER_LABELS_ANNOTATION]: 'env,team' } },
  });
  assert.equal(podLabelPatch(pod({ [LABEL.role]: 'replica' }), 'primary', {}), { metadata: { labels: { [LABEL.role]: 'primary' } } });
});

test('a user label taken off the cluster comes off the pod; labels it never set stay', () => {
  assert.equal(podLabelPatch(pod({ [LABEL.role]: 'primary', env: 'e2e', team: 'a', 'pod-template-hash': 'abc' }, 'env,team'), 'primary', { team: 'a' }), {
    metadata: { labels: { env: null }, annotations: { [USER_LABELS_ANNOTATION]: 'team' } },
  });
});

test('no role (a fenced pod kept out of the primary Service) leaves the role label alone', () => {
  assert.equal(podLabelPatch(pod({ [LABEL.role]: 'fenced' }), undefined, { env: 'x' }), { metadata: { labels: { env: 'x' }, annotations: { [USER_LABELS_ANNOTATION]: 'env' } } });
});

test("the cluster's user labels are not in the pod template: labelling a cluster rolls no pod", () => {
  const c = (userLabels?: Record<string, string>): PgClusterResource => ({
    apiVersion: 'pg-operator.dev/v1',
    kind: 'PGCluster',
    metadata: { name: 'hippo', namespace: 'db', uid: 'u' },
    spec: pgClusterSpec.parse({ userLabels }),
  });
  const instance = { name: 'hippo', bootstrap: 'primary' as const, storage: c().spec.storage.primary, owner: { apiVersion: 'v1', kind: 'PGCluster', name: 'hippo', uid: 'u' } };
  const a = instanceDeployment(c(), instance);
  const b = instanceDeployment(c({ env: 'e2e' }), instance);
  assert.equal(b.spec!.template, a.spec!.template);
  assert.is(b.metadata!.labels!.env, 'e2e');
});

test.run();
