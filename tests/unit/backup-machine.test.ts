import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock, createActor, fromPromise } from 'xstate';
import { BackupRefused, backoffMs, backupMachine, backupPhase, type BackupInput, type BackupJob, type BackupPlan } from '../../src/machines/backup.ts';

const plan: BackupPlan = { type: 'full', repo: 1, instance: 'hippo' };
const tick = () => new Promise((r) => setImmediate(r));

/** Runs the machine with effects that follow `script`; returns the states it went through. */
function run(script: { prepare?: () => Promise<BackupPlan>; watch?: () => Promise<{ label: string }> }, input: BackupInput = { maxAttempts: 3 }, clock = new SimulatedClock()) {
  const calls: string[] = [];
  const machine = backupMachine.provide({
    actors: {
      prepare: fromPromise(() => (calls.push('prepare'), script.prepare ? script.prepare() : Promise.resolve(plan))),
      start: fromPromise((): Promise<BackupJob> => (calls.push('start'), Promise.resolve({ pod: 'repo-0', id: 'b1' }))),
      watch: fromPromise(() => (calls.push('watch'), script.watch ? script.watch() : Promise.resolve({ label: '20261201-010000F' }))),
      record: fromPromise(() => (calls.push('record'), Promise.resolve())),
    },
  });
  const states: string[] = [];
  const actor = createActor(machine, { clock, input });
  actor.subscribe((s) => states.push(String(s.value)));
  actor.start();
  return { actor, states, calls, clock };
}

test('a backup waits for READY, then prepares, starts, watches and records', async () => {
  const { actor, states, calls } = run({});
  assert.is(String(actor.getSnapshot().value), 'pending');
  actor.send({ type: 'READY' });
  for (let i = 0; i < 10; i++) await tick();
  assert.is(String(actor.getSnapshot().value), 'succeeded');
  assert.equal(calls, ['prepare', 'start', 'watch', 'record']);
  assert.ok(states.includes('running'));
  assert.is(actor.getSnapshot().context.attempts, 1);
});

test('a refused request fails at once, without retrying', async () => {
  const { actor, calls } = run({ prepare: () => Promise.reject(new BackupRefused('spec.options: option --repo1-path is not allowed')) });
  actor.send({ type: 'READY' });
  for (let i = 0; i < 5; i++) await tick();
  assert.is(String(actor.getSnapshot().value), 'failed');
  assert.match(actor.getSnapshot().context.error!, /repo1-path/);
  assert.equal(calls, ['prepare']);
});

test('a failed backup is retried after the back-off, and fails after maxAttempts', async () => {
  const { actor, calls, clock } = run({ watch: () => Promise.reject(new Error('ERROR: [056]: unable to find primary cluster')) });
  for (let attempt = 1; attempt <= 3; attempt++) {
    actor.send({ type: 'READY' });
    for (let i = 0; i < 10; i++) await tick();
    if (attempt < 3) {
      assert.is(String(actor.getSnapshot().value), 'retrying');
      clock.increment(backoffMs(attempt) - 1);
      assert.is(String(actor.getSnapshot().value), 'retrying', 'not before the back-off');
      clock.increment(1);
      assert.is(String(actor.getSnapshot().value), 'pending');
    }
  }
  assert.is(String(actor.getSnapshot().value), 'failed');
  assert.is(actor.getSnapshot().context.attempts, 3);
  assert.is(calls.filter((c) => c === 'start').length, 3);
});

test('an operator restarted while the job runs resumes watching it; one already made is only recorded', async () => {
  const resumed = run({}, { maxAttempts: 3, attempts: 1, plan, job: { pod: 'repo-0', id: 'b1' } });
  for (let i = 0; i < 10; i++) await tick();
  assert.is(String(resumed.actor.getSnapshot().value), 'succeeded');
  assert.equal(resumed.calls, ['watch', 'record']);
  const made = run({ prepare: () => Promise.resolve({ ...plan, existing: '20261201-010000F' }) });
  made.actor.send({ type: 'READY' });
  for (let i = 0; i < 10; i++) await tick();
  assert.is(String(made.actor.getSnapshot().value), 'succeeded');
  assert.equal(made.calls, ['prepare', 'record'], 'no second backup');
});

test('phases and back-off', () => {
  assert.equal(['routing', 'pending', 'preparing', 'running', 'retrying', 'succeeded', 'failed'].map(backupPhase), ['Pending', 'Pending', 'Running', 'Running', 'Pending', 'Succeeded', 'Failed']);
  assert.equal([1, 2, 3, 10].map(backoffMs), [5000, 10000, 20000, 120000]);
});

test.run();
