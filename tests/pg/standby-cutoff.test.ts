/**
 * The failover's data-plane steps against real PostgreSQL 15 in synchronous mode: the operator's long-lived
 * connections (reused, kept through a short stall, replaced after a long one), a standby cut off its primary
 * (its WAL receiver stops, so it no longer acknowledges the primary's synchronous commits), then pointed at
 * a primary's address (it streams again and the waiting commit is acknowledged), then given the image's
 * upstream back.
 */
import { chownSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { lsnValue } from '../../src/cluster/failover.ts';
import { Connections, NoAnswer, SHARED_CALL_MAX_MS, STALLED_KEEP_MS } from '../../src/pg/connections.ts';
import { attachStandby, detachStandby, instanceState, resetRestoreCommand, resetUpstream, withInstance } from '../../src/pg/instance.ts';
import { PASSWORD, startPrimary, startStandby, type PgServer } from '../harness/pg.ts';
import { waitFor } from '../harness/wait.ts';

interface Ctx {
  primary: PgServer;
  standby: PgServer;
  connections: Connections;
}
const test = suite<Ctx>('cutting a synchronous standby off its primary and attaching it again');

const state = (s: PgServer) => withInstance(s.endpoint, instanceState);
const pid = (c: pg.Client) => c.query<{ pid: number }>('select pg_backend_pid() as pid').then((r) => r.rows[0]!.pid);

test.before(async (ctx) => {
  ctx.primary = await startPrimary('sync-primary');
  ctx.standby = await startStandby(ctx.primary, 'sync-standby');
  ctx.connections = new Connections();
  await withInstance(ctx.primary.endpoint, async (c) => {
    await c.query(`alter system set synchronous_standby_names = 'ANY 1 (*)'`);
    await c.query('select pg_reload_conf()');
    await c.query('create table t (v int primary key)');
  });
  await waitFor('the standby is synchronous', () => withInstance(ctx.primary.endpoint, async (c) =>
    (await c.query(`select 1 from pg_stat_replication where sync_state = 'quorum'`)).rowCount ? true : undefined), 15_000, 100);
});

test.after(async (ctx) => {
  ctx.connections?.closeAll();
  if (process.env.PGO_KEEP_PG) return;
  for (const s of [ctx.primary, ctx.standby]) await s?.destroy();
});

test('one long-lived connection per address: calls reuse it', async (ctx) => {
  const first = await ctx.connections.run(ctx.primary.endpoint, pid, 2000);
  const second = await ctx.connections.run(ctx.primary.endpoint, pid, 2000);
  assert.is(first, second, 'the same backend answered both');
  assert.is(ctx.connections.answers('127.0.0.1', ctx.primary.port), true);
});

test('a long call (a promote, a checkpoint) has a connection of its own: short probes beside it neither wait for it nor close it', async (ctx) => {
  const shared = await ctx.connections.run(ctx.primary.endpoint, pid, 2000);
  const long = ctx.connections.run(ctx.primary.endpoint, async (c) => ({ pid: await pid(c), slept: await c.query('select pg_sleep(2)') }), SHARED_CALL_MAX_MS + 1000);
  await sleep(200);
  const started = Date.now();
  for (let i = 0; i < 5; i++) assert.is(await ctx.connections.run(ctx.primary.endpoint, pid, 300), shared, 'probes keep the shared connection');
  assert.ok(Date.now() - started < 1000, `probes waited ${Date.now() - started} ms`);
  const done = await long;
  assert.is.not(done.pid, shared, 'the long call ran on another backend');
});

test('a frozen server: the call fails within its timeout and the address is marked as not answering; a short stall keeps the connection (it answers on it once thawed), a long one gets a new one', async (ctx) => {
  const backend = await ctx.connections.run(ctx.standby.endpoint, pid, 2000);
  process.kill(backend, 'SIGSTOP');
  try {
    const started = Date.now();
    const err = await ctx.connections.run(ctx.standby.endpoint, (c) => c.query('select 1'), 500).catch((e: unknown) => e);
    assert.instance(err, NoAnswer);
    assert.ok(Date.now() - started < 1500, `gave up after ${Date.now() - started} ms`);
    assert.is(ctx.connections.answers('127.0.0.1', ctx.standby.port), false);
  } finally {
    process.kill(backend, 'SIGCONT');
  }
  const thawed = await ctx.connections.run(ctx.standby.endpoint, pid, 2000);
  assert.is(thawed, backend, 'the same backend answers once thawed: no new connection to open on a loaded server');

  // Only this backend is stopped: a new connection gets another one, which answers.
  process.kill(backend, 'SIGSTOP');
  try {
    const started = Date.now();
    let answered: number | undefined;
    while (answered === undefined && Date.now() - started < STALLED_KEEP_MS + 3000) {
      const r = await ctx.connections.run(ctx.standby.endpoint, pid, 500).catch((e: unknown) => e);
      if (typeof r === 'number') {
        assert.is.not(r, backend, 'a new backend');
        answered = Date.now() - started;
      } else assert.instance(r, NoAnswer);
    }
    assert.ok(answered !== undefined && answered >= STALLED_KEEP_MS - 500, `replaced after ${answered} ms: not before the connection stalled ${STALLED_KEEP_MS} ms`);
  } finally {
    process.kill(backend, 'SIGCONT');
  }
});

test("a timeout that fires late (the operator's event loop was held up) does not beat an answer already received", async (ctx) => {
  const holdLoop = (ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end);
  };
  // The answer comes after ~50 ms; the loop is held from 10 ms to 400 ms (in its check phase), so both the
  // answer and the 200 ms timeout are waiting when it turns again, and timers run before the socket is read.
  const answer = ctx.connections.run(ctx.primary.endpoint, (c) => c.query('select pg_sleep(0.05)').then(() => 'answered'), 200);
  setTimeout(() => setImmediate(() => holdLoop(390)), 10);
  assert.is(await answer.catch((e: unknown) => String(e)), 'answered');
});

test('cut off: the WAL receiver stops, its received position no longer moves and a synchronous commit is not acknowledged', async (ctx) => {
  const detached = await ctx.connections.run(ctx.standby.endpoint, detachStandby, 6000);
  assert.is(detached.inRecovery, true);
  assert.is(detached.upstream, '', 'the operator cleared primary_conninfo');
  assert.is(detached.streaming, false);
  // A synchronous commit on the primary now waits: no standby acknowledges it.
  const writer = new pg.Client({ ...ctx.primary.endpoint, user: 'postgres', database: 'postgres' });
  await writer.connect();
  let acknowledged = false;
  const commit = writer.query('insert into t values (1)').then(() => (acknowledged = true));
  await sleep(2000);
  assert.is(acknowledged, false, 'the commit waits for a synchronous standby');
  const after = await state(ctx.standby);
  assert.is(after.receivedLsn, detached.receivedLsn, 'nothing more received');

  // Attached to the primary's address: it streams again and the commit is acknowledged.
  const passfile = join(ctx.standby.dir, 'pgpass');
  writeFileSync(passfile, `*:*:*:postgres:${PASSWORD}\n`, { mode: 0o600 });
  chownSync(passfile, 101, 104);
  await ctx.connections.run(ctx.standby.endpoint, (c) => attachStandby(c, `host=127.0.0.1 port=${ctx.primary.port} user=postgres passfile=${passfile} application_name=sync-standby`), 3000);
  await waitFor('the commit is acknowledged', () => Promise.resolve(acknowledged || undefined), 15_000, 50);
  await commit;
  await writer.end();
  const attached = await state(ctx.standby);
  assert.is(attached.upstream, '127.0.0.1', 'the upstream the operator set is reported (its host only)');
  assert.is(attached.streaming, true);
  assert.is(attached.archiveOff, true, 'no archive fetches until the upkeep gives restore_command back');
  assert.ok(attached.heardMsAgo !== undefined && attached.heardMsAgo < 5000, `heard from its upstream ${attached.heardMsAgo} ms ago`);
  assert.ok(lsnValue(attached.receivedLsn) > lsnValue(detached.receivedLsn));
  await ctx.connections.run(ctx.standby.endpoint, resetRestoreCommand, 3000);
  const restored = await state(ctx.standby);
  assert.is(restored.archiveOff, false);
  assert.is(restored.streaming, true, 'giving restore_command back does not interrupt streaming');
  assert.not.match(readFileSync(join(ctx.standby.dir, 'data', 'postgresql.auto.conf'), 'utf8'), PASSWORD, 'no password in postgresql.auto.conf');
});

test('the image\'s upstream back: the override is gone and the standby streams through it', async (ctx) => {
  await ctx.connections.run(ctx.standby.endpoint, resetUpstream, 3000);
  await waitFor('streaming again', async () => {
    const s = await state(ctx.standby);
    return s.upstream === undefined && s.streaming ? true : undefined;
  }, 15_000, 100);
});

test.run();
