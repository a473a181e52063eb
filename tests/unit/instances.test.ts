import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { InstanceObservation, Observation } from '../../src/cluster/observation.ts';
import { demoteExtraPrimaries, resetStaleUpstreams, restartStuckReplicas, type InstanceHost } from '../../src/actors/instances.ts';

const pg = (inRecovery: boolean, timeline: number) => ({ inRecovery, timeline, currentLsn: null, receivedLsn: null, replayedLsn: null, pendingRestart: false });
const inst = (name: string, inRecovery: boolean, timeline: number, lagBytes?: number): InstanceObservation => ({ name, ready: true, podName: `${name}-pod`, podIP: '10.0.0.1', pg: pg(inRecovery, timeline), lagBytes });

/** An upkeep host that records which pods it stopped. */
function host(state = 'monitoring.ready') {
  const stopped: string[] = [];
  const queried: string[] = [];
  const h: InstanceHost = {
    cluster: () => { throw new Error('not used'); },
    primary: () => 'p',
    state: () => state,
    endpoint: (ip) => Promise.resolve({ host: ip, port: 5432, password: 'x' }),
    query: (ip) => { queried.push(ip); return Promise.resolve(undefined as never); },
    stopInstance: (pod) => { stopped.push(pod); return Promise.resolve(); },
    primaryRestarting: () => undefined,
    event: () => undefined,
    log: () => undefined,
  };
  return { h, stopped, queried };
}

test('a replica pointed at an address that is no longer the primary\'s (or left cut off) gets the Service back; one pointed at the primary keeps it', async () => {
  const at = (name: string, ip: string, upstream?: string): InstanceObservation => ({ ...inst(name, name !== 'p', 5), podIP: ip, pg: { ...pg(name !== 'p', 5), ...(upstream === undefined ? {} : { upstream }) } });
  const o: Observation = { primary: 'p', instances: [at('p', '10.0.0.1'), at('a', '10.0.0.2', '10.0.0.1'), at('b', '10.0.0.3', '10.0.0.9'), at('c', '10.0.0.4', ''), at('d', '10.0.0.5')] };
  const { h, queried } = host();
  await resetStaleUpstreams(h, o);
  assert.equal(queried, ['10.0.0.3', '10.0.0.4']);
  const during = host('failover.promoting');
  await resetStaleUpstreams(during.h, o);
  assert.equal(during.queried, [], 'not during a failover');
});

test('a replica that streams from the primary gets its restore_command back; one not streaming yet does not', async () => {
  const at = (name: string, ip: string, streaming: boolean): InstanceObservation => ({ ...inst(name, true, 5), podIP: ip, pg: { ...pg(true, 5), upstream: '10.0.0.1', streaming, archiveOff: true } });
  const o: Observation = { primary: 'p', instances: [{ ...inst('p', false, 5), podIP: '10.0.0.1' }, at('a', '10.0.0.2', true), at('b', '10.0.0.3', false)] };
  const { h, queried } = host();
  await resetStaleUpstreams(h, o);
  assert.equal(queried, ['10.0.0.2']);
});

test('a replica behind the primary\'s timeline and not streaming is restarted after 20 s, not before', async () => {
  const o: Observation = { primary: 'p', instances: [inst('p', false, 5), inst('a', true, 5, 0), inst('b', true, 4)] };
  const since = new Map<string, number>();
  const { h, stopped } = host();
  await restartStuckReplicas(h, o, since);
  assert.equal(stopped, []);
  since.set('b', Date.now() - 21_000);
  await restartStuckReplicas(h, o, since);
  assert.equal(stopped, ['b-pod']);
});

test('a streaming replica, or one on the primary\'s timeline, is never restarted', async () => {
  const o: Observation = { primary: 'p', instances: [inst('p', false, 5), inst('a', true, 4, 100), inst('b', true, 5)] };
  const since = new Map([['a', 0], ['b', 0]]);
  const { h, stopped } = host();
  await restartStuckReplicas(h, o, since);
  assert.equal(stopped, []);
  assert.is(since.size, 0);
});

test('nothing is restarted during a failover', async () => {
  const o: Observation = { primary: 'p', instances: [inst('p', false, 5), inst('b', true, 4)] };
  const { h, stopped } = host('failover.promoting');
  await restartStuckReplicas(h, o, new Map([['b', 0]]));
  await demoteExtraPrimaries(h, { primary: 'p', instances: [inst('p', false, 5), inst('x', false, 4)] });
  assert.equal(stopped, []);
});

test('a second writable instance is stopped; the primary is not', async () => {
  const { h, stopped } = host();
  await demoteExtraPrimaries(h, { primary: 'p', instances: [inst('p', false, 5), inst('x', false, 4), inst('a', true, 5)] });
  assert.equal(stopped, ['x-pod']);
});

test.run();
