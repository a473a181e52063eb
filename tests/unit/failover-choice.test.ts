import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chooseTarget, lsnValue, rankCandidates, roleOf } from '../../src/cluster/failover.ts';
import type { InstanceObservation, Observation } from '../../src/cluster/observation.ts';

/** A replica: Ready, answering, in recovery, with the given LSNs. */
const replica = (name: string, received: string | null, replayed: string | null = received, extra: Partial<InstanceObservation> = {}): InstanceObservation => ({
  name,
  ready: true,
  podName: `${name}-pod`,
  node: `node-${name}`,
  pg: { inRecovery: true, timeline: 1, currentLsn: null, receivedLsn: received, replayedLsn: replayed, pendingRestart: false },
  ...extra,
});
const deadPrimary: InstanceObservation = { name: 'c', ready: false, podName: 'c-pod' };
const obs = (...replicas: InstanceObservation[]): Observation => ({ primary: 'c', instances: [deadPrimary, ...replicas] });

test('lsnValue orders like pg_lsn; a missing LSN is lowest', () => {
  assert.ok(lsnValue('1/0') > lsnValue('0/FFFFFFFF'));
  assert.ok(lsnValue('0/10') > lsnValue('0/F'));
  assert.is(lsnValue('0/0'), 0n);
  assert.ok(lsnValue(null) < lsnValue('0/0'));
});

const table: { name: string; o: Observation; options?: Parameters<typeof chooseTarget>[2]; want: string | RegExp }[] = [
  { name: 'highest received LSN wins', o: obs(replica('a', '0/100'), replica('b', '0/200', '0/50')), want: 'b' },
  { name: 'received LSN compares numerically, not as text', o: obs(replica('a', '0/9000000'), replica('b', '1/0')), want: 'b' },
  { name: 'equal received: highest replayed wins', o: obs(replica('a', '0/200', '0/100'), replica('b', '0/200', '0/150')), want: 'b' },
  { name: 'equal LSNs: the preferred node wins', o: obs(replica('a', '0/200'), replica('b', '0/200')), options: { preferredNode: 'node-b' }, want: 'b' },
  { name: 'equal everything: by name', o: obs(replica('b', '0/200'), replica('a', '0/200')), want: 'a' },
  { name: 'a replica that is not Ready is never chosen', o: obs(replica('a', '0/100'), replica('b', '0/900', '0/900', { ready: false })), want: 'a' },
  { name: 'a replica that does not answer SQL is never chosen', o: obs(replica('a', '0/100'), { ...replica('b', '0/900'), pg: undefined }), want: 'a' },
  { name: 'a writable instance is never chosen', o: obs(replica('a', '0/100'), replica('b', '0/900', '0/900', { pg: { inRecovery: false, timeline: 2, currentLsn: '0/900', receivedLsn: null, replayedLsn: null, pendingRestart: false } })), want: 'a' },
  { name: 'no replica Ready: none, saying why', o: obs(replica('a', '0/1', '0/1', { ready: false })), want: /no replica is Ready.*a is not Ready/ },
  { name: 'no replica at all', o: obs(), want: /has no replica/ },
  { name: 'a manual target is taken even when behind (async)', o: obs(replica('a', '0/100'), replica('b', '0/200')), options: { target: 'a' }, want: 'a' },
  { name: 'a manual target that is not Ready is refused', o: obs(replica('a', '0/100', '0/100', { ready: false }), replica('b', '0/200')), options: { target: 'a' }, want: /a is not Ready/ },
  { name: 'an unknown manual target is refused', o: obs(replica('a', '0/100')), options: { target: 'zz' }, want: /zz is not an instance/ },
  { name: 'the primary itself is not a target', o: obs(replica('a', '0/100')), options: { target: 'c' }, want: /c is not an instance of this cluster \(or is the primary\)/ },
  { name: 'sync: a replica that cannot be asked blocks the choice', o: obs(replica('a', '0/100'), { ...replica('b', '0/900'), pg: undefined }), options: { sync: true }, want: /synchronous replication: .* b cannot be asked/ },
  { name: 'sync: all replicas known: the most advanced', o: obs(replica('a', '0/100'), replica('b', '0/900')), options: { sync: true }, want: 'b' },
  { name: 'sync: a manual target behind the best is refused', o: obs(replica('a', '0/100'), replica('b', '0/900')), options: { sync: true, target: 'a' }, want: /a is behind b/ },
  { name: 'sync: a manual target behind is taken while the old primary answers (it is stopped and caught up first)', o: obs(replica('a', '0/100'), replica('b', '0/900')), options: { sync: true, target: 'a', catchUp: true }, want: 'a' },
];

for (const row of table) {
  test(`choose: ${row.name}`, () => {
    const choice = chooseTarget(row.o, 'c', row.options);
    if (typeof row.want === 'string') assert.equal(choice, { target: row.want });
    else assert.match('none' in choice ? choice.none : `chose ${choice.target}`, row.want);
  });
}

test('rankCandidates lists every other instance, eligible first, with the reason for the rest', () => {
  const ranked = rankCandidates(obs(replica('a', '0/100', '0/100', { ready: false }), replica('b', '0/200')), 'c');
  assert.equal(ranked.map((c) => [c.name, c.eligible, c.why]), [['b', true, undefined], ['a', false, 'is not Ready']]);
});

test('roleOf: the failing primary and fenced instances are fenced; the primary is primary; others replicas', () => {
  const failover = { kind: 'automatic' as const, from: 'c', to: 'a', reason: 'x', startTime: 't' };
  assert.is(roleOf('c', { primary: 'c', fenced: [] }), 'primary');
  assert.is(roleOf('a', { primary: 'c', fenced: [] }), 'replica');
  assert.is(roleOf('c', { primary: 'c', fenced: [], failover }), 'fenced');
  assert.is(roleOf('a', { primary: 'c', fenced: ['c'], failover }), 'replica');
  assert.is(roleOf('c', { primary: 'a', fenced: ['c'] }), 'fenced');
  assert.is(roleOf('a', { primary: 'a', fenced: ['c'] }), 'primary');
});

test.run();
