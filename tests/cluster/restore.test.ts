import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { pgHostArgs } from '../../src/backrest/objects.ts';
import { LABEL } from '../../src/cluster/names.ts';
import { API_VERSION } from '../../src/crd/resources.ts';
import type { PgBackupResource, PgClusterResource, PgReplicaResource, PgTaskResource } from '../../src/crd/types.ts';
import { CustomResources } from '../../src/k8s/custom.ts';
import { deleteNamespace, localCluster, prepareNamespace, type LocalCluster } from '../harness/cluster.ts';
import { freePort } from '../harness/net.ts';
import { startOperator, type OperatorProcess } from '../harness/operator.ts';
import { pgo, pgoEnv, pgoJson } from '../harness/pgo.ts';
import { waitFor } from '../harness/wait.ts';

// In-place restores end to end on real parts: pgBackRest restoring into a new instance of a real cluster
// from its repository host, real PostgreSQL replaying WAL to the target, the operator and the real pgo.
interface Ctx {
  c: LocalCluster;
  ns: string;
  op: OperatorProcess;
  opEnv: Record<string, string>;
  dir: string;
  env: NodeJS.ProcessEnv;
  clusters: CustomResources<PgClusterResource>;
  backups: CustomResources<PgBackupResource>;
  tasks: CustomResources<PgTaskResource>;
  replicas: CustomResources<PgReplicaResource>;
}
const test = suite<Ctx>('restore');
const LOG = '/tmp/pg-operator-restore-e2e.log';
const NAME = 'ivy';

const cluster = (ctx: Ctx) => ctx.clusters.get(ctx.ns, NAME);
const sql = (ctx: Ctx, instance: string, query: string) =>
  ctx.c.kubectl('-n', ctx.ns, 'exec', `deploy/${instance}`, '-c', 'database', '--', 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', '/var/run/postgresql', '-U', 'postgres', '-d', 'userdb', '-c', query).then((o) => o.trim());
const primarySql = async (ctx: Ctx, query: string) => sql(ctx, (await cluster(ctx)).status!.currentPrimary!, query);
const primarySqlOf = async (ctx: Ctx, name: string, query: string) => sql(ctx, (await ctx.clusters.get(ctx.ns, name)).status!.currentPrimary!, query);
const ready = (ctx: Ctx, n: number, timeoutMs = 300_000) =>
  waitFor(`${NAME} Ready with ${n} instances`, async () => {
    const c = await cluster(ctx).catch(() => undefined);
    return c?.status?.phase === 'Ready' && c.status.readyInstances === n && c.status.instances?.length === n ? c : undefined;
  }, timeoutMs, 2000);
const taskEnded = (ctx: Ctx, name: string, timeoutMs = 600_000) =>
  waitFor(`pgtask ${name} ended`, async () => {
    const t = await ctx.tasks.get(ctx.ns, name).catch(() => undefined);
    return t?.status?.phase === 'Succeeded' || t?.status?.phase === 'Failed' ? t : undefined;
  }, timeoutMs, 1000);
const rows = (ctx: Ctx) => primarySql(ctx, "select id || '|' || at from t order by id").then((o) => o.split('\n').filter(Boolean));
const restoreTask = (ctx: Ctx, name: string, restore: NonNullable<PgTaskResource['spec']['restore']>) =>
  ctx.tasks.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGTask', metadata: { name, namespace: ctx.ns }, spec: { type: 'restore', clusterName: NAME, restore } });
const restoringReplicas = async (ctx: Ctx) => (await ctx.replicas.list(ctx.ns)).filter((r) => r.spec.restore && r.metadata.labels?.[LABEL.restoring]);

test.before(async (ctx) => {
  ctx.c = localCluster();
  ctx.ns = `restore-${randomBytes(3).toString('hex')}`;
  await prepareNamespace(ctx.c, ctx.ns);
  const port = await freePort();
  ctx.opEnv = { PGO_API_PORT: String(port), PGO_ARCHIVE_CHECK_MS: '3000' };
  ctx.op = startOperator(ctx.c.kubeconfigPath, LOG, ctx.opEnv);
  ctx.dir = mkdtempSync(join(tmpdir(), 'pgo-restore-e2e-'));
  ctx.clusters = new CustomResources<PgClusterResource>(ctx.c.kubeconfig, 'pgclusters');
  ctx.backups = new CustomResources<PgBackupResource>(ctx.c.kubeconfig, 'pgbackups');
  ctx.tasks = new CustomResources<PgTaskResource>(ctx.c.kubeconfig, 'pgtasks');
  ctx.replicas = new CustomResources<PgReplicaResource>(ctx.c.kubeconfig, 'pgreplicas');
  ctx.env = await waitFor("the operator's Secrets", () => pgoEnv(ctx.c.core, ctx.dir, port, ctx.ns).catch(() => undefined), 60_000, 500);
  await waitFor('the API', async () => (await pgo(ctx.env, 'version')).code === 0, 60_000, 500);
  const r = await pgo(ctx.env, 'create', 'cluster', NAME, '--replica-count', '1');
  assert.is(r.code, 0, r.stderr);
  await ready(ctx, 2);
  await waitFor('the first full backup', async () => ((await ctx.backups.get(ctx.ns, `${NAME}-bootstrap`).catch(() => undefined))?.status?.phase === 'Succeeded' ? true : undefined), 300_000, 2000);
  await primarySql(ctx, 'create table t (id int primary key, at timestamptz not null default clock_timestamp())');
});

test.after(async (ctx) => {
  if (ctx.c && ctx.ns) await deleteNamespace(ctx.c, ctx.ns).catch((err: unknown) => console.error(String(err)));
  await ctx.op?.stop();
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

test('a target outside what the repository can reach is refused with nothing changed', async (ctx) => {
  const before = await cluster(ctx);
  for (const [target, why] of [['2099-01-01 00:00:00+00', /future/], ['2001-01-01 00:00:00+00', /before the oldest backup/]] as const) {
    const r = await pgo(ctx.env, 'restore', NAME, '--pitr-target', target, '--no-prompt');
    assert.is.not(r.code, 0, 'refused');
    assert.match(r.stderr + r.stdout, why);
  }
  const bad = await pgo(ctx.env, 'restore', NAME, '--backup-opts', '--pg1-path=/tmp', '--no-prompt');
  assert.is.not(bad.code, 0);
  assert.match(bad.stderr + bad.stdout, /pg1-path/);
  // The same through kubectl: the operator refuses the task before creating anything.
  await restoreTask(ctx, 'future', { type: 'time', target: '2099-01-01 00:00:00+00' });
  const t = await taskEnded(ctx, 'future', 60_000);
  assert.is(t.status?.phase, 'Failed');
  assert.match(t.status?.message ?? '', /future/);
  assert.equal(await restoringReplicas(ctx), []);
  const after = await cluster(ctx);
  assert.is(after.status?.currentPrimary, before.status?.currentPrimary);
  assert.equal((await ctx.tasks.list(ctx.ns)).filter((x) => x.spec.type === 'restore').map((x) => x.metadata.name), ['future'], 'pgo created no task');
});

test('a restore that fails part-way leaves the cluster on its original data, with the error', async (ctx) => {
  await primarySql(ctx, "insert into t (id) select generate_series(1, 3)");
  const before = await rows(ctx);
  const primary = (await cluster(ctx)).status?.currentPrimary;
  // A restore point that does not exist: pgBackRest restores, PostgreSQL replays the whole archive without
  // finding it and stops with FATAL. Nothing of the cluster may change.
  await restoreTask(ctx, 'no-such-point', { type: 'name', target: 'no-such-restore-point' });
  const t = await taskEnded(ctx, 'no-such-point');
  assert.is(t.status?.phase, 'Failed', t.status?.message);
  assert.match(t.status?.restore?.error ?? '', /recovery ended before configured recovery target was reached/);
  assert.match(t.status?.message ?? '', /original data/);
  await waitFor('the restore instance removed', async () => ((await ctx.replicas.list(ctx.ns)).some((r) => r.spec.restore) ? undefined : true), 120_000, 1000);
  const c = await ready(ctx, 2);
  assert.is(c.status?.currentPrimary, primary);
  assert.equal(await rows(ctx), before);
  assert.is(c.status?.restore?.phase, 'Failed');
});

test('pgo restore --pitr-target in place: exactly the rows committed before the target, operator killed mid-way', async (ctx) => {
  const inc = await pgoJson<{ name: string }>(ctx.env, 'backup', NAME);
  await waitFor('the incremental backup', async () => ((await ctx.backups.get(ctx.ns, inc.name))?.status?.phase === 'Succeeded' ? true : undefined), 300_000, 1000);
  await primarySql(ctx, 'insert into t (id) values (4)');
  await primarySql(ctx, 'insert into t (id) values (5)');
  await new Promise((r) => setTimeout(r, 1500));
  const target = await primarySql(ctx, "select to_char(now() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'");
  const kept = await rows(ctx);
  await new Promise((r) => setTimeout(r, 1500));
  await primarySql(ctx, 'insert into t (id) values (6)');
  await primarySql(ctx, 'delete from t where id = 1');
  const oldPrimary = (await cluster(ctx)).status!.currentPrimary!;
  const timeline = Number(await primarySql(ctx, 'select timeline_id from pg_control_checkpoint()'));

  const r = await pgo(ctx.env, 'restore', NAME, '--pitr-target', target, '--no-prompt');
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /backup/);
  const task = (await ctx.tasks.list(ctx.ns)).find((x) => x.spec.type === 'restore' && !x.status?.completionTime && x.metadata.name !== 'future' && x.metadata.name !== 'no-such-point');
  assert.ok(task, 'pgo created a restore task');
  assert.is(task.spec.restore?.type, 'time', '--pitr-target alone means a time target');
  // Killed while the restore instance restores or replays; the next operator carries on from the task's status.
  await waitFor('the restore under way', async () => {
    const t = await ctx.tasks.get(ctx.ns, task.metadata.name);
    return ['Restoring', 'Replaying', 'Verifying'].includes(t.status?.restore?.phase ?? '') ? true : undefined;
  }, 180_000, 250);
  await ctx.op.stop('SIGKILL');
  ctx.op = startOperator(ctx.c.kubeconfigPath, LOG, ctx.opEnv);
  const done = await taskEnded(ctx, task.metadata.name);
  assert.is(done.status?.phase, 'Succeeded', done.status?.message);
  assert.match(done.status?.restore?.backupSet ?? '', /^\d{8}-\d{6}F_\d{8}-\d{6}I$/, 'the incremental backup before the target');
  const c = await ready(ctx, 2);
  assert.is.not(c.status?.currentPrimary, oldPrimary);
  assert.is(c.status?.currentPrimary, done.status?.restore?.instance);
  assert.equal(await rows(ctx), kept, 'row by row: rows 1-5 with their commit times, not 6, and row 1 not deleted');
  assert.ok(Number(await primarySql(ctx, 'select timeline_id from pg_control_checkpoint()')) > timeline, 'a new timeline');
  // What a later start would read: the configuration files as they are now (no restart is needed for that).
  assert.is(await primarySql(ctx, "select count(*) from pg_file_settings where sourcefile like '%/postgresql.auto.conf' and (name like 'recovery\\_target%' or name = 'restore_command')"), '0', 'no recovery target left behind');
  // The re-created replica streams from the restored primary, and writes go on.
  await primarySql(ctx, 'insert into t (id) values (7)');
  const replica = c.status!.instances!.find((i) => i.role === 'replica')!.name;
  await waitFor('the replica has row 7', async () => ((await sql(ctx, replica, 'select count(*) from t where id = 7').catch(() => '')) === '1' ? true : undefined), 60_000, 1000);
  assert.equal(await restoringReplicas(ctx), []);
  // The restored primary serves on in the container that restored it: resetting the targets needs no restart.
  const pods = await ctx.c.core.listNamespacedPod({ namespace: ctx.ns, labelSelector: `${LABEL.instance}=${c.status!.currentPrimary}` });
  assert.equal(pods.items.map((p) => p.status?.containerStatuses?.find((x) => x.name === 'database')?.restartCount), [0], 'the restored primary was not restarted');
});

test('a restore across a failover: the target on the timeline the failover began', async (ctx) => {
  const before = await cluster(ctx);
  const replica = before.status!.instances!.find((i) => i.role === 'replica')!.name;
  const f = await pgo(ctx.env, 'failover', NAME, '--target', replica, '--no-prompt');
  assert.is(f.code, 0, f.stderr);
  await waitFor(`${replica} the primary`, async () => ((await cluster(ctx)).status?.currentPrimary === replica ? true : undefined), 120_000, 1000);
  await ready(ctx, 2);
  const timeline = Number(await primarySql(ctx, 'select timeline_id from pg_control_checkpoint()'));
  await primarySql(ctx, 'insert into t (id) values (30)');
  await new Promise((r) => setTimeout(r, 1500));
  const target = await primarySql(ctx, "select to_char(now() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'");
  const kept = await rows(ctx);
  await new Promise((r) => setTimeout(r, 1500));
  await primarySql(ctx, 'insert into t (id) values (31)');
  const r = await pgoJson<{ task: string }>(ctx.env, 'restore', NAME, '--pitr-target', target, '--no-prompt');
  const done = await taskEnded(ctx, r.task);
  assert.is(done.status?.phase, 'Succeeded', done.status?.message);
  await ready(ctx, 2);
  assert.equal(await rows(ctx), kept, 'row 30 from the new timeline, not 31');
  assert.ok(Number(await primarySql(ctx, 'select timeline_id from pg_control_checkpoint()')) > timeline);
});

test('a restore drill restores the latest backup into a throw-away instance, verifies it and records the RTO', async (ctx) => {
  const before = await cluster(ctx);
  const data = await rows(ctx);
  await restoreTask(ctx, 'drill-1', { type: 'default', drill: true });
  const t = await taskEnded(ctx, 'drill-1');
  assert.is(t.status?.phase, 'Succeeded', t.status?.message);
  assert.match(t.status?.message ?? '', /drill passed.*pgbackrest verify passed/);
  const c = await cluster(ctx);
  assert.is(c.status?.lastDrill?.task, 'drill-1');
  assert.is(c.status?.lastDrill?.succeeded, true);
  assert.ok((c.status?.lastDrill?.rtoSeconds ?? 0) > 0, 'a measured RTO');
  assert.is(c.status?.currentPrimary, before.status?.currentPrimary, 'the cluster was not switched');
  await waitFor('the drill instance removed', async () => ((await ctx.replicas.list(ctx.ns)).some((r) => r.spec.restore && r.metadata.name === t.status?.restore?.instance) ? undefined : true), 120_000, 1000);
  assert.equal(await rows(ctx), data);
});

test('pg_dump backup, then pgo restore --backup-type=pgdump: all of the dump or nothing', async (ctx) => {
  await primarySql(ctx, 'insert into t (id) values (20)');
  const dump = await pgoJson<{ name: string }>(ctx.env, 'backup', NAME, '--backup-type', 'pgdump');
  const b = await waitFor('the pg_dump', async () => {
    const x = await ctx.backups.get(ctx.ns, dump.name);
    return x.status?.phase === 'Succeeded' || x.status?.phase === 'Failed' ? x : undefined;
  }, 300_000, 1000);
  assert.is(b.status?.phase, 'Succeeded', b.status?.error);
  const atDump = await rows(ctx);
  await primarySql(ctx, 'delete from t where id = 20');
  await primarySql(ctx, 'insert into t (id) values (21)');
  const now = await rows(ctx);
  const restoreDump = async (...opts: string[]) => {
    const r = await pgoJson<{ task: string }>(ctx.env, 'restore', NAME, '--backup-type', 'pgdump', '--backup-pvc', `${NAME}-pgdump-pvc`, ...opts, '--no-prompt');
    return taskEnded(ctx, r.task, 300_000);
  };
  // Without --clean the dump's tables collide with the existing ones: pg_restore fails, and its one transaction leaves everything as it was.
  const failed = await restoreDump();
  assert.is(failed.status?.phase, 'Failed');
  assert.match(failed.status?.message ?? '', /already exists/);
  assert.equal(await rows(ctx), now);
  const done = await restoreDump('--backup-opts', '--clean --if-exists');
  assert.is(done.status?.phase, 'Succeeded', done.status?.message);
  assert.match(done.status?.message ?? '', new RegExp(`restored ${NAME}-userdb-\\d{8}T\\d{6}\\.dump`));
  assert.equal(await rows(ctx), atDump);
});

test('restore into a new cluster from a deleted cluster kept with --keep-backups; it archives into its own repository', async (ctx) => {
  await primarySql(ctx, 'insert into t (id) values (8)');
  await primarySql(ctx, 'checkpoint');
  const last = await rows(ctx);
  // Everything committed reaches the archive before the cluster goes (a switch of WAL segment, archived).
  // The segment the switch completed (not the current position: WAL written after the switch moves it on).
  const segment = await primarySql(ctx, 'select pg_walfile_name(pg_switch_wal())');
  await waitFor(`segment ${segment} archived`, async () => ((await primarySql(ctx, `select last_archived_wal >= '${segment}' from pg_stat_archiver`)) === 't' ? true : undefined), 60_000, 1000);
  const del = await pgo(ctx.env, 'delete', 'cluster', NAME, '--keep-backups', '--no-prompt');
  assert.is(del.code, 0, del.stderr);
  await waitFor(`pgcluster ${NAME} gone`, async () => ((await ctx.clusters.get(ctx.ns, NAME).catch(() => undefined)) ? undefined : true), 180_000, 1000);
  const repo = await ctx.c.kubectl('-n', ctx.ns, 'get', 'deploy', `${NAME}-backrest-shared-repo`, '-o', 'jsonpath={.status.readyReplicas}');
  assert.is(repo.trim(), '1', 'the kept repository host still runs');
  const r = await pgo(ctx.env, 'create', 'cluster', 'ivy2', '--restore-from', NAME, '--replica-count', '1');
  assert.is(r.code, 0, r.stderr);
  const restored = await waitFor('ivy2 Ready with 2 instances', async () => {
    const c = await ctx.clusters.get(ctx.ns, 'ivy2').catch(() => undefined);
    return c?.status?.phase === 'Ready' && c.status.readyInstances === 2 ? c : undefined;
  }, 600_000, 2000);
  assert.is(restored.status?.dataSource?.restored, true);
  // WAL came through pgo-restore-get: a fetch that failed for any reason but a missing file stopped recovery, not ended it.
  assert.ok(restored.status?.dataSource?.args?.some((x) => x.includes('restore_command=pgo-restore-get pgbackrest ')), JSON.stringify(restored.status?.dataSource?.args));
  const got = await sql(ctx, restored.status!.currentPrimary!, "select id || '|' || at from t order by id");
  assert.equal(got.split('\n').filter(Boolean), last, 'every row of the deleted cluster');
  // Its own first backup, in its own repository host; the kept one is not written to.
  await waitFor('ivy2 first full backup', async () => ((await ctx.backups.get(ctx.ns, 'ivy2-bootstrap').catch(() => undefined))?.status?.phase === 'Succeeded' ? true : undefined), 300_000, 2000);
  // pgbackrest check fails (and kubectl with it) unless WAL reaches ivy2's own repository.
  const ivy2 = await ctx.clusters.get(ctx.ns, 'ivy2');
  const check = await ctx.c.kubectl('-n', ctx.ns, 'exec', 'deploy/ivy2-backrest-shared-repo', '-c', 'pgbackrest', '--', 'pgbackrest', '--stanza=db', ...pgHostArgs(ivy2, 1, ivy2.status!.currentPrimary!), 'check');
  assert.not.match(check, /ERROR/);
  const kept = await ctx.c.kubectl('-n', ctx.ns, 'exec', `deploy/${NAME}-backrest-shared-repo`, '-c', 'pgbackrest', '--', 'pgbackrest', '--stanza=db', 'info', '--output=json');
  const archive = (JSON.parse(kept.replace(/"system-id":(\d+)/g, '"system-id":"$1"')) as { archive: { max: string }[] }[])[0]!.archive[0]!.max;
  await primarySqlOf(ctx, 'ivy2', 'select pg_switch_wal()');
  await new Promise((res) => setTimeout(res, 5000));
  const keptAfter = await ctx.c.kubectl('-n', ctx.ns, 'exec', `deploy/${NAME}-backrest-shared-repo`, '-c', 'pgbackrest', '--', 'pgbackrest', '--stanza=db', 'info', '--output=json');
  assert.is((JSON.parse(keptAfter.replace(/"system-id":(\d+)/g, '"system-id":"$1"')) as { archive: { max: string }[] }[])[0]!.archive[0]!.max, archive, 'nothing archived into the old repository');
});

test.run();
