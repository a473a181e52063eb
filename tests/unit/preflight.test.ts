import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { imageCheckOutcome, noNodeFits } from '../../src/actors/preflight.ts';
import type { PgClusterResource } from '../../src/crd/types.ts';

const node = (name: string, cpu: string, memory: string, labels: Record<string, string> = {}, unschedulable = false): V1Node =>
  ({ metadata: { name, labels }, spec: { unschedulable }, status: { allocatable: { cpu, memory } } });
const cluster = (spec: Record<string, unknown>) => ({ metadata: { name: 'c', namespace: 'n' }, spec }) as unknown as PgClusterResource;
const nodes = [node('a', '2', '8Gi', { zone: 'a' }), node('b', '4', '16Gi', { zone: 'b' }), node('big', '64', '512Gi', {}, true)];

test('requests fit when some schedulable node allocates enough, whatever runs there now', () => {
  assert.is(noNodeFits(nodes, cluster({ resources: { requests: { cpu: '4', memory: '16Gi' } } })), undefined);
  assert.is(noNodeFits(nodes, cluster({})), undefined);
  assert.is(noNodeFits([], cluster({ resources: { requests: { memory: '1Ti' } } })), undefined, 'no nodes: nothing to judge by');
});

test('requests no node can meet are named, with the largest node', () => {
  const why = noNodeFits(nodes, cluster({ resources: { requests: { memory: '100Gi' } } }));
  assert.ok(why?.includes('memory 100Gi') && why.includes('16.0Gi'), why);
  // A cordoned node does not count; a required node label narrows the nodes.
  assert.ok(noNodeFits(nodes, cluster({ resources: { requests: { cpu: '8' } } })));
  assert.ok(noNodeFits(nodes, cluster({ resources: { requests: { cpu: '3' } }, nodeAffinity: { nodeLabel: { key: 'zone', value: 'a' }, type: 'required' } })));
  assert.is(noNodeFits(nodes, cluster({ resources: { requests: { cpu: '3' } }, nodeAffinity: { nodeLabel: { key: 'zone', value: 'a' }, type: 'preferred' } })), undefined);
});

test('the image check reads pull failures, a missing server and success from the pod', () => {
  const pod = (status: object) => ({ status }) as V1Pod;
  assert.equal(imageCheckOutcome(pod({ phase: 'Succeeded' }), 'x'), { ok: true });
  assert.is(imageCheckOutcome(pod({ phase: 'Pending' }), 'x'), undefined);
  const pull = imageCheckOutcome(pod({ phase: 'Pending', containerStatuses: [{ state: { waiting: { reason: 'ErrImagePull', message: 'not found' } } }] }), 'x');
  assert.equal(pull, { refused: 'image "x" (spec.image) cannot be pulled: ErrImagePull: not found' });
  assert.ok(imageCheckOutcome(pod({ phase: 'Pending', containerStatuses: [{ state: { waiting: { reason: 'ContainerCreating' } } }] }), 'x') === undefined);
  const noServer = imageCheckOutcome(pod({ phase: 'Failed', containerStatuses: [{ state: { terminated: { exitCode: 2 } } }] }), 'busybox');
  assert.ok(noServer && 'refused' in noServer && noServer.refused.includes('no PostgreSQL server'));
});

test.run();
