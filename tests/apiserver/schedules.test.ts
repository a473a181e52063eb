import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CoreV1Api } from '@kubernetes/client-node';
import { Schedules } from '../../src/actors/schedules.ts';
import { SCHEDULE_LABEL } from '../../src/backrest/schedule-plan.ts';
import { SCHEDULE_MESSAGES } from '../../src/crd/schedule.ts';
import type { PgBackupResource, PgClusterResource } from '../../src/crd/types.ts';
import { CustomResources } from '../../src/k8s/custom.ts';
import { EventRecorder } from '../../src/k8s/events.ts';
import { startApi, type ApiHarness } from '../harness/api.ts';
import { waitFor } from '../harness/wait.ts';

// `pgo create/show/delete schedule` through the API on a real kube-apiserver, and the Schedules actor
// with a clock the test moves: runs at due times, a skipped run, an outage over several due times.
// Nothing runs the pgbackups here (no kubelets): the test sets their phase as the Backups actor would.
interface Ctx {
  h: ApiHarness;
  dir: string;
  env: NodeJS.ProcessEnv;
  clusters: CustomResources<PgClusterResource>;
  backups: CustomResources<PgBackupResource>;
  now: Date;
  schedules: Schedules;
  cache: { clusters: PgClusterResource[]; backups: PgBackupResource[] };
  logs: string[];
}
const test = suite<Ctx>('backup schedules: pgo, the API and the Schedules actor');
const pgoBin = fileURLToPath(new URL('../../cli/pgo', import.meta.url));
const NS = 'team-s';

function pgo(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(pgoBin, args, { env, timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

/** One pass of the actor at `iso`, with fresh lists (the operator's informers). */
async function tickAt(ctx: Ctx, iso: string): Promise<void> {
  ctx.now = new Date(iso);
  ctx.cache.clusters = await ctx.clusters.list(NS);
  ctx.cache.backups = await ctx.backups.list(NS);
  await ctx.schedules.tick();
}

const mineOf = async (ctx: Ctx, cluster: string) => (await ctx.backups.list(NS)).filter((b) => b.spec.clusterName === cluster).map((b) => b.metadata.name).sort();
const entryOf = async (ctx: Ctx, cluster: string, name: string) => (await ctx.clusters.get(NS, cluster)).status?.backrest?.schedules?.find((e) => e.name === name);
const finish = (ctx: Ctx, name: string, phase: 'Succeeded' | 'Failed', completionTime: string) => ctx.backups.updateStatus(NS, name, () => ({ phase, completionTime }));

test.before(async (ctx) => {
  ctx.h = await startApi([NS]);
  ctx.dir = mkdtempSync(join(tmpdir(), 'pgo-schedules-'));
  writeFileSync(join(ctx.dir, 'ca.crt'), ctx.h.api.tls.cert);
  writeFileSync(join(ctx.dir, 'pgouser'), `admin:${ctx.h.adminPassword}\n`, { mode: 0o600 });
  ctx.env = { PATH: process.env.PATH, HOME: ctx.dir, PGO_APISERVER_URL: ctx.h.api.url, PGO_CA_CERT: join(ctx.dir, 'ca.crt'), PGOUSER: join(ctx.dir, 'pgouser'), PGO_NAMESPACE: NS };
  ctx.clusters = new CustomResources<PgClusterResource>(ctx.h.cp.kubeconfig, 'pgclusters');
  ctx.backups = new CustomResources<PgBackupResource>(ctx.h.cp.kubeconfig, 'pgbackups');
  await waitFor('the pgbackups storage', async () => (await ctx.backups.listAll(), true), 30_000, 100);
  ctx.now = new Date('2026-01-10T12:00:00Z');
  ctx.cache = { clusters: [], backups: [] };
  ctx.logs = [];
  ctx.schedules = new Schedules({
    clusters: ctx.clusters,
    backups: ctx.backups,
    events: new EventRecorder(ctx.h.cp.kubeconfig, (l) => ctx.logs.push(l)),
    clusterList: () => ctx.cache.clusters,
    backupList: () => ctx.cache.backups,
    log: (l) => ctx.logs.push(l),
    now: () => ctx.now,
  });
});
test.after(async (ctx) => {
  await ctx.h?.stop();
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

test('pgo create schedule records it in spec.backrest.schedules; bad input is refused with the schema messages', async (ctx) => {
  const { env } = ctx;
  for (const name of ['hippo', 'zebra']) assert.is((await pgo(env, 'create', 'cluster', name, '--shutdown')).code, 0);
  const made = await pgo(env, 'create', 'schedule', 'hippo', '--schedule', '0 1 * * *', '--schedule-type', 'pgbackrest', '--pgbackrest-backup-type', 'full',
    '--time-zone', 'Europe/Berlin', '--schedule-name', 'nightly', '--schedule-opts', '--start-fast');
  assert.is(made.code, 0, made.stderr);
  assert.is(made.stdout.trim(), 'created schedule nightly for cluster hippo');
  const c = await ctx.clusters.get(NS, 'hippo');
  assert.equal(c.spec.backrest?.schedules, [{ name: 'nightly', schedule: '0 1 * * *', timeZone: 'Europe/Berlin', type: 'pgbackrest', backupType: 'full', options: '--start-fast' }]);
  // v4's default name; a pgdump schedule is accepted (its backups say honestly that pgdump is not there yet).
  const dump = await pgo(env, 'create', 'schedule', 'zebra', '--schedule', '0 1 * * *', '--schedule-type', 'pgdump', '-d', 'appdb');
  assert.is(dump.stdout.trim(), 'created schedule zebra-pgdump for cluster zebra', dump.stderr);

  const bad = async (args: string[], message: string | RegExp) => {
    const r = await pgo(env, 'create', 'schedule', 'hippo', ...args);
    assert.is.not(r.code, 0, `${args.join(' ')} was accepted`);
    if (typeof message === 'string') assert.ok(r.stderr.includes(message), r.stderr);
    else assert.match(r.stderr, message);
  };
  await bad(['--schedule', '61 * * * *', '--pgbackrest-backup-type', 'full'], `body.schedule: ${SCHEDULE_MESSAGES.cron}`);
  await bad(['--schedule', '0 0 1 * * *', '--pgbackrest-backup-type', 'full'], SCHEDULE_MESSAGES.cron);
  await bad(['--schedule', '0 1 * * *', '--pgbackrest-backup-type', 'full', '--time-zone', 'Mars/Olympus'], `body.timeZone: ${SCHEDULE_MESSAGES.timeZone}`);
  await bad(['--schedule', '0 1 * * *'], `body.pgbackrestBackupType: ${SCHEDULE_MESSAGES.backupType}`);
  await bad(['--schedule', '0 1 * * *', '--pgbackrest-backup-type', 'full', '--schedule-opts', '--repo1-path=/x'], /option --repo1-path is not allowed/);
  await bad(['--schedule', '0 1 * * *', '--pgbackrest-backup-type', 'full', '--schedule-name', 'nightly'], 'schedule nightly already exists for cluster hippo');
  await bad(['--pgbackrest-backup-type', 'full'], '--schedule "<cron>" is required');
  assert.is((await ctx.clusters.get(NS, 'hippo')).spec.backrest?.schedules?.length, 1, 'a refused request changes nothing');
});

test('the actor: first sight, two due times, a skipped run, an outage over several due times', async (ctx) => {
  await tickAt(ctx, '2026-01-10T12:00:00Z');
  // 01:00 Berlin in winter is 00:00Z; nothing is backfilled for the schedule's first sight.
  assert.equal(await entryOf(ctx, 'hippo', 'nightly'), { name: 'nightly', nextRun: '2026-01-11T00:00:00.000Z', missedRuns: 0 });
  assert.equal(await mineOf(ctx, 'hippo'), []);

  await tickAt(ctx, '2026-01-11T00:00:30Z');
  assert.equal(await mineOf(ctx, 'hippo'), ['hippo-nightly-202601110000']);
  const b1 = await ctx.backups.get(NS, 'hippo-nightly-202601110000');
  assert.equal(b1.spec, { clusterName: 'hippo', type: 'full', options: '--start-fast', schedule: 'nightly' });
  assert.is(b1.metadata.labels?.[SCHEDULE_LABEL], 'nightly');
  assert.is(b1.metadata.labels?.['pg-operator.dev/cluster'], 'hippo');
  assert.is(b1.metadata.ownerReferences?.[0]?.name, 'hippo');
  await finish(ctx, b1.metadata.name, 'Succeeded', '2026-01-11T00:20:00.000Z');

  await tickAt(ctx, '2026-01-12T00:01:00Z');
  assert.equal(await mineOf(ctx, 'hippo'), ['hippo-nightly-202601110000', 'hippo-nightly-202601120000']);
  assert.equal(await entryOf(ctx, 'hippo', 'nightly'), {
    name: 'nightly', lastRun: '2026-01-12T00:00:00.000Z', lastBackup: 'hippo-nightly-202601120000', lastSuccess: '2026-01-11T00:20:00.000Z', nextRun: '2026-01-13T00:00:00.000Z', missedRuns: 0,
  });
  // The pgdump schedule of the other cluster (01:00 UTC) ran as well, as a pgdump pgbackup.
  assert.equal(await mineOf(ctx, 'zebra'), ['zebra-zebra-pgdump-202601110100']);
  assert.equal((await ctx.backups.get(NS, 'zebra-zebra-pgdump-202601110100')).spec, { clusterName: 'zebra', type: 'pgdump', database: 'appdb', schedule: 'zebra-pgdump' });

  // The second backup has not ended at the third due time: that run is skipped, and says why.
  await tickAt(ctx, '2026-01-13T00:00:10Z');
  assert.equal(await mineOf(ctx, 'hippo'), ['hippo-nightly-202601110000', 'hippo-nightly-202601120000']);
  const skipped = await entryOf(ctx, 'hippo', 'nightly');
  assert.is(skipped?.lastSkipped, 'a backup was still running: hippo-nightly-202601120000');
  assert.is(skipped?.missedRuns, 1);
  assert.is(skipped?.lastRun, '2026-01-12T00:00:00.000Z');
  assert.is(skipped?.nextRun, '2026-01-14T00:00:00.000Z');
  const core = ctx.h.cp.kubeconfig.makeApiClient(CoreV1Api);
  const events = () => core.listNamespacedEvent({ namespace: NS }).then((l) => l.items.filter((e) => e.involvedObject.name === 'hippo'));
  const warning = await waitFor('the ScheduledBackupSkipped event', async () => (await events()).find((e) => e.reason === 'ScheduledBackupSkipped'), 10_000, 100);
  assert.is(warning.type, 'Warning');
  assert.match(warning.message ?? '', /schedule nightly: the run due 2026-01-13T00:00:00.000Z was skipped: a backup was still running: hippo-nightly-202601120000/);
  await waitFor('two ScheduledBackup events', async () => (await events()).filter((e) => e.reason === 'ScheduledBackup' && e.type === 'Normal').length === 2, 10_000, 100);
  await finish(ctx, 'hippo-nightly-202601120000', 'Succeeded', '2026-01-12T00:30:00.000Z');

  // The operator was down from the 13th to the 17th: one run (the 17th), the 14th, 15th and 16th missed.
  await tickAt(ctx, '2026-01-17T00:00:05Z');
  assert.equal(await mineOf(ctx, 'hippo'), ['hippo-nightly-202601110000', 'hippo-nightly-202601120000', 'hippo-nightly-202601170000']);
  const after = await entryOf(ctx, 'hippo', 'nightly');
  assert.equal(after, {
    name: 'nightly', lastRun: '2026-01-17T00:00:00.000Z', lastBackup: 'hippo-nightly-202601170000', lastSuccess: '2026-01-12T00:30:00.000Z', nextRun: '2026-01-18T00:00:00.000Z',
    missedRuns: 4, lastSkipped: 'a backup was still running: hippo-nightly-202601120000',
  });

  // Again at the same time: nothing new. An operator that made the backup but stopped before writing status
  // (status as before the run) finds the pgbackup of that due time instead of making a second one.
  await tickAt(ctx, '2026-01-17T00:00:20Z');
  assert.equal(await entryOf(ctx, 'hippo', 'nightly'), after);
  await ctx.clusters.updateStatus(NS, 'hippo', (c) => ({ ...c.status, backrest: { ...c.status?.backrest, schedules: [{ ...after!, lastRun: '2026-01-12T00:00:00.000Z', nextRun: '2026-01-14T00:00:00.000Z', missedRuns: 1 }] } }));
  await tickAt(ctx, '2026-01-17T00:00:40Z');
  assert.is((await mineOf(ctx, 'hippo')).length, 3);
  assert.equal(await entryOf(ctx, 'hippo', 'nightly'), after);
  assert.equal(ctx.logs, [], ctx.logs.join('\n'));
});

test('pgo show schedule shows the schedules with their status; pgo delete schedule removes one and its status entry', async (ctx) => {
  const { env } = ctx;
  const shown = await pgo(env, 'show', 'schedule', 'hippo');
  assert.is(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /^NAME\s+CLUSTER\s+SCHEDULE\s+TZ\s+TYPE\s+LAST RUN\s+NEXT RUN\s+LAST SUCCESS\s+MISSED\n/);
  assert.match(shown.stdout, /nightly\s+hippo\s+0 1 \* \* \*\s+Europe\/Berlin\s+pgbackrest\/full\s+2026-01-17 00:00:00Z\s+2026-01-18 00:00:00Z\s+2026-01-12 00:30:00Z\s+4/);
  assert.match(shown.stdout, /nightly: last skipped run: a backup was still running: hippo-nightly-202601120000/);
  const all = JSON.parse((await pgo(env, 'show', 'schedule', '-o', 'json')).stdout) as { schedules: { name: string; cluster: string; missedRuns: number }[] };
  assert.equal(all.schedules.map((x) => `${x.cluster}/${x.name}`), ['hippo/nightly', 'zebra/zebra-pgdump']);
  const one = JSON.parse((await pgo(env, 'show', 'schedule', '--schedule-name', 'zebra-pgdump', '-o', 'json')).stdout) as { schedules: { name: string; type: string; database: string }[] };
  assert.equal(one.schedules.map((x) => [x.name, x.type, x.database]), [['zebra-pgdump', 'pgdump', 'appdb']]);

  const asked = await pgo(env, 'delete', 'schedule', 'hippo', '--schedule-name', 'nightly');
  assert.is(asked.code, 2, 'without a terminal it asks for --no-prompt');
  assert.is((await pgo(env, 'delete', 'schedule', 'hippo', '--no-prompt')).code, 2, '--schedule-name is required');
  const del = await pgo(env, 'delete', 'schedule', 'hippo', '--schedule-name', 'nightly', '--no-prompt');
  assert.is(del.code, 0, del.stderr);
  assert.is(del.stdout.trim(), 'deleted schedule nightly of cluster hippo');
  assert.equal((await ctx.clusters.get(NS, 'hippo')).spec.backrest?.schedules, []);
  await tickAt(ctx, '2026-01-17T00:01:00Z');
  const c = await ctx.clusters.get(NS, 'hippo');
  assert.is(c.status?.backrest?.schedules, undefined, 'the status entry of a deleted schedule goes');
  assert.is((await mineOf(ctx, 'hippo')).length, 3, 'the backups it made are kept');
  const again = await pgo(env, 'delete', 'schedule', 'hippo', '--schedule-name', 'nightly', '--no-prompt');
  assert.is(again.code, 1);
  assert.match(again.stderr, /schedule nightly of cluster hippo not found/);
  assert.match((await pgo(env, 'show', 'schedule', 'hippo')).stdout, /no schedules found/);
});

test.run();
