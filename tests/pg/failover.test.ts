/**
 * The data-plane side of failover against real PostgreSQL 15 processes: the operator's instance queries,
 * candidate choice from real LSNs, promotion, a standby following the new timeline, and a former primary
 * rewound (pg_rewind, as the image's entrypoint does) so that what only it had is gone and it follows.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { chooseTarget } from '../../src/cluster/failover.ts';
import type { Observation } from '../../src/cluster/observation.ts';
import { checkpoint, instanceState, promote, standbyLag, withInstance } from '../../src/pg/instance.ts';
import { PASSWORD, followConf, startPrimary, startStandby, type PgServer } from '../harness/pg.ts';
import { waitFor } from '../harness/wait.ts';

interface Ctx {
  primary: PgServer;
  a: PgServer;
  b: PgServer;
}
const test = suite<Ctx>('failover on real PostgreSQL');

const sql = (s: PgServer, text: string) => withInstance(s.endpoint, async (c) => (await c.query<{ n: number }>(text)).rows);
const state = (s: PgServer) => withInstance(s.endpoint, instanceState);
const controlState = async (s: PgServer) => (await s.exec('pg_controldata', ['-D', `${s.dir}/data`])).match(/Database cluster state:\s+(.*)/)![1]!.trim();

test.before(async (ctx) => {
  ctx.primary = await startPrimary('primary');
  ctx.a = await startStandby(ctx.primary, 'a');
  ctx.b = await startStandby(ctx.primary, 'b');
  await sql(ctx.primary, 'create table t (v int primary key)');
});

test.after(async (ctx) => {
  if (process.env.PGO_KEEP_PG) return;
  for (const s of [ctx.primary, ctx.a, ctx.b]) await s?.destroy();
});

test('instance state: the primary is writable on timeline 1, standbys receive and replay its WAL', async (ctx) => {
  await sql(ctx.primary, 'insert into t select generate_series(1, 1000)');
  const p = await state(ctx.primary);
  assert.is(p.inRecovery, false);
  assert.is(p.timeline, 1);
  assert.ok(p.currentLsn);
  for (const s of [ctx.a, ctx.b]) {
    await waitFor(`${s.name} caught up`, async () => ((await state(s)).replayedLsn === (await state(ctx.primary)).currentLsn ? true : undefined), 15_000, 100);
    const st = await state(s);
    assert.is(st.inRecovery, true);
    assert.is(st.currentLsn, null);
  }
  const lags = await withInstance(ctx.primary.endpoint, standbyLag);
  assert.equal(lags.map((l) => l.applicationName).sort(), ['a', 'b']);
  assert.ok(lags.every((l) => l.state === 'streaming' && l.lagBytes >= 0));
});

test('the candidate with the most WAL received is chosen from real LSNs', async (ctx) => {
  // b is stopped (it receives nothing more) while a gets more WAL; b's state is what it last reported.
  const bState = await state(ctx.b);
  await ctx.b.stop();
  await sql(ctx.primary, 'insert into t select generate_series(1001, 2000)');
  await waitFor('a has the new rows', async () => ((await sql(ctx.a, 'select count(*)::int as n from t'))[0]!.n === 2000 ? true : undefined), 15_000, 100);
  const o: Observation = {
    primary: 'primary',
    instances: [
      { name: 'primary', ready: false, podName: 'p' },
      { name: 'b', ready: true, podName: 'b', pg: bState },
      { name: 'a', ready: true, podName: 'a', pg: await state(ctx.a) },
    ],
  };
  assert.ok(o.instances[2]!.pg!.receivedLsn! > bState.receivedLsn! || o.instances[2]!.pg!.receivedLsn!.length > bState.receivedLsn!.length);
  assert.equal(chooseTarget(o, 'primary'), { target: 'a' });
  await ctx.b.start();
});

test('promote: the standby leaves recovery on a new timeline, in its control file too after the relabel step\'s checkpoint; promoting again changes nothing', async (ctx) => {
  await ctx.primary.stop('immediate'); // the primary "crashes"
  await withInstance(ctx.a.endpoint, promote, 35_000);
  await withInstance(ctx.a.endpoint, checkpoint);
  const a = await state(ctx.a);
  assert.is(a.inRecovery, false);
  assert.is(a.timeline, 2);
  // pg_rewind reads the source's control file: it must name timeline 2 right after the promotion.
  assert.match(await ctx.a.exec('pg_controldata', ['-D', `${ctx.a.dir}/data`]), /Latest checkpoint's TimeLineID:\s+2/);
  await withInstance(ctx.a.endpoint, promote, 35_000);
  assert.is((await state(ctx.a)).timeline, 2);
  await sql(ctx.a, 'insert into t values (5000)');
});

test('another standby follows the new primary onto its timeline (recovery_target_timeline = latest)', async (ctx) => {
  await ctx.b.stop();
  followConf(ctx.b, ctx.a);
  await ctx.b.start();
  await waitFor('b on timeline 2 with the new row', async () => {
    const rows = await sql(ctx.b, 'select count(*)::int as n from t where v = 5000').catch(() => [{ n: 0 }]);
    return rows[0]!.n === 1 && (await state(ctx.b)).timeline === 2 ? true : undefined;
  }, 30_000, 200);
});

test('the control file tells a crashed primary from a standby (what the entrypoint checks before pg_rewind)', async (ctx) => {
  assert.is(await controlState(ctx.primary), 'in production'); // crashed while primary
  await ctx.b.stop();
  assert.is(await controlState(ctx.b), 'shut down in recovery');
  await ctx.b.start();
});

test('pg_rewind: the former primary drops what only it had and follows the new primary', async (ctx) => {
  // Writes only the old primary saw: it runs alone for a moment (a partitioned primary taking writes).
  await ctx.primary.start();
  await sql(ctx.primary, 'insert into t values (9999)');
  await ctx.primary.stop();
  assert.is(await controlState(ctx.primary), 'shut down');
  const rewound = await ctx.primary.exec('pg_rewind', ['-D', `${ctx.primary.dir}/data`, `--source-server=host=127.0.0.1 port=${ctx.a.port} user=postgres dbname=postgres password=${PASSWORD}`]);
  assert.match(rewound, /servers diverged at WAL location/, rewound);
  followConf(ctx.primary, ctx.a);
  await ctx.primary.start();
  await waitFor('the old primary follows a', async () => {
    const s = await state(ctx.primary).catch(() => undefined);
    return s?.inRecovery && s.timeline === 2 ? true : undefined;
  }, 30_000, 200);
  await sql(ctx.a, 'insert into t values (6000)');
  await waitFor('the old primary replays new writes', async () => ((await sql(ctx.primary, 'select count(*)::int as n from t where v = 6000'))[0]!.n === 1 ? true : undefined), 15_000, 100);
  assert.equal(await sql(ctx.primary, 'select count(*)::int as n from t where v = 9999'), [{ n: 0 }], 'the diverged write is gone');
});

test('a server that freezes mid-query does not hang the operator: the call fails and returns', async (ctx) => {
  const postmaster = Number(readFileSync(`${ctx.b.dir}/data/postmaster.pid`, 'utf8').split('\n')[0]);
  const pids: number[] = [];
  try {
    const call = withInstance(ctx.b.endpoint, async (c) => {
      // Every process of the server, this connection's backend included (it exists once connected).
      pids.push(postmaster, ...execFileSync('pgrep', ['-P', String(postmaster)], { encoding: 'utf8' }).trim().split('\n').map(Number));
      for (const pid of pids) process.kill(pid, 'SIGSTOP');
      return c.query('select 1');
    });
    // Bounded only so that a hang fails the test instead of stalling the suite; the query timeout is 3.5 s.
    // (Liveness of the whole call, closing included; the close is not awaited by design, see withInstance.)
    const outcome = await Promise.race([call.then(() => 'answered', () => 'failed'), sleep(20_000).then(() => 'hung')]);
    assert.is(outcome, 'failed');
  } finally {
    for (const pid of pids) process.kill(pid, 'SIGCONT');
  }
});

test.run();
