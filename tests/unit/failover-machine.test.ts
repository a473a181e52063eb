import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { initialTransition, transition } from 'xstate';
import type { FailoverIntent } from '../../src/cluster/failover.ts';
import type { InstanceObservation } from '../../src/cluster/observation.ts';
import { PrimaryLost, clusterMachine, stateName, type ClusterEvent, type ClusterInput } from '../../src/machines/cluster.ts';

const settings = { autofail: true, failoverDelayMs: 3000, sync: false };
const pg = (inRecovery: boolean, lsn = '0/100') => ({ inRecovery, timeline: 1, currentLsn: inRecovery ? null : lsn, receivedLsn: inRecovery ? lsn : null, replayedLsn: inRecovery ? lsn : null, pendingRestart: false });
const up = (name: string, inRecovery: boolean, lsn?: string): InstanceObservation => ({ name, ready: true, podName: `${name}-0`, podIP: '10.0.0.1', pg: pg(inRecovery, lsn) });
const down = (name: string): InstanceObservation => ({ name, ready: false, podName: `${name}-0` });
const seen = (...instances: InstanceObservation[]): ClusterEvent => ({ type: 'OBSERVED', observation: { primary: 'c', instances } });

const healthy = seen(up('c', false), up('a', true, '0/100'), up('b', true, '0/200'));
const primaryDown = seen(down('c'), up('a', true, '0/100'), up('b', true, '0/200'));
const nobodyReady = seen(down('c'), down('a'), down('b'));
const done = (step: string) => ({ type: `xstate.done.actor.0.cluster.${step}` }) as unknown as ClusterEvent;
const failed = (step: string) => ({ type: `xstate.error.actor.0.cluster.${step}`, error: new Error('no') }) as unknown as ClusterEvent;
const delay = { type: 'xstate.after.failoverDelay.cluster.monitoring.primaryUnready.waiting' } as unknown as ClusterEvent;
const request = (kind: 'manual' | 'switchover', target?: string): ClusterEvent => ({ type: 'FAILOVER', request: { kind, target, task: 't1' }, now: 'now' });

/** From a running, applied cluster (or `input`), runs `events`; returns the states and the final context. */
function run(events: ClusterEvent[], input: Partial<ClusterInput> = {}) {
  const start: ClusterInput = { generation: 1, appliedGeneration: 1, primary: 'c', established: true, fenced: [], settings, ...input };
  let [snapshot] = initialTransition(clusterMachine, start);
  const states = [stateName(snapshot.value)];
  for (const event of events) {
    [snapshot] = transition(clusterMachine, snapshot, event);
    states.push(stateName(snapshot.value));
  }
  return { states, context: snapshot.context, snapshot };
}

const applied = { type: 'xstate.done.actor.0.cluster.applying', output: 1 } as unknown as ClusterEvent;

const table: { name: string; input?: Partial<ClusterInput>; events: ClusterEvent[]; states: string[] }[] = [
  {
    name: 'a healthy primary stays ready',
    events: [applied, healthy, healthy],
    states: ['applying', 'monitoring.initializing', 'monitoring.ready', 'monitoring.ready'],
  },
  {
    name: 'a blip shorter than the failover delay causes no failover',
    events: [applied, healthy, primaryDown, healthy],
    states: ['applying', 'monitoring.initializing', 'monitoring.ready', 'monitoring.primaryUnready.waiting', 'monitoring.ready'],
  },
  {
    name: 'primary unready past the delay: choose, record, fence, promote, relabel, back to monitoring',
    events: [applied, healthy, primaryDown, delay, done('failover.recording'), done('failover.fencing'), done('failover.promoting'), done('failover.relabeling')],
    states: ['applying', 'monitoring.initializing', 'monitoring.ready', 'monitoring.primaryUnready.waiting', 'failover.recording', 'failover.fencing', 'failover.promoting', 'failover.relabeling', 'monitoring.initializing'],
  },
  {
    name: 'the failover delay is judged on the latest observation: recovered in time, no failover',
    events: [applied, healthy, primaryDown, healthy, delay],
    states: ['applying', 'monitoring.initializing', 'monitoring.ready', 'monitoring.primaryUnready.waiting', 'monitoring.ready', 'monitoring.ready'],
  },
  {
    name: 'no replica Ready: no failover, waits in primaryUnready.expired until one is',
    events: [applied, healthy, nobodyReady, delay, nobodyReady, primaryDown],
    states: ['applying', 'monitoring.initializing', 'monitoring.ready', 'monitoring.primaryUnready.waiting', 'monitoring.primaryUnready.expired', 'monitoring.primaryUnready.expired', 'failover.recording'],
  },
  {
    name: 'autofail off: the primary stays down, no failover',
    input: { settings: { ...settings, autofail: false } },
    events: [applied, healthy, primaryDown, delay, primaryDown],
    states: ['applying', 'monitoring.initializing', 'monitoring.ready', 'monitoring.primaryUnready.waiting', 'monitoring.primaryUnready.expired', 'monitoring.primaryUnready.expired'],
  },
  {
    name: 'a cluster still being created (never healthy) does not fail over',
    input: { established: false },
    events: [applied, primaryDown, primaryDown],
    states: ['applying', 'monitoring.initializing', 'monitoring.initializing', 'monitoring.initializing'],
  },
  {
    name: 'promotion fails: choose again, on the next observation',
    events: [applied, healthy, primaryDown, delay, done('failover.recording'), done('failover.fencing'), failed('failover.promoting'), primaryDown],
    states: ['applying', 'monitoring.initializing', 'monitoring.ready', 'monitoring.primaryUnready.waiting', 'failover.recording', 'failover.fencing', 'failover.promoting', 'failover.choosing', 'failover.recording'],
  },
  {
    name: 'a spec change during a failover waits until it is over',
    events: [applied, healthy, primaryDown, delay, { type: 'SPEC', generation: 2, settings }, done('failover.recording'), done('failover.fencing'), done('failover.promoting'), done('failover.relabeling')],
    states: ['applying', 'monitoring.initializing', 'monitoring.ready', 'monitoring.primaryUnready.waiting', 'failover.recording', 'failover.recording', 'failover.fencing', 'failover.promoting', 'failover.relabeling', 'applying'],
  },
  {
    name: 'manual failover to an eligible target goes straight to recording',
    events: [applied, healthy, request('manual', 'a')],
    states: ['applying', 'monitoring.initializing', 'monitoring.ready', 'failover.recording'],
  },
  {
    name: 'manual failover to an ineligible target is ignored by the machine',
    events: [applied, healthy, seen(up('c', false), down('a'), up('b', true)), request('manual', 'a')],
    states: ['applying', 'monitoring.initializing', 'monitoring.ready', 'monitoring.degraded', 'monitoring.degraded'],
  },
  {
    name: 'switchover needs a healthy primary',
    events: [applied, healthy, primaryDown, request('switchover')],
    states: ['applying', 'monitoring.initializing', 'monitoring.ready', 'monitoring.primaryUnready.waiting', 'monitoring.primaryUnready.waiting'],
  },
  {
    name: 'an old primary whose pod is gone is unfenced and applied again (scaled back to one pod)',
    input: { fenced: ['old'] },
    events: [applied, healthy, { type: 'UNFENCED', instance: 'old' }],
    states: ['applying', 'monitoring.initializing', 'monitoring.ready', 'applying'],
  },
];

for (const row of table) {
  test(row.name, () => {
    assert.equal(run(row.events, row.input).states, row.states);
  });
}

test('the target is the most advanced replica; the failed primary is fenced; completion makes the target primary', () => {
  const mid = run([applied, healthy, primaryDown, delay]).context;
  assert.is(mid.failover?.from, 'c');
  assert.is(mid.failover?.to, 'b');
  assert.is(mid.failover?.kind, 'automatic');
  assert.equal(mid.fenced, ['c']);
  const end = run([applied, healthy, primaryDown, delay, done('failover.recording'), done('failover.fencing'), done('failover.promoting')]).context;
  assert.is(end.primary, 'b');
  assert.is(end.failover, undefined);
  assert.is(end.completed?.to, 'b');
  assert.is(end.observation, undefined, 'the pre-promotion observation is dropped');
});

test('after a failover the stale observation cannot start another one', () => {
  const r = run([applied, healthy, primaryDown, delay, done('failover.recording'), done('failover.fencing'), done('failover.promoting'), done('failover.relabeling'),
    seen(down('c'), up('a', true), up('b', false, '0/300'))]);
  // Still initializing (the old primary is not back), but not primaryUnready: b is healthy and is the primary.
  assert.equal(r.states.slice(-2), ['monitoring.initializing', 'monitoring.initializing']);
  assert.is(r.context.primary, 'b');
});

test('switchover: the old primary is not fenced (it restarts in place as a replica)', () => {
  const { context, states } = run([applied, healthy, request('switchover', 'a')]);
  assert.is(states.at(-1), 'failover.recording');
  assert.equal(context.failover && { kind: context.failover.kind, from: context.failover.from, to: context.failover.to, task: context.failover.task }, { kind: 'switchover', from: 'c', to: 'a', task: 't1' });
  assert.equal(context.fenced, []);
});

test('a restarted operator resumes a recorded failover at fencing, before applying anything', () => {
  const intent: FailoverIntent = { kind: 'automatic', from: 'c', to: 'b', reason: 'x', startTime: 't' };
  assert.equal(run([], { failover: intent, fenced: ['c'] }).states, ['failover.fencing']);
  const { snapshot } = run([], { failover: intent, fenced: ['c'] });
  assert.ok(snapshot.children['0.cluster.failover.fencing'] !== undefined || Object.keys(snapshot.children).length === 1);
});

test('guards read the context primary, not the observation field', () => {
  // After completion the primary is b; an observation that still names c as primary must not matter.
  const r = run([applied, seen(down('c'), up('a', true), up('b', false))], { primary: 'b' });
  assert.is(r.states.at(-1), 'monitoring.initializing');
  assert.is(run([applied, seen(down('c'), up('a', true), up('b', false))], { primary: 'c' }).states.at(-1), 'monitoring.primaryUnready.waiting');
});

test('a restore switch replaces the primary, healthy or not, with the restored instance; not during a failover', () => {
  const restore: ClusterEvent = { type: 'RESTORE', target: 'c-rstr', task: 'r1', now: 'now' };
  for (const seenNow of [healthy, primaryDown]) {
    const r = run([applied, seenNow, restore, done('failover.recording'), done('failover.fencing'), done('failover.promoting')]);
    assert.equal(r.states.slice(3), ['failover.recording', 'failover.fencing', 'failover.promoting', 'failover.relabeling']);
    assert.is(r.context.completed?.kind, 'restore');
    assert.is(r.context.completed?.from, 'c');
    assert.is(r.context.primary, 'c-rstr');
    assert.ok(r.context.fenced.includes('c'), 'the old primary stays fenced until its pod is gone');
  }
  const busy = run([applied, healthy, request('switchover', 'b'), restore]);
  assert.is(busy.context.failover?.kind, 'switchover', 'a failover in progress is not interrupted');
  assert.not.ok(busy.snapshot.can(restore));
});

test('fencing that finds the target behind another replica chooses again, from a fresh observation only', () => {
  const r = run([applied, healthy, primaryDown, delay, done('failover.recording'), failed('failover.fencing')]);
  assert.is(r.states.at(-1), 'failover.choosing', 'the observation that chose the target is dropped');
  assert.is(r.context.observation, undefined);
  const again = run([applied, healthy, primaryDown, delay, done('failover.recording'), failed('failover.fencing'), primaryDown]);
  assert.is(again.states.at(-1), 'failover.recording', 'chose a target again and records it');
  assert.ok(again.context.failover?.to, 'a target chosen from the latest observation');
});

test('a promote that failed but reached its target: choosing again takes the instance that became writable, not the best-placed replica', () => {
  // b (0/200) was the target; its promote timed out, then a promoted itself late: a is the only choice.
  const late = seen(down('c'), up('a', false, '0/300'), up('b', true, '0/200'));
  const r = run([applied, healthy, primaryDown, delay, done('failover.recording'), done('failover.fencing'), failed('failover.promoting'), late]);
  assert.is(r.states.at(-1), 'failover.recording');
  assert.is(r.context.failover?.to, 'a');
  const normal = run([applied, healthy, primaryDown, delay, done('failover.recording'), done('failover.fencing'), failed('failover.promoting'), primaryDown]);
  assert.is(normal.context.failover?.to, 'b', 'with none writable, the most advanced replica');
});

test('a switchover whose old primary stops answering goes on as a failover: the old primary is fenced at zero pods', () => {
  const lost = { type: 'xstate.error.actor.0.cluster.failover.fencing', error: new PrimaryLost('c did not answer to be stopped cleanly') } as unknown as ClusterEvent;
  const r = run([applied, healthy, request('switchover', 'b'), done('failover.recording'), lost]);
  assert.equal(r.states.slice(-2), ['failover.fencing', 'failover.fencing'], 'fencing again, as a failover');
  assert.is(r.context.failover?.kind, 'manual');
  assert.is(r.context.failover?.to, 'b', 'the same target');
  assert.match(r.context.failover?.reason ?? '', /c did not answer to be stopped cleanly: failing over/);
  assert.ok(r.context.fenced.includes('c'));
});

test('each failover step is timed: detection, decision, recording, fencing, promotion', () => {
  const r = run([applied, healthy, primaryDown, delay, done('failover.recording'), done('failover.fencing'), done('failover.promoting')]);
  const { times, startTime } = r.context.completed!;
  assert.ok(times?.detected && times.recorded && times.fenced && times.promoted, JSON.stringify(times));
  const order = [times.detected, startTime, times.recorded, times.fenced, times.promoted].map((t) => Date.parse(t));
  assert.equal([...order].sort((a, b) => a - b), order, 'in the order they happened');
});

test('the failover delay counts from the first failed check of the primary', () => {
  const delayOf = (primaryUnhealthySince?: number) => {
    const r = run([applied, healthy, primaryDown.type === 'OBSERVED' ? { ...primaryDown, observation: { ...primaryDown.observation, primaryHealthyAt: Date.now() - 30_000, primaryUnhealthySince } } : primaryDown]);
    const fn = clusterMachine.implementations.delays.failoverDelay as (args: { context: typeof r.context }) => number;
    return fn({ context: r.context });
  };
  assert.is(delayOf(undefined), 3000, 'not known: the whole delay');
  const d = delayOf(Date.now() - 1000);
  assert.ok(d <= 2000 && d > 1500, `first failed 1 s ago (last healthy long before): about 2 s left (${d})`);
  assert.is(delayOf(Date.now() - 10_000), 0, 'unhealthy for longer than the delay already');
});

test.run();
