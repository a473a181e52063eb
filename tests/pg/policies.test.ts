/**
 * Policy runs (src/pg/policies.ts) on real PostgreSQL 15: one transaction whose id is known before the SQL
 * runs; an SQL error rolls everything back with its SQLSTATE; txid_status tells a committed run from one
 * that was not; a policy that commits on its own is caught.
 */
import type pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { withInstance } from '../../src/pg/instance.ts';
import { PolicyFailed, runPolicy, transactionStatus } from '../../src/pg/policies.ts';
import { startPrimary, type PgServer } from '../harness/pg.ts';

interface Ctx {
  s: PgServer;
}
const test = suite<Ctx>('policy runs on real PostgreSQL');

test.before(async (ctx) => {
  ctx.s = await startPrimary('policies');
});

test.after(async (ctx) => {
  await ctx.s?.destroy();
});

const on = <T>(s: PgServer, work: (c: pg.Client) => Promise<T>) => withInstance(s.endpoint, work, 10_000);
const tables = (s: PgServer) => on(s, async (c) => (await c.query<{ t: string }>("select tablename as t from pg_tables where schemaname = 'public' order by 1")).rows.map((r) => r.t));

test('a policy runs in one transaction; its id, known before the SQL ran, reads committed', async ({ s }) => {
  let xid: string | undefined;
  await on(s, (c) => runPolicy(c, 'create table audit_log (id int); insert into audit_log values (1), (2);', (x) => Promise.resolve(void (xid = x))));
  assert.ok(xid && /^\d+$/.test(xid), `xid ${xid}`);
  assert.equal(await tables(s), ['audit_log']);
  assert.is(await on(s, (c) => transactionStatus(c, xid!)), 'committed');
});

test('an SQL error rolls the whole policy back and says its SQLSTATE; the transaction reads aborted', async ({ s }) => {
  let xid: string | undefined;
  const err = await on(s, (c) => runPolicy(c, 'create table half_done (id int);\nselect * from no_such_table;', (x) => Promise.resolve(void (xid = x)))).catch((e: unknown) => e);
  assert.instance(err, PolicyFailed);
  assert.is((err as PolicyFailed).sqlstate, '42P01');
  assert.match((err as PolicyFailed).message, /SQLSTATE 42P01: relation "no_such_table" does not exist/);
  assert.not.ok((await tables(s)).includes('half_done'), 'nothing of it stays');
  assert.is(await on(s, (c) => transactionStatus(c, xid!)), 'aborted');
});

test('a run whose recording step fails never commits', async ({ s }) => {
  const err = await on(s, (c) => runPolicy(c, 'create table never (id int);', () => Promise.reject(new Error('the task could not be written')))).catch((e: unknown) => e);
  assert.match(String(err), /the task could not be written/);
  assert.not.ok((await tables(s)).includes('never'));
});

test('a policy that ends the transaction itself is refused, saying what that did', async ({ s }) => {
  const err = await on(s, (c) => runPolicy(c, 'create table own_commit (id int); commit; create table after_commit (id int);', () => Promise.resolve())).catch((e: unknown) => e);
  assert.instance(err, PolicyFailed);
  assert.match((err as Error).message, /ended the transaction it runs in/);
});

test('an xid still open in another session reads in progress', async ({ s }) => {
  const held = await on(s, async (c) => {
    let xid = '';
    const run = runPolicy(c, 'select pg_sleep(1.5);', (x) => Promise.resolve(void (xid = x)));
    await new Promise((r) => setTimeout(r, 500));
    const during = await on(s, (other) => transactionStatus(other, xid));
    await run;
    return during;
  });
  assert.is(held, 'in progress');
});

test.run();
