import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock, createActor, fromPromise, initialTransition, transition } from 'xstate';
import type { Observation } from '../../src/cluster/observation.ts';
import { nextStatus } from '../../src/cluster/status.ts';
import { PLANNED_RESTART_GRACE_MS, SpecRejected, clusterMachine, stateName, type ClusterEvent } from '../../src/machines/cluster.ts';

const obs = (...ready: boolean[]): Observation => ({
  primary: 'c',
  instances: ready.map((r, i) => ({ name: i === 0 ? 'c' : `c-${i}`, ready: r })),
});
const applied = (generation: number) => ({ type: 'xstate.done.actor.0.cluster.applying', output: generation }) as unknown as ClusterEvent;
const failed = { type: 'xstate.error.actor.0.cluster.applying', error: new Error('boom') } as unknown as ClusterEvent;

const rejected = (generation: number) =>
  ({ type: 'xstate.error.actor.0.cluster.applying', error: new SpecRejected(generation, 'InvalidParameter', 'spec.parameters.work_mem: PostgreSQL refused it: invalid value') }) as unknown as ClusterEvent;

const settings = { autofail: true, failoverDelayMs: 3000, sync: false };

/** Runs events from the initial state; returns the state name after each. */
function run(start: { generation: number; appliedGeneration: number }, events: ClusterEvent[]) {
  let [snapshot] = initialTransition(clusterMachine, { ...start, primary: 'c', established: false, fenced: [], settings });
  const states = [stateName(snapshot.value)];
  for (const event of events) {
    [snapshot] = transition(clusterMachine, snapshot, event);
    states.push(stateName(snapshot.value));
  }
  return { states, context: snapshot.context };
}

const table: { name: string; input?: { generation: number; appliedGeneration: number }; events: ClusterEvent[]; states: string[] }[] = [
  {
    name: 'create: apply, wait for every instance, ready',
    events: [applied(1), { type: 'OBSERVED', observation: obs(true, false) }, { type: 'OBSERVED', observation: obs(true, true) }],
    states: ['applying', 'monitoring.initializing', 'monitoring.initializing', 'monitoring.ready'],
  },
  {
    name: 'ready ⇄ degraded follows readiness',
    events: [applied(1), { type: 'OBSERVED', observation: obs(true) }, { type: 'OBSERVED', observation: obs(false) }, { type: 'OBSERVED', observation: obs(true) }],
    states: ['applying', 'monitoring.initializing', 'monitoring.ready', 'monitoring.degraded', 'monitoring.ready'],
  },
  {
    name: 'an empty observation is not ready',
    events: [applied(1), { type: 'OBSERVED', observation: { primary: 'c', instances: [] } }],
    states: ['applying', 'monitoring.initializing', 'monitoring.initializing'],
  },
  {
    name: 'a newer spec re-applies; the same generation does not',
    events: [applied(1), { type: 'SPEC', generation: 1, settings }, { type: 'SPEC', generation: 2, settings }, applied(2)],
    states: ['applying', 'monitoring.initializing', 'monitoring.initializing', 'applying', 'monitoring.initializing'],
  },
  {
    name: 'a spec change during applying is applied next',
    events: [{ type: 'SPEC', generation: 2, settings }, applied(1)],
    states: ['applying', 'applying', 'applying'],
  },
  {
    name: 'pgreplicas changing (REFRESH) re-applies',
    events: [applied(1), { type: 'REFRESH' }],
    states: ['applying', 'monitoring.initializing', 'applying'],
  },
  {
    name: 'a rejected spec is not retried: monitoring goes on, the next generation is applied',
    input: { generation: 2, appliedGeneration: 1 },
    events: [rejected(2), { type: 'OBSERVED', observation: obs(true) }, { type: 'REFRESH' }, applied(2), { type: 'SPEC', generation: 3, settings }],
    states: ['applying', 'monitoring.initializing', 'monitoring.ready', 'applying', 'monitoring.ready', 'applying'],
  },
  {
    name: 'a failed apply backs off',
    events: [failed],
    states: ['applying', 'backingOff'],
  },
];

for (const row of table) {
  test(row.name, () => {
    assert.equal(run(row.input ?? { generation: 1, appliedGeneration: 0 }, row.events).states, row.states);
  });
}

test('failures count up and reset on success; lastError is kept for status', () => {
  const { context } = run({ generation: 1, appliedGeneration: 0 }, [failed]);
  assert.is(context.failures, 1);
  assert.is(context.lastError, 'boom');
  const after = run({ generation: 1, appliedGeneration: 0 }, [applied(1)]).context;
  assert.is(after.failures, 0);
  assert.is(after.appliedGeneration, 1);
});

test('a rejection is kept for status until a spec applies, and names the parameter in SpecAccepted', () => {
  const { context } = run({ generation: 2, appliedGeneration: 1 }, [rejected(2)]);
  assert.equal(context.rejected, { generation: 2, reason: 'InvalidParameter', message: 'spec.parameters.work_mem: PostgreSQL refused it: invalid value' });
  assert.is(context.appliedGeneration, 2);
  assert.is(context.failures, 0);
  const status = nextStatus(undefined, 'monitoring.initializing', context, 'now');
  const accepted = status.conditions?.find((c) => c.type === 'SpecAccepted');
  assert.is(accepted?.status, 'False');
  assert.is(accepted?.reason, 'InvalidParameter');
  assert.ok(accepted?.message.includes('spec.parameters.work_mem'));
  assert.is(run({ generation: 2, appliedGeneration: 1 }, [rejected(2), { type: 'REFRESH' }, applied(2)]).context.rejected, undefined);
});

test('a primary whose pod an apply replaces gets the planned-restart grace, until it is healthy on a new pod', async () => {
  const pg = (inRecovery: boolean) => ({ inRecovery, timeline: 1, currentLsn: inRecovery ? null : '0/1', receivedLsn: '0/1', replayedLsn: '0/1', pendingRestart: false });
  const replica = { name: 'c-1', ready: true, podName: 'r', pg: pg(true) };
  const healthy = (pod: string): Observation => ({ primary: 'c', instances: [{ name: 'c', ready: true, podName: pod, pg: pg(false) }, replica] });
  const down: Observation = { primary: 'c', instances: [{ name: 'c', ready: false }, replica] };
  // The real machine and its delays on a simulated clock; applying resolves at once.
  const after = async (events: ClusterEvent[], ms: number) => {
    const clock = new SimulatedClock();
    const machine = clusterMachine.provide({ actors: { applyObjects: fromPromise(({ input }: { input: { generation: number; fenced: string[] } }) => Promise.resolve(input.generation)) } });
    const actor = createActor(machine, { clock, input: { generation: 1, appliedGeneration: 1, primary: 'c', established: false, fenced: [], settings } }).start();
    await new Promise((r) => setImmediate(r));
    for (const e of events) actor.send(e);
    clock.increment(ms);
    const state = stateName(actor.getSnapshot().value);
    actor.stop();
    return state;
  };
  const roll = (pod: string): ClusterEvent => ({ type: 'PRIMARY_ROLLING', pod, at: Date.now() });
  // Without a roll: failover after the 3 s delay.
  assert.is(await after([{ type: 'OBSERVED', observation: healthy('p1') }, { type: 'OBSERVED', observation: down }], 4000), 'failover.recording');
  // Rolling (the old pod answering does not end it): still waiting after 4 s, failing over after the grace.
  const rolling = [roll('p1'), { type: 'OBSERVED', observation: healthy('p1') }, { type: 'OBSERVED', observation: down }] as ClusterEvent[];
  assert.is(await after(rolling, 4000), 'monitoring.primaryUnready.waiting');
  assert.is(await after(rolling, PLANNED_RESTART_GRACE_MS + 1000), 'failover.recording');
  // Healthy on a new pod: the roll is over, a later loss gets the normal delay again.
  assert.is(await after([roll('p1'), { type: 'OBSERVED', observation: healthy('p2') }, { type: 'OBSERVED', observation: down }], 4000), 'failover.recording');
  // Restarted in place (same pod): the grace holds while it is down; once back, a later loss gets the normal delay.
  const inPlace: ClusterEvent = { type: 'PRIMARY_ROLLING', at: Date.now(), inPlace: true };
  assert.is(await after([inPlace, { type: 'OBSERVED', observation: healthy('p1') }, { type: 'OBSERVED', observation: down }], 4000), 'monitoring.primaryUnready.waiting');
  assert.is(await after([inPlace, { type: 'OBSERVED', observation: down }, { type: 'OBSERVED', observation: healthy('p1') }, { type: 'OBSERVED', observation: down }], 4000), 'failover.recording');
});

test('a restarted actor for an applied spec still applies once (idempotent), then monitors', () => {
  assert.equal(run({ generation: 3, appliedGeneration: 3 }, [applied(3)]).states, ['applying', 'monitoring.initializing']);
});

test.run();
