import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Observation } from '../../src/cluster/observation.ts';

process.env.PGO_PROBE_MS = '40';
const { PrimaryProbe } = await import('../../src/actors/primary-probe.ts');

const healthy: Observation = {
  primary: 'p',
  instances: [
    { name: 'p', ready: true, podName: 'p-0', podIP: '10.0.0.1', pg: { inRecovery: false, timeline: 1, currentLsn: '0/1', receivedLsn: null, replayedLsn: null, pendingRestart: false } },
    { name: 'a', ready: true, podName: 'a-0', podIP: '10.0.0.2' },
  ],
};

/** A probe over a scripted primary: `answers` and `accepts` say how it behaves now. */
function probe() {
  const world = { answers: true, accepts: true, probing: true, observation: healthy as Observation | undefined };
  const sent: Observation[] = [];
  const logs: string[] = [];
  let observes = 0;
  const p = new PrimaryProbe({
    primary: () => (world.probing ? 'p' : undefined),
    primaryPod: () => ({ ip: '10.0.0.1', ready: true }),
    query: <T>() => (world.answers ? Promise.resolve({ inRecovery: false } as T) : Promise.reject(new Error('did not answer within 1000 ms'))),
    accepts: () => Promise.resolve(world.accepts),
    observation: () => world.observation,
    send: (o) => {
      sent.push(o);
      world.observation = o;
    },
    observe: () => void observes++,
    log: (l) => logs.push(l),
  });
  return { p, world, sent, logs, observes: () => observes };
}

test('a primary that stops answering reaches the machine at once, once, with when it was last healthy', async () => {
  const { p, world, sent, logs, observes } = probe();
  p.start();
  try {
    await sleep(100);
    const lastHealthy = p.healthyAt('p');
    assert.ok(lastHealthy, 'seen healthy');
    world.answers = false;
    const failedFrom = Date.now();
    await sleep(150);
    assert.is(sent.length, 1, 'one derived observation (the machine already knows after it)');
    assert.equal(sent[0]!.instances.find((i) => i.name === 'p'), { ...healthy.instances[0]!, ready: false, pg: undefined });
    assert.ok(sent[0]!.primaryHealthyAt! >= lastHealthy, 'with the last healthy time');
    const since = sent[0]!.primaryUnhealthySince!;
    assert.ok(since >= failedFrom && since <= failedFrom + 60, `the delay counts from the first failed probe's start (${since - failedFrom} ms after the fault)`);
    assert.is(p.observed(healthy, Date.now()).primaryUnhealthySince, since, 'later failed probes keep the first one');
    assert.is(observes(), 1, 'one full observation started');
    assert.equal(logs, ['primary p does not answer (did not answer within 1000 ms)']);
    const overruled = p.observed(healthy, Date.now());
    assert.is(overruled.instances[0]!.ready, false, 'a full observation over the old connection does not overrule a failed probe');
    world.answers = true;
    await sleep(60);
    assert.is(p.observed(healthy, Date.now()).instances[0]!.ready, true, 'once a probe succeeds it does');
    assert.is(observes(), 2, 'its recovery starts an observation too');
    assert.ok(p.healthyAt('p')! > lastHealthy);
    assert.is(p.unhealthySince('p'), undefined, 'healthy again: the next failure counts afresh');
  } finally {
    p.stop();
  }
});

test('a primary refusing new connections while its old ones answer is unhealthy', async () => {
  const { p, world, logs } = probe();
  world.accepts = false;
  p.start();
  try {
    await sleep(80);
    assert.equal(logs, ['primary p does not accept new connections']);
    assert.is(p.healthyAt('p'), undefined, 'never seen healthy: the failover delay is counted in full');
  } finally {
    p.stop();
  }
});

test('an unhealthy primary seen while not monitoring (an apply rolling it) does not count towards the failover delay', () => {
  const { p, world } = probe();
  const down: Observation = { ...healthy, instances: [{ ...healthy.instances[0]!, ready: false, pg: undefined }, healthy.instances[1]!] };
  world.probing = false;
  assert.is(p.observed(down, Date.now() - 20_000).primaryUnhealthySince, undefined, 'during the apply');
  world.probing = true;
  const at = Date.now();
  assert.is(p.observed(down, at).primaryUnhealthySince, at, 'counted from the first failed check while monitoring');
  world.probing = false;
  assert.is(p.observed(down, at + 1000).primaryUnhealthySince, undefined, 'and forgotten when monitoring stops');
});

test('once probing stops (a restore from a data source, a failover), an earlier doubt no longer overrules the observations', async () => {
  const { p, world } = probe();
  world.answers = false;
  p.start();
  try {
    await sleep(80);
    assert.is(p.observed(healthy, Date.now()).instances[0]!.ready, false, 'in doubt');
    world.probing = false;
    await sleep(80);
    assert.is(p.observed(healthy, Date.now()).instances[0]!.ready, true, 'the observation decides');
  } finally {
    p.stop();
  }
});

test.run();
