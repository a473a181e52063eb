/**
 * User changes (src/pg/users.ts) on real PostgreSQL 15, with the image's pg_hba.conf (md5, which answers SCRAM
 * for SCRAM verifiers): the role logs in with its password, and neither the password nor its verifier
 * reaches the server log even with log_statement = all.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { UserChange } from '../../src/crd/user.ts';
import { withInstance } from '../../src/pg/instance.ts';
import { passwordVerifier } from '../../src/pg/password.ts';
import { applyUserChange, listRoles } from '../../src/pg/users.ts';
import { loginAs } from '../harness/login.ts';
import { startPrimary, type PgServer } from '../harness/pg.ts';

interface Ctx {
  s: PgServer;
}
const test = suite<Ctx>('user changes on real PostgreSQL');

test.before(async (ctx) => {
  ctx.s = await startPrimary('users');
  writeFileSync(join(ctx.s.dir, 'data', 'pg_hba.conf'), 'local all all trust\nhost all all 127.0.0.1/32 md5\n');
  await withInstance(ctx.s.endpoint, async (c) => {
    await c.query("alter system set log_statement = 'all'");
    await c.query('select pg_reload_conf()');
  });
});

test.after(async (ctx) => {
  await ctx.s?.destroy();
});

const login = (s: PgServer, user: string, password: string) => loginAs('127.0.0.1', s.port, user, password, 'postgres');
const change = (s: PgServer, ch: UserChange, password: string | undefined, resumed = false, type: 'scram-sha-256' | 'md5' = 'scram-sha-256') =>
  withInstance(s.endpoint, (c) => applyUserChange(c, ch, password === undefined ? undefined : passwordVerifier(type, password, ch.username), resumed));

test('create, log in, refuse a second create, accept it resumed; the password and its verifier never reach the log', async ({ s }) => {
  const password = 'Alice-Pw-7f3k';
  await change(s, { action: 'create', username: 'alice', validUntil: 'infinity' }, password);
  assert.is(await login(s, 'alice', password), 'alice');
  assert.match(await login(s, 'alice', 'wrong'), /refused: password authentication failed/);
  const again = await change(s, { action: 'create', username: 'alice' }, password).catch((e: Error) => e.message);
  assert.match(String(again), /role alice already exists; change it with pgo update user/);
  await change(s, { action: 'create', username: 'alice' }, password, true);
  const verifier = await withInstance(s.endpoint, async (c) => (await c.query<{ p: string }>("select rolpassword as p from pg_authid where rolname = 'alice'")).rows[0]!.p);
  assert.match(verifier, /^SCRAM-SHA-256\$4096:/);
  const log = readFileSync(join(s.dir, 'log'), 'utf8');
  assert.match(log, /statement: select current_user/, 'statements are logged in this server');
  assert.not.ok(log.includes(password), 'the password is in the server log');
  assert.not.ok(log.includes(verifier.split('$')[2]!), 'the verifier is in the server log');
});

test('md5 password type logs in too; login off, expiry in the past and back', async ({ s }) => {
  await change(s, { action: 'create', username: 'bob' }, 'Bob-Pw-1', false, 'md5');
  assert.is(await login(s, 'bob', 'Bob-Pw-1'), 'bob');
  await change(s, { action: 'update', username: 'bob', login: false }, undefined);
  assert.match(await login(s, 'bob', 'Bob-Pw-1'), /refused: role "bob" is not permitted to log in/);
  await change(s, { action: 'update', username: 'bob', login: true, validUntil: '2001-01-01T00:00:00Z' }, undefined);
  assert.match(await login(s, 'bob', 'Bob-Pw-1'), /refused/);
  const rows = await withInstance(s.endpoint, listRoles);
  assert.equal(rows.find((r) => r.username === 'bob'), { username: 'bob', canLogin: true, validUntil: '2001-01-01T00:00:00Z' });
  assert.equal(rows.find((r) => r.username === 'alice'), { username: 'alice', canLogin: true });
  assert.not.ok(rows.some((r) => r.username.startsWith('pg_')));
  await change(s, { action: 'update', username: 'bob', validUntil: 'infinity' }, 'Bob-Pw-2');
  assert.is(await login(s, 'bob', 'Bob-Pw-2'), 'bob');
  assert.match(await login(s, 'bob', 'Bob-Pw-1'), /refused/);
});

test('update of a missing role and delete of one that owns objects are refused with the reason; delete is idempotent when resumed', async ({ s }) => {
  assert.match(String(await change(s, { action: 'update', username: 'nobody', login: true }, undefined).catch((e: Error) => e.message)), /role nobody does not exist; create it with pgo create user/);
  await withInstance(s.endpoint, (c) => c.query('create table owned_by_alice (id int); alter table owned_by_alice owner to alice'));
  const owning = String(await change(s, { action: 'delete', username: 'alice' }, undefined).catch((e: Error) => e.message));
  assert.match(owning, /role "alice" cannot be dropped because some objects depend on it \(SQLSTATE 2BP01\): owner of table owned_by_alice/);
  assert.is(await login(s, 'alice', 'Alice-Pw-7f3k'), 'alice', 'a failed change changed nothing');
  await change(s, { action: 'delete', username: 'bob' }, undefined);
  assert.not.ok((await withInstance(s.endpoint, listRoles)).some((r) => r.username === 'bob'));
  assert.match(String(await change(s, { action: 'delete', username: 'bob' }, undefined).catch((e: Error) => e.message)), /role bob does not exist/);
  await change(s, { action: 'delete', username: 'bob' }, undefined, true);
});

test.run();
