import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { V1Pod } from '@kubernetes/client-node';
import { slim } from '../../src/k8s/informer.ts';

test('cached objects lose managedFields and keep everything else, annotations included', () => {
  const pod: V1Pod = {
    metadata: { name: 'p', namespace: 'n', labels: { a: '1' }, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', x: 'y' }, managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:spec': {} } }] },
    spec: { containers: [{ name: 'c', image: 'i' }] },
  };
  const same = slim(pod);
  assert.is(same, pod, 'in place: the cache holds this very object');
  assert.equal(pod, { metadata: { name: 'p', namespace: 'n', labels: { a: '1' }, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', x: 'y' } }, spec: { containers: [{ name: 'c', image: 'i' }] } });
  assert.equal(slim({ metadata: { name: 'q' } }), { metadata: { name: 'q' } });
});

test.run();
