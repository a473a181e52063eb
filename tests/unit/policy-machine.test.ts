import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor, fromPromise, toPromise } from 'xstate';
import { policyApplyBody } from '../../src/api/schemas.ts';
import { pgClusterSpec } from '../../src/crd/pgcluster.ts';
import { POLICY_ATTEMPTS, PolicyRefused, policyMachine } from '../../src/machines/policy.ts';

type Script = Partial<Record<'check' | 'apply' | 'resolve' | 'store', (n: number) => unknown>>;

/** Runs the machine with effects scripted per call (the n-th call of each); returns the calls in order. */
async function run(step: 'applying' | 'recording' | undefined, script: Script = {}) {
  const calls: string[] = [];
  const counts: Record<string, number> = {};
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- one stand-in for effects of different outputs
  const effect = (name: keyof Script) => fromPromise<any>(() => {
    const n = (counts[name] = (counts[name] ?? 0) + 1);
    const out = script[name]?.(n) as Error | boolean | undefined;
    calls.push(out === undefined ? name : `${name} ${out instanceof Error ? `!${out.message}` : String(out)}`);
    return out instanceof Error ? Promise.reject(out) : Promise.resolve(out);
  });
  const machine = policyMachine.provide({
    actors: { check: effect('check'), apply: effect('apply'), resolve: effect('resolve'), store: effect('store') },
    delays: { retry: 1 },
  });
  const actor = createActor(machine, { input: { step } }).start();
  await toPromise(actor).catch(() => undefined);
  return { calls, state: String(actor.getSnapshot().value), error: actor.getSnapshot().context.error };
}

test('a policy is checked, applied, recorded', async () => {
  const r = await run(undefined);
  assert.equal(r.calls, ['check', 'apply', 'store']);
  assert.is(r.state, 'succeeded');
});

test('an SQL error or a refusal ends the run: nothing is recorded, nothing retried', async () => {
  const sql = await run(undefined, { apply: () => new PolicyRefused('SQLSTATE 42P01: relation "x" does not exist') });
  assert.equal(sql.calls, ['check', 'apply !SQLSTATE 42P01: relation "x" does not exist']);
  assert.is(sql.state, 'failed');
  assert.match(sql.error ?? '', /42P01/);
  const applied = await run(undefined, { check: () => new PolicyRefused('policy p1 is applied to hippo already') });
  assert.equal(applied.calls, ['check !policy p1 is applied to hippo already']);
});

test('resumed while applying: a committed run is only recorded; one that did not commit runs again', async () => {
  assert.equal((await run('applying', { resolve: () => true })).calls, ['resolve true', 'store']);
  assert.equal((await run('applying', { resolve: () => false })).calls, ['resolve false', 'check', 'apply', 'store']);
  assert.equal((await run('recording')).calls, ['store']);
});

test('a connection lost while applying is resolved before anything runs again (the COMMIT may have gone through)', async () => {
  const lost = await run(undefined, { apply: (n) => (n === 1 ? new Error('Connection terminated unexpectedly') : undefined), resolve: () => true });
  assert.equal(lost.calls, ['check', 'apply !Connection terminated unexpectedly', 'resolve true', 'store']);
  const notCommitted = await run(undefined, { apply: (n) => (n === 1 ? new Error('Connection terminated unexpectedly') : undefined), resolve: () => false });
  assert.equal(notCommitted.calls, ['check', 'apply !Connection terminated unexpectedly', 'resolve false', 'check', 'apply', 'store']);
});

test('no ready primary is waited for, a bounded number of times', async () => {
  const later = await run(undefined, { check: (n) => (n < 3 ? new Error('cluster hippo has no ready primary') : undefined) });
  assert.equal(later.calls.filter((c) => c.startsWith('check')).length, 3);
  assert.is(later.state, 'succeeded');
  const never = await run(undefined, { check: () => new Error('cluster hippo has no ready primary') });
  assert.is(never.state, 'failed');
  assert.is(never.calls.length, POLICY_ATTEMPTS);
  assert.match(never.error ?? '', /no ready primary/);
});

test('schemas: apply names its clusters one way; spec.policies are resource names', () => {
  assert.match(JSON.stringify(policyApplyBody.safeParse({}).error?.issues), /a selector \(-s env=prod\) or cluster names, not both/);
  assert.match(JSON.stringify(policyApplyBody.safeParse({ selector: 'a=b', clusters: ['x'] }).error?.issues), /not both/);
  assert.ok(policyApplyBody.safeParse({ selector: 'env=dev', dryRun: true }).success);
  assert.match(JSON.stringify(pgClusterSpec.safeParse({ policies: ['Bad Name'] }).error?.issues), /DNS-1123 label/);
});

test.run();
