import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseInfo, type StanzaInfo } from '../../src/backrest/info.ts';
import { pgHostArgs } from '../../src/backrest/objects.ts';
import type { PgBackupResource, PgClusterResource } from '../../src/crd/types.ts';
import { CustomResources } from '../../src/k8s/custom.ts';
import { deleteNamespace, localCluster, prepareNamespace, type LocalCluster } from '../harness/cluster.ts';
import { freePort } from '../harness/net.ts';
import { startOperator, type OperatorProcess } from '../harness/operator.ts';
import { pgo, pgoEnv, pgoJson } from '../harness/pgo.ts';
import { startS3, type S3Server } from '../harness/s3.ts';
import { waitFor } from '../harness/wait.ts';

// Backups end to end on real parts: pgBackRest in the real PostgreSQL pods and repository host of the local
// cluster, a real S3 server (SeaweedFS over HTTPS) on the host, the operator and the real pgo process.
interface Ctx {
  c: LocalCluster;
  ns: string;
  op: OperatorProcess;
  opEnv: Record<string, string>;
  dir: string;
  env: NodeJS.ProcessEnv;
  s3: S3Server;
  backups: CustomResources<PgBackupResource>;
  clusters: CustomResources<PgClusterResource>;
}
const test = suite<Ctx>('backups');
const LOG = '/tmp/pg-operator-backup-e2e.log';

type Shown = { name: string; phase?: string; currentPrimary?: string; readyInstances?: number; backrest?: { archiving?: string; archivingMessage?: string } };
const show = async (env: NodeJS.ProcessEnv, name: string) => (await pgoJson<{ clusters: Shown[] }>(env, 'show', 'cluster', name)).clusters[0];
const ready = (ctx: Ctx, name: string, n: number) =>
  waitFor(`${name} Ready with ${n} instances`, async () => {
    const c = await show(ctx.env, name).catch(() => undefined);
    return c?.phase === 'Ready' && c.readyInstances === n ? c : undefined;
  }, 300_000, 2000);
const finished = (ctx: Ctx, name: string, timeoutMs = 300_000) =>
  waitFor(`pgbackup ${name} finished`, async () => {
    const b = await ctx.backups.get(ctx.ns, name).catch(() => undefined);
    return b?.status?.phase === 'Succeeded' || b?.status?.phase === 'Failed' ? b : undefined;
  }, timeoutMs, 1000);
const repoExec = (ctx: Ctx, cluster: string, ...args: string[]) => ctx.c.kubectl('-n', ctx.ns, 'exec', `deploy/${cluster}-backrest-shared-repo`, '-c', 'pgbackrest', '--', ...args);
const info = async (ctx: Ctx, cluster: string): Promise<StanzaInfo> => parseInfo(await repoExec(ctx, cluster, 'pgbackrest', '--stanza=db', 'info', '--output=json'))[0]!;
const sql = (ctx: Ctx, instance: string, query: string) => ctx.c.kubectl('-n', ctx.ns, 'exec', `deploy/${instance}`, '-c', 'database', '--', 'psql', '-X', '-At', '-h', '/var/run/postgresql', '-U', 'postgres', '-c', query);
const createBackup = async (ctx: Ctx, cluster: string, ...flags: string[]) => (await pgoJson<{ name: string; message?: string }>(ctx.env, 'backup', cluster, ...flags));
const archiving = (ctx: Ctx, cluster: string, want: 'True' | 'False', timeoutMs = 120_000) =>
  waitFor(`${cluster} WALArchiving ${want}`, async () => {
    const c = await ctx.clusters.get(ctx.ns, cluster);
    const cond = c.status?.conditions?.find((x) => x.type === 'WALArchiving');
    return cond?.status === want ? cond : undefined;
  }, timeoutMs, 1000);

test.before(async (ctx) => {
  ctx.c = localCluster();
  ctx.ns = `backup-${randomBytes(3).toString('hex')}`;
  await prepareNamespace(ctx.c, ctx.ns);
  const port = await freePort();
  ctx.opEnv = { PGO_API_PORT: String(port), PGO_ARCHIVE_CHECK_MS: '3000', PGO_SCHEDULE_TICK_MS: '2000' };
  ctx.op = startOperator(ctx.c.kubeconfigPath, LOG, ctx.opEnv);
  ctx.dir = mkdtempSync(join(tmpdir(), 'pgo-backup-e2e-'));
  ctx.backups = new CustomResources<PgBackupResource>(ctx.c.kubeconfig, 'pgbackups');
  ctx.clusters = new CustomResources<PgClusterResource>(ctx.c.kubeconfig, 'pgclusters');
  ctx.env = await waitFor('the operator\'s Secrets', () => pgoEnv(ctx.c.core, ctx.dir, port, ctx.ns).catch(() => undefined), 60_000, 500);
  await waitFor('the API', async () => (await pgo(ctx.env, 'version')).code === 0, 60_000, 500);
  // The S3 server listens on the host's address on the node network, which the pods reach.
  ctx.s3 = await startS3({ host: '10.200.0.1', port: await freePort() });
  await ctx.c.kubectl('-n', ctx.ns, 'create', 'secret', 'generic', 's3-creds', `--from-literal=aws-s3-key=${ctx.s3.accessKey}`, `--from-literal=aws-s3-key-secret=${ctx.s3.secretKey}`);
  await ctx.c.kubectl('-n', ctx.ns, 'create', 'secret', 'generic', 's3-ca', `--from-file=aws-s3-ca.crt=${ctx.s3.caFile}`);
});

test.after(async (ctx) => {
  if (ctx.c && ctx.ns) await deleteNamespace(ctx.c, ctx.ns).catch((err: unknown) => console.error(String(err)));
  await ctx.op?.stop();
  await ctx.s3?.stop();
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

test('a new cluster archives WAL to its repository host and takes a first full backup', async (ctx) => {
  const r = await pgo(ctx.env, 'create', 'cluster', 'hippo', '--replica-count', '1');
  assert.is(r.code, 0, r.stderr);
  // A schedule firing every minute, checked at the end of the suite.
  const sch = await pgo(ctx.env, 'create', 'schedule', 'hippo', '--schedule', '* * * * *', '--schedule-type', 'pgbackrest', '--pgbackrest-backup-type', 'incr', '--schedule-name', 'minutely');
  assert.is(sch.code, 0, sch.stderr);
  await ready(ctx, 'hippo', 2);
  const boot = await finished(ctx, 'hippo-bootstrap');
  assert.is(boot.status?.phase, 'Succeeded', boot.status?.error);
  assert.is(boot.status?.type, 'full');
  assert.is(boot.status?.repo, 'repo1');
  assert.match(boot.status?.backupLabel ?? '', /^\d{8}-\d{6}F$/);
  assert.ok((boot.status?.databaseBytes ?? 0) > 1 << 20);
  assert.match(boot.status?.walStart ?? '', /^0000000100000000000000[0-9A-F]{2}$/);
  const cluster = await ctx.clusters.get(ctx.ns, 'hippo');
  assert.is(cluster.status?.backrest?.stanzaCreated, true);
  await archiving(ctx, 'hippo', 'True');
  const shown = await show(ctx.env, 'hippo');
  assert.is(shown?.backrest?.archiving, 'True');
  // Members fetch WAL from the repository too (their restore_command): the first backup's first segment.
  const rc = await sql(ctx, 'hippo', 'show restore_command');
  assert.is(rc.trim(), 'pgo-archive-get %f "%p"');
  const fetched = await ctx.c.kubectl('-n', ctx.ns, 'exec', 'deploy/hippo', '-c', 'database', '--', 'sh', '-c', `pgo-archive-get ${boot.status!.walStart!} /tmp/pgo-fetched && stat -c %s /tmp/pgo-fetched && rm /tmp/pgo-fetched`);
  assert.is(fetched.trim(), String(16 << 20), 'a whole 16 MiB segment fetched');
});

test('pgo backup: incr by default once a full exists, diff, a second request queued, show backup in v4 text and JSON', async (ctx) => {
  const first = await createBackup(ctx, 'hippo');
  const second = await createBackup(ctx, 'hippo', '--backup-type', 'diff', '--backup-opts', '--start-fast');
  assert.match(second.message ?? '', /queued behind pgbackup/);
  const [a, b] = [await finished(ctx, first.name), await finished(ctx, second.name)];
  assert.is(a.status?.phase, 'Succeeded', a.status?.error);
  assert.is(b.status?.phase, 'Succeeded', b.status?.error);
  assert.is(a.status?.type, 'incr');
  assert.is(b.status?.type, 'diff');
  assert.ok(new Date(b.status!.startTime!) >= new Date(a.status!.completionTime!), 'one backup at a time: the second started after the first ended');
  const text = await pgo(ctx.env, 'show', 'backup', 'hippo');
  assert.is(text.code, 0, text.stderr);
  for (const re of [/stanza: db/, /status: ok/, /wal archive min\/max \(15-1\): 0{7}1/, /full backup: \d{8}-\d{6}F/, /incr backup: \d{8}-\d{6}F_\d{8}-\d{6}I/, /diff backup: \d{8}-\d{6}F_\d{8}-\d{6}D/, /backup reference list: \d{8}-\d{6}F/, /database size: [\d.]+ MiB/]) {
    assert.match(text.stdout, re);
  }
  const json = await pgoJson<{ stanzas: unknown[]; backups: { name: string; label?: string }[] }>(ctx.env, 'show', 'backup', 'hippo');
  assert.is(json.stanzas.length, 1);
  assert.ok(json.backups.some((x) => x.name === first.name && x.label === a.status?.backupLabel));
});

test('pgo delete backup expires a set with its dependents; retention keeps two full sets', async (ctx) => {
  const before = await info(ctx, 'hippo');
  // The full set the incremental and differential backups above were made on (the minutely schedule may
  // have made an earlier full one of its own, when it fired before the first full backup existed).
  const dependentsOf = (full: string) => before.backup.filter((x) => x.reference?.includes(full)).map((x) => x.label);
  const oldestFull = before.backup.filter((x) => x.type === 'full').map((x) => x.label).reduce((a, b) => (dependentsOf(b).length > dependentsOf(a).length ? b : a));
  const dependents = dependentsOf(oldestFull);
  assert.ok(dependents.length >= 2);
  // Two more full backups: with retentionFull 2 the bootstrap set and everything on it expire.
  for (let i = 0; i < 2; i++) {
    const full = await createBackup(ctx, 'hippo', '--backup-type', 'full');
    assert.is((await finished(ctx, full.name)).status?.phase, 'Succeeded');
  }
  const after = await info(ctx, 'hippo');
  const fulls = after.backup.filter((x) => x.type === 'full').map((x) => x.label);
  assert.is(fulls.length, 2, `fulls: ${fulls.join(' ')}`);
  assert.not.ok(after.backup.some((x) => x.label === oldestFull || dependents.includes(x.label)), 'the oldest full and its dependents were expired');
  // Expire the older remaining full by hand: its dependents go with it.
  const target = fulls[0]!;
  const del = await pgo(ctx.env, 'delete', 'backup', 'hippo', '--target', target, '--no-prompt');
  assert.is(del.code, 0, del.stderr);
  assert.match(del.stdout, new RegExp(`expired ${target}`));
  const last = await info(ctx, 'hippo');
  assert.not.ok(last.backup.some((x) => x.label === target || x.reference?.includes(target)));
  const missing = await pgo(ctx.env, 'delete', 'backup', 'hippo', '--target', target, '--no-prompt');
  assert.is.not(missing.code, 0);
  assert.match(missing.stderr, /could not find backup/);
});

test('after a failover, archiving goes on on the new timeline and a backup reads the new primary', async (ctx) => {
  const q = await pgoJson<{ replicas: { name: string }[] }>(ctx.env, 'failover', 'hippo', '--query');
  const target = q.replicas[0]!.name;
  const f = await pgo(ctx.env, 'failover', 'hippo', '--target', target, '--no-prompt');
  assert.is(f.code, 0, f.stderr);
  await waitFor('the new primary', async () => ((await show(ctx.env, 'hippo'))?.currentPrimary === target ? true : undefined), 120_000, 1000);
  await ready(ctx, 'hippo', 2);
  await sql(ctx, target, 'create table after_failover as select 1 as x; select pg_switch_wal()');
  const b = await createBackup(ctx, 'hippo');
  const done = await finished(ctx, b.name);
  assert.is(done.status?.phase, 'Succeeded', done.status?.error);
  assert.is(done.status?.instance, target);
  assert.match(done.status?.walStart ?? '', /^00000002/);
  const cluster = await ctx.clusters.get(ctx.ns, 'hippo');
  const check = await repoExec(ctx, 'hippo', 'pgbackrest', '--stanza=db', ...pgHostArgs(cluster, 1, target), 'check');
  assert.not.match(check, /ERROR/);
  const max = (await info(ctx, 'hippo')).archive.find((x) => x.id === '15-1')?.max ?? '';
  assert.match(max, /^00000002/, `archive max ${max} is on timeline 2`);
  await archiving(ctx, 'hippo', 'True');
});

test('an operator killed during a backup: the backup goes on and ends Succeeded, once', async (ctx) => {
  const primary = (await show(ctx.env, 'hippo'))!.currentPrimary!;
  await ctx.c.kubectl('-n', ctx.ns, 'exec', `deploy/${primary}`, '-c', 'database', '--', 'pgbench', '-i', '-q', '-s', '15', '-h', '/var/run/postgresql', '-U', 'postgres', 'postgres');
  const b = await createBackup(ctx, 'hippo', '--backup-type', 'full');
  await waitFor(`${b.name} running in the repository host`, async () => ((await ctx.backups.get(ctx.ns, b.name)).status?.job ? true : undefined), 120_000, 200);
  await ctx.op.stop('SIGKILL');
  ctx.op = startOperator(ctx.c.kubeconfigPath, LOG, ctx.opEnv);
  const done = await finished(ctx, b.name);
  assert.is(done.status?.phase, 'Succeeded', done.status?.error);
  const sets = (await info(ctx, 'hippo')).backup.filter((x) => x.annotation?.['pg-operator.dev/pgbackup'] === b.name);
  assert.is(sets.length, 1, 'exactly one backup for the request');
  assert.is(sets[0]!.label, done.status?.backupLabel);
});

test('a backup read from a streaming replica when asked; pg_dump and pg_dumpall into a volume', async (ctx) => {
  const shown = (await show(ctx.env, 'hippo'))!;
  const standby = await createBackup(ctx, 'hippo', '--backup-opts', '--backup-standby');
  const s = await finished(ctx, standby.name);
  assert.is(s.status?.phase, 'Succeeded', s.status?.error);
  assert.is.not(s.status?.instance, shown.currentPrimary, 'read from the replica');
  const dump = await createBackup(ctx, 'hippo', '--backup-type', 'pgdump', '--pvc-name', 'hippo-dumps', '--backup-opts', '--no-owner');
  const d = await finished(ctx, dump.name);
  assert.is(d.status?.phase, 'Succeeded', d.status?.error);
  assert.match(d.status?.fileName ?? '', /^\/pgdump\/hippo-userdb-\d{8}T\d{6}\.dump$/);
  assert.ok((d.status?.backupBytes ?? 0) > 0);
  const all = await finished(ctx, (await createBackup(ctx, 'hippo', '--backup-type', 'pgdump', '--pvc-name', 'hippo-dumps', '--dump-all')).name);
  assert.is(all.status?.phase, 'Succeeded', all.status?.error);
  assert.match(all.status?.fileName ?? '', /-all-\d{8}T\d{6}\.sql$/);
  const refused = await pgo(ctx.env, 'backup', 'hippo', '--backup-type', 'pgdump', '--backup-opts', '--file=/etc/passwd');
  assert.match(refused.stderr, /pg_dump option --file=\/etc\/passwd is not allowed/);
});

test('an S3 repository: first backup on SeaweedFS over HTTPS; a revoked key turns WALArchiving False with the reason, and back', async (ctx) => {
  const spec = { backrest: { storageType: 's3', s3: { bucket: ctx.s3.bucket, endpoint: ctx.s3.endpoint, region: ctx.s3.region, uriStyle: 'path', credentialsSecret: 's3-creds', caSecret: 's3-ca' } } };
  await ctx.clusters.createIfAbsent({ apiVersion: 'pg-operator.dev/v1', kind: 'PGCluster', metadata: { name: 'zebra', namespace: ctx.ns }, spec } as unknown as PgClusterResource);
  await ready(ctx, 'zebra', 1);
  const boot = await finished(ctx, 'zebra-bootstrap');
  assert.is(boot.status?.phase, 'Succeeded', boot.status?.error);
  assert.is(boot.status?.repo, 'repo2');
  await archiving(ctx, 'zebra', 'True');
  await ctx.s3.setKeyEnabled(false);
  try {
    await sql(ctx, 'zebra', 'create table t as select generate_series(1, 1000) x; select pg_switch_wal()');
    const cond = await archiving(ctx, 'zebra', 'False');
    assert.is(cond.reason, 'ArchiveFailing');
    assert.match(cond.message, /InvalidAccessKeyId/);
    const events = await ctx.c.kubectl('-n', ctx.ns, 'get', 'events', '--field-selector', 'involvedObject.name=zebra,reason=WALArchivingFailed', '-o', 'name');
    assert.ok(events.trim().length > 0, 'a WALArchivingFailed Event');
    // The primary stays up while archiving fails (PostgreSQL is not PID 1 and never reaps pgBackRest's processes).
    assert.is((await show(ctx.env, 'zebra'))?.phase, 'Ready');
  } finally {
    await ctx.s3.setKeyEnabled(true);
  }
  await sql(ctx, 'zebra', 'select pg_switch_wal()');
  await archiving(ctx, 'zebra', 'True');
});

test('the every-minute schedule fired at least twice, each run an ordinary pgbackup', async (ctx) => {
  const runs = await waitFor('two scheduled backups', async () => {
    const list = (await ctx.backups.list(ctx.ns)).filter((b) => b.spec.schedule === 'minutely' && b.status?.phase === 'Succeeded');
    return list.length >= 2 ? list : undefined;
  }, 240_000, 2000);
  assert.ok(runs.every((r) => r.status?.type === 'incr' && r.metadata.labels?.['pg-operator.dev/schedule'] === 'minutely'));
  const shown = await pgo(ctx.env, 'show', 'schedule', 'hippo');
  assert.match(shown.stdout, /minutely/);
  const del = await pgo(ctx.env, 'delete', 'schedule', 'hippo', '--schedule-name', 'minutely', '--no-prompt');
  assert.is(del.code, 0, del.stderr);
});

test.run();
