import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor, fromPromise, toPromise } from 'xstate';
import { userChange } from '../../src/crd/user.ts';
import { userMachine } from '../../src/machines/user.ts';
import { userStatements } from '../../src/pg/users.ts';
import { userCreateBody, userUpdateBody } from '../../src/api/schemas.ts';

test('statements: a verifier as a literal, login and expiry; nothing for an update without options', () => {
  assert.equal(userStatements({ action: 'create', username: 'alice', validUntil: 'infinity' }, false, 'SCRAM-SHA-256$4096:x$y:z', false), ["create role alice login password 'SCRAM-SHA-256$4096:x$y:z' valid until 'infinity'"]);
  assert.equal(userStatements({ action: 'create', username: 'alice' }, true, 'v', true), ["alter role alice login password 'v'"]);
  assert.equal(userStatements({ action: 'update', username: 'alice', login: false }, true, undefined, false), ['alter role alice nologin']);
  assert.equal(userStatements({ action: 'update', username: 'alice' }, true, undefined, false), []);
  assert.equal(userStatements({ action: 'delete', username: 'alice' }, true, undefined, false), ['drop role alice']);
  assert.throws(() => userStatements({ action: 'create', username: 'alice' }, true, 'v', false), /already exists/);
  assert.throws(() => userStatements({ action: 'update', username: 'alice' }, false, 'v', false), /does not exist/);
});

test('schemas: system accounts, bad names and contradictory flags are refused with what to do', () => {
  for (const username of ['postgres', 'replicator']) assert.match(JSON.stringify(userChange.safeParse({ action: 'create', username }).error?.issues), /system account the operator relies on/);
  assert.match(JSON.stringify(userCreateBody.safeParse({ username: 'Bob' }).error?.issues), /lower-case SQL identifier/);
  assert.match(JSON.stringify(userCreateBody.safeParse({ username: 'bob', validDays: 3, validAlways: true }).error?.issues), /--valid-days or --valid-always, not both/);
  assert.match(JSON.stringify(userUpdateBody.safeParse({ username: 'bob' }).error?.issues), /nothing to change/);
  assert.match(JSON.stringify(userUpdateBody.safeParse({ expired: 5, password: 'x', rotatePassword: false }).error?.issues), /one --password for many users/);
  assert.match(JSON.stringify(userUpdateBody.safeParse({ rotatePassword: true }).error?.issues), /give --username, or --expired N/);
  assert.ok(userUpdateBody.safeParse({ expired: 5, rotatePassword: true }).success);
  assert.match(JSON.stringify(userChange.safeParse({ action: 'update', username: 'bob', validUntil: 'tomorrow' }).error?.issues), /'infinity' or a time/);
});

/** Runs the machine with effects that log their names; `fail` names one that throws. */
async function run(step: 'applying' | 'recording' | undefined, fail?: string) {
  const calls: string[] = [];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- one stand-in for effects of different inputs
  const effect = (name: string) => fromPromise<void, any>(({ input }: { input: { step?: string; resumed?: boolean } | undefined }) => {
    calls.push(input?.step ? `record ${input.step}` : `${name}${input?.resumed ? ' resumed' : ''}`);
    return fail === name ? Promise.reject(new Error(`${name} broke`)) : Promise.resolve();
  });
  const machine = userMachine.provide({ actors: { check: effect('check'), record: effect('record'), apply: effect('apply'), store: effect('store'), clean: effect('clean') } });
  const actor = createActor(machine, { input: { step } }).start();
  await toPromise(actor).catch(() => undefined);
  return { calls, state: String(actor.getSnapshot().value), error: actor.getSnapshot().context.error };
}

test('machine: each step is recorded before its effect; a resumed change applies again as its own; after the SQL only the Secrets are left', async () => {
  assert.equal((await run(undefined)).calls, ['check', 'record applying', 'apply', 'record recording', 'store', 'clean']);
  assert.equal((await run('applying')).calls, ['check resumed', 'record applying', 'apply resumed', 'record recording', 'store', 'clean']);
  assert.equal((await run('recording')).calls, ['store', 'clean']);
  const failed = await run(undefined, 'apply');
  assert.is(failed.state, 'failed');
  assert.is(failed.error, 'apply broke');
  assert.equal(failed.calls, ['check', 'record applying', 'apply']);
});

test.run();
