import type { V1Pod } from '@kubernetes/client-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor, fromPromise, toPromise } from 'xstate';
import { podProblem } from '../../src/actors/upgrade.ts';
import { upgradeBody } from '../../src/api/schemas.ts';
import { pgReplicaSpec } from '../../src/crd/pgreplica.ts';
import { withTag } from '../../src/crd/pgupgrade.ts';
import { upgradeMachine, type RollOutcome } from '../../src/machines/upgrade.ts';

/** Runs the machine with rollNext answering `rolls` in turn; returns the effects called in order. */
async function run(rolls: (RollOutcome | Error)[], fail: Partial<Record<'check' | 'switchover' | 'finish', Error>> = {}) {
  const calls: string[] = [];
  const plain = (name: 'check' | 'switchover' | 'finish') => fromPromise<void>(() => {
    calls.push(name);
    return fail[name] ? Promise.reject(fail[name]) : Promise.resolve();
  });
  let n = 0;
  const machine = upgradeMachine.provide({
    actors: {
      check: plain('check'),
      switchover: plain('switchover'),
      finish: plain('finish'),
      rollNext: fromPromise<RollOutcome>(() => {
        const out = rolls[n++] ?? new Error('rolled too often');
        calls.push(`roll ${out instanceof Error ? `!${out.message}` : out}`);
        return out instanceof Error ? Promise.reject(out) : Promise.resolve(out);
      }),
    },
  });
  const actor = createActor(machine).start();
  await toPromise(actor).catch(() => undefined);
  return { calls, state: String(actor.getSnapshot().value), error: actor.getSnapshot().context.error };
}

test('replicas one at a time, a switchover when only the primary is left, then the old primary, then finish', async () => {
  const r = await run(['rolled', 'rolled', 'primary', 'rolled', 'done']);
  assert.equal(r.calls, ['check', 'roll rolled', 'roll rolled', 'roll primary', 'switchover', 'roll rolled', 'roll done', 'finish']);
  assert.is(r.state, 'succeeded');
});

test('resumed when everything runs the new image: straight to finish; a refused check or a replica put back fails it', async () => {
  assert.equal((await run(['done'])).calls, ['check', 'roll done', 'finish']);
  const refused = await run([], { check: new Error('image "x" (spec.image) cannot be pulled: ErrImagePull') });
  assert.equal(refused.calls, ['check']);
  assert.is(refused.state, 'failed');
  assert.match(refused.error ?? '', /cannot be pulled/);
  const back = await run(['rolled', new Error('instance up-abcd did not come back')]);
  assert.equal(back.calls, ['check', 'roll rolled', 'roll !instance up-abcd did not come back']);
  assert.is(back.state, 'failed');
  assert.is((await run(['primary'], { switchover: new Error('no upgraded replica') })).state, 'failed');
});

const pod = (image: string, db: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  ({ metadata: { name: 'p', ...extra }, spec: { containers: [{ name: 'database', image }] }, status: { podIP: '10.0.0.1', containerStatuses: [{ name: 'database', ...db }] } }) as unknown as V1Pod;

test('podProblem: Ready on the image is done; a pull failure or repeated crashes are hopeless; the old pod is not counted', () => {
  assert.is(podProblem([pod('img:2', { ready: true, restartCount: 0 })], 'img:2'), undefined);
  assert.equal(podProblem([pod('img:1', { ready: true })], 'img:2'), { why: 'no pod on img:2 yet', hopeless: false });
  assert.is(podProblem([pod('img:2', { ready: true }, { deletionTimestamp: new Date() })], 'img:2')?.hopeless, false);
  assert.is(podProblem([pod('img:2', { ready: false, restartCount: 0 })], 'img:2')?.hopeless, false);
  const pull = podProblem([pod('img:2', { ready: false, state: { waiting: { reason: 'ErrImagePull', message: 'not found' } } })], 'img:2');
  assert.equal(pull, { why: 'ErrImagePull: not found', hopeless: true });
  assert.is(podProblem([pod('img:2', { ready: false, restartCount: 2 })], 'img:2')?.hopeless, true);
});

test('withTag replaces the tag (registry ports and digests kept apart); the body takes a tag or an image, not both', () => {
  assert.is(withTag('localhost/pg-operator/postgres:15', '15-next'), 'localhost/pg-operator/postgres:15-next');
  assert.is(withTag('registry:5000/pg/postgres', '15.10'), 'registry:5000/pg/postgres:15.10');
  assert.is(withTag('registry:5000/pg/postgres:15@sha256:abc', '16'), 'registry:5000/pg/postgres:16');
  assert.ok(upgradeBody.safeParse({ ccpImageTag: '15-next' }).success);
  assert.not.ok(upgradeBody.safeParse({ ccpImageTag: '15', image: 'x:1' }).success);
  assert.not.ok(upgradeBody.safeParse({}).success);
  assert.not.ok(upgradeBody.safeParse({ ccpImageTag: 'a/b' }).success);
  assert.not.ok(pgReplicaSpec.safeParse({ clusterName: 'hippo', image: 'bad image' }).success);
});

test.run();
