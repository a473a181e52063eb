import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock, createActor, fromPromise } from 'xstate';
import { restoreFailure } from '../../src/actors/restore.ts';
import { RestoreRefused } from '../../src/backrest/restore-plan.ts';
import { VALIDATE_ATTEMPTS, restoreMachine, restorePhaseOf, type RestoreDecision, type RestoreInput } from '../../src/machines/restore.ts';

const decision: RestoreDecision = { instance: 'ivy-abcd', set: '20261201-101500F', args: ['--repo=1', '--set=20261201-101500F'], description: 'restores full backup 20261201-101500F' };
const tick = async (n = 20) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};
const STEPS = ['validate', 'prepare', 'restore', 'replay', 'verify', 'switchOver', 'release', 'rollback', 'drill'] as const;
type Step = (typeof STEPS)[number];

/** Runs the machine with effects that resolve unless `fail` says otherwise; returns the effects called, in order. */
function run(fail: Partial<Record<Step, () => Error>> = {}, input: RestoreInput = {}, clock = new SimulatedClock()) {
  const calls: Step[] = [];
  const effect = (step: Step) =>
    fromPromise(() => {
      calls.push(step);
      const err = fail[step]?.();
      return err ? Promise.reject(err) : Promise.resolve(step === 'validate' ? decision : undefined);
    });
  const actors = Object.fromEntries(STEPS.map((s) => [s, effect(s)]));
  const actor = createActor(restoreMachine.provide({ actors }), { input, clock });
  const phases: string[] = [];
  actor.subscribe((s) => {
    const phase = restorePhaseOf(String(s.value));
    if (phases.at(-1) !== phase) phases.push(phase);
  });
  actor.start();
  return { actor, calls, phases, clock };
}

test('a restore goes through every step in order, the old data released only after the switch', async () => {
  const { actor, calls, phases } = run();
  await tick();
  assert.is(String(actor.getSnapshot().value), 'succeeded');
  assert.equal(calls, ['validate', 'prepare', 'restore', 'replay', 'verify', 'switchOver', 'release']);
  assert.equal(phases, ['Validating', 'Preparing', 'Restoring', 'Replaying', 'Verifying', 'Switching', 'Releasing', 'Succeeded']);
});

test('a refused request fails at once with nothing touched', async () => {
  const { actor, calls } = run({ validate: () => new RestoreRefused('the target 2099-01-01 00:00:00+00 is in the future') });
  await tick();
  assert.is(String(actor.getSnapshot().value), 'failed');
  assert.equal(calls, ['validate']);
  assert.match(actor.getSnapshot().context.error!, /future/);
});

test('an unreachable repository is tried again, then the restore fails without touching anything', async () => {
  const { actor, calls, clock } = run({ validate: () => new Error('the repository host is not ready yet') });
  for (let i = 0; i < VALIDATE_ATTEMPTS; i++) {
    await tick();
    clock.increment(60_000);
  }
  await tick();
  assert.is(String(actor.getSnapshot().value), 'failed');
  assert.is(calls.filter((c) => c === 'validate').length, VALIDATE_ATTEMPTS);
  assert.not.ok(calls.includes('restore'));
});

for (const step of ['prepare', 'restore', 'replay', 'verify'] as const) {
  test(`a failure while ${step} rolls back: the restore instance is removed and the cluster is not switched`, async () => {
    const { actor, calls } = run({ [step]: () => new Error('ERROR: [029]: unable to connect') });
    await tick();
    assert.is(String(actor.getSnapshot().value), 'failed');
    assert.is(calls.at(-1), 'rollback');
    assert.not.ok(calls.includes('switchOver'));
    assert.not.ok(calls.includes('release'));
    assert.match(actor.getSnapshot().context.error!, /unable to connect/);
  });
}

test('after the switch a failure is retried, never rolled back', async () => {
  let failures = 2;
  const { actor, calls, clock } = run({ release: () => (failures-- > 0 ? new Error('the API server is unreachable') : (undefined as unknown as Error)) });
  for (let i = 0; i < 3; i++) {
    await tick();
    clock.increment(5000);
  }
  await tick();
  assert.is(String(actor.getSnapshot().value), 'succeeded');
  assert.is(calls.filter((c) => c === 'release').length, 3);
  assert.not.ok(calls.includes('rollback'));
});

test('a restarted operator resumes at the recorded step, without validating again', async () => {
  for (const [phase, first] of [['Replaying', 'replay'], ['Switching', 'switchOver'], ['Releasing', 'release'], ['RollingBack', 'rollback']] as const) {
    const { calls } = run({}, { phase, decision });
    await tick();
    assert.is(calls[0], first, phase);
  }
  const { calls } = run({}, { phase: 'Restoring' });
  await tick();
  assert.is(calls[0], 'validate', 'no decision recorded: nothing was touched, start over');
});

test('a drill verifies and throws the instance away: it never switches the cluster', async () => {
  const { actor, calls, phases } = run({}, { drill: true });
  await tick();
  assert.is(String(actor.getSnapshot().value), 'succeeded');
  assert.equal(calls, ['validate', 'prepare', 'restore', 'replay', 'verify', 'drill', 'rollback']);
  assert.equal(phases.slice(-3), ['Drilling', 'Discarding', 'Succeeded']);
  const failed = run({ drill: () => new Error('ERROR: [028]: backup set is corrupt') }, { drill: true });
  await tick();
  assert.is(String(failed.actor.getSnapshot().value), 'failed');
  assert.is(failed.calls.at(-1), 'rollback');
  assert.not.ok(failed.calls.includes('switchOver'));
});


test('the reason a restore instance stopped is its recovery FATAL, not a client turned away while it stopped', () => {
  const log = [
    '2026-12-02 22:41:10.001 UTC [60] LOG:  restored log file "000000010000000000000005" from archive',
    '2026-12-02 22:41:10.200 UTC [60] FATAL:  recovery ended before configured recovery target was reached',
    '2026-12-02 22:41:10.210 UTC [58] LOG:  startup process (PID 60) exited with exit code 1',
    '2026-12-02 22:41:10.300 UTC [71] FATAL:  the database system is shutting down',
    '2026-12-02 22:41:10.400 UTC [72] FATAL:  password authentication failed for user "postgres"',
  ].join('\n');
  assert.is(restoreFailure(log), 'PostgreSQL: recovery ended before configured recovery target was reached');
  assert.is(restoreFailure('2026-12-02 22:41:10.300 UTC [71] FATAL:  the database system is starting up'), undefined);
});

test.run();
