import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PATRONI_DEFAULT, PATRONI_TUNED, patroniManifests, primaryServiceName } from '../../bench/patroni/manifests.ts';
import { recoveredAt } from '../../bench/failover/run.ts';
import { formatPhaseTable, formatTable } from '../../bench/failover/table.ts';
import { phasesOf } from '../../bench/failover/phases.ts';

type Obj = { kind: string; metadata: { name: string }; spec?: Record<string, unknown> };

test('both Patroni settings satisfy Patroni\'s rule ttl >= loop_wait + 2 * retry_timeout', () => {
  for (const s of [PATRONI_DEFAULT, PATRONI_TUNED]) assert.ok(s.ttl >= s.loopWait + 2 * s.retryTimeout, JSON.stringify(s));
  assert.equal([PATRONI_DEFAULT.ttl, PATRONI_DEFAULT.loopWait, PATRONI_DEFAULT.retryTimeout], [30, 10, 10]);
});

test('the primary Service selects the member Patroni 3.0 labels role=master', () => {
  const objs = patroniManifests('ns', 'pg', PATRONI_TUNED, 'pw') as unknown as Obj[];
  const svc = objs.find((o) => o.kind === 'Service' && o.metadata.name === primaryServiceName('pg'))!;
  assert.equal(svc.spec!.selector, { application: 'patroni', 'cluster-name': 'pg', role: 'master' });
  const sts = objs.find((o) => o.kind === 'StatefulSet')!;
  const env = (sts.spec as { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } }).template.spec.containers[0]!.env;
  assert.equal(['PATRONI_TTL', 'PATRONI_LOOP_WAIT', 'PATRONI_RETRY_TIMEOUT'].map((n) => env.find((e) => e.name === n)?.value), ['10', '2', '4']);
});

test('recovery is the first acknowledgement after the first failure that follows the fault', () => {
  const w = { acks: [{ v: 1, t: 100 }, { v: 2, t: 205 }, { v: 3, t: 900 }, { v: 4, t: 950 }], errors: [{ t: 50, code: 'x' }, { t: 300, code: 'y' }, { t: 600, code: 'z' }] };
  assert.is(recoveredAt(w, 200, 210, 10_000), 900);
  assert.is(recoveredAt({ acks: w.acks.slice(0, 2), errors: w.errors }, 200, 210, 10_000), undefined);
  assert.is(recoveredAt({ acks: [{ v: 1, t: 20_000 }], errors: [] }, 200, 210, 10_000), 210, 'no outage: RTO 0');
});

test('the table shows medians, "no recovery" and runs that failed before the fault', () => {
  const out = formatTable([
    { target: 't', fault: 'crash', runs: [{ rtoMs: 1000, lost: 0, acked: 5, from: 'a' }, { rtoMs: 3000, lost: 1, acked: 5, from: 'a' }, { rtoMs: 2000, lost: 0, acked: 5, from: 'a' }] },
    { target: 't', fault: 'freeze', runs: [{ lost: 0, acked: 5, from: 'a' }] },
    { target: 't', fault: 'net-cut', runs: [{ acked: 0, from: '?', error: 'boom' }] },
  ]);
  assert.match(out, /\| crash +\| 3\/3 +\| 2\.0 s +\| 1\.0 s \| 3\.0 s \| 0, 1, 0/);
  assert.match(out, /\| freeze +\| 0\/1 +\| no recovery/);
  assert.match(out, /1 failed before the fault/);
});

test('phases: from the fault to the first commit, each step from the operator\'s own times', () => {
  const t0 = Date.parse('2026-12-02T10:00:00.000Z');
  const at = (ms: number) => new Date(t0 + ms).toISOString();
  const record = { time: at(3000), times: { detected: at(1200), recorded: at(3050), fenced: at(3300), promoted: at(3700), relabeled: at(3750) } };
  const phases = phasesOf(t0, record, t0 + 4100, t0 + 4600);
  assert.equal(phases, { detection: 1200, delay: 1800, recording: 50, fencing: 250, promoting: 400, 'relabel+endpoint': 400, 'first commit': 500 });
  const sum = Object.values(phases).reduce((a, b) => a + b, 0);
  assert.is(sum, 4600, 'the phases add up to the RTO');
  assert.equal(phasesOf(t0, undefined, undefined, t0 + 900), {}, 'no failover recorded (a restart in place): no phases');
  const table = formatPhaseTable([{ target: 'pg-operator', fault: 'freeze', runs: [{ acked: 1, from: 'a', phases }, { acked: 1, from: 'a', phases: { ...phases, delay: 2800 } }] }]);
  assert.match(table, /\| pg-operator \| freeze \| 2 \| 1\.20 \(1\.20\) +\| 2\.30 \(2\.80\)/);
});

test.run();
