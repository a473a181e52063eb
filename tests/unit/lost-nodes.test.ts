import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { notReadySince, pinnedTo } from '../../src/actors/lost-nodes.ts';

const node = (status: string, at: string) => ({ status: { conditions: [{ type: 'Ready', status, lastTransitionTime: new Date(at) }] } });

test('a node is lost since its Ready condition left True; a Ready node is not; a deleted one counts from now', () => {
  assert.is(notReadySince(node('True', '2026-01-01T00:00:00Z'), 5), undefined);
  assert.is(notReadySince(node('Unknown', '2026-01-01T00:00:00Z'), 5), Date.parse('2026-01-01T00:00:00Z'));
  assert.is(notReadySince(node('False', '2026-01-01T00:00:10Z'), 5), Date.parse('2026-01-01T00:00:10Z'));
  assert.is(notReadySince(undefined, 5), 5);
});

test('a local volume is pinned to the node its affinity names; a network volume to none', () => {
  const pv = { spec: { nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['node1'] }] }] } } } };
  assert.ok(pinnedTo(pv, 'node1'));
  assert.not.ok(pinnedTo(pv, 'node2'));
  assert.not.ok(pinnedTo({ spec: {} }, 'node1'));
  assert.not.ok(pinnedTo(undefined, 'node1'));
});

test.run();
