/**
 * pgBackRest 2.45 (Debian's) against a real S3 server (SeaweedFS over HTTPS, CA-verified) and real
 * PostgreSQL 15: stanza-create, asynchronous WAL archiving, full and incremental backups, info, expire,
 * a restore that replays WAL from S3 into a new server, and a revoked access key failing with an auth error.
 */
import { execFile, execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { restoreCommandOption } from '../../src/backrest/objects.ts';
import { withInstance, type Endpoint } from '../../src/pg/instance.ts';
import { freePort } from '../harness/net.ts';
import { PASSWORD, startPrimary, type PgServer } from '../harness/pg.ts';
import { s3List, startS3, type S3Server } from '../harness/s3.ts';
import { backrest as backrestOrThrow, backrestResult as runBackrest } from '../harness/pgbackrest.ts';
import { waitFor } from '../harness/wait.ts';

interface Ctx {
  s3: S3Server;
  pg: PgServer;
  /** Holds pgbackrest.conf, the spool, lock and log directories. */
  dir: string;
  conf: string;
  full: string;
  incr: string;
}
const test = suite<Ctx>('pgBackRest 2.45 on real S3 (SeaweedFS over HTTPS) and real PostgreSQL');

const run = promisify(execFile);
const BIN = '/usr/lib/postgresql/15/bin';
const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
const REPO = 'pgbackrest'; // repo1-path inside the bucket
const segment = /^[0-9A-F]{24}$/;
const RESTORE_GET = join(import.meta.dirname, '../../images/postgres/pgo-restore-get.sh');

/** A directory the postgres user owns. */
function postgresDir(path: string): string {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  chownSync(path, uid, gid);
  return path;
}

/** pgbackrest.conf for an S3 repository verified with the server's CA, asynchronous archiving through a spool. */
function backrestConf(ctx: Ctx): string {
  const { s3, pg, dir } = ctx;
  return `[global]
repo1-type=s3
repo1-path=/${REPO}
repo1-s3-bucket=${s3.bucket}
repo1-s3-endpoint=${s3.endpoint}
repo1-s3-region=${s3.region}
repo1-s3-key=${s3.accessKey}
repo1-s3-key-secret=${s3.secretKey}
repo1-s3-uri-style=path
repo1-storage-ca-file=${s3.caFile}
repo1-retention-full=2
archive-async=y
spool-path=${join(dir, 'spool')}
lock-path=${join(dir, 'lock')}
log-path=${join(dir, 'log')}
log-level-file=detail
archive-timeout=30
process-max=2
start-fast=y

[db]
pg1-path=${pg.dir}/data
pg1-port=${pg.port}
pg1-socket-path=${pg.dir}
`;
}

/** pgbackrest with this suite's configuration (tests/harness/pgbackrest.ts). */
const backrestResult = (ctx: Ctx, args: string[], stanza = 'db') => runBackrest(ctx.conf, args, stanza);
const backrest = (ctx: Ctx, args: string[]) => backrestOrThrow(ctx.conf, args);

interface InfoBackup {
  label: string;
  type: string;
  prior: string | null;
  reference: string[] | null;
  archive: { start: string; stop: string };
}
interface InfoStanza {
  name: string;
  status: { code: number; message: string };
  archive: { id: string; min: string; max: string }[];
  backup: InfoBackup[];
}

const info = async (ctx: Ctx) => (JSON.parse(await backrest(ctx, ['info', '--output=json'])) as InfoStanza[])[0]!;
const sql = <T extends object>(e: Endpoint, text: string) => withInstance(e, async (c) => (await c.query<T & Record<string, unknown>>(text)).rows);
const one = async <T extends object>(e: Endpoint, text: string) => (await sql<T>(e, text))[0]!;
const archiver = (ctx: Ctx) => one<{ archived: number; failed: number; last_archived: string | null; last_failed: string | null }>(ctx.pg.endpoint,
  'select archived_count::int as archived, failed_count::int as failed, last_archived_wal as last_archived, last_failed_wal as last_failed from pg_stat_archiver');

/** Closes the current WAL segment; resolves to its name. */
async function switchWal(e: Endpoint): Promise<string> {
  return (await one<{ seg: string }>(e, 'select pg_walfile_name(pg_switch_wal()) as seg')).seg;
}

test.before(async (ctx) => {
  ctx.s3 = await startS3({ host: '127.0.0.1' });
  ctx.pg = await startPrimary('backrest');
  ctx.dir = postgresDir(mkdtempSync(join(tmpdir(), 'pgo-backrest-')));
  for (const d of ['spool', 'lock', 'log']) postgresDir(join(ctx.dir, d));
  ctx.conf = join(ctx.dir, 'pgbackrest.conf');
  writeFileSync(ctx.conf, backrestConf(ctx));
  chownSync(ctx.conf, uid, gid);
  const archive = `pgbackrest --config=${ctx.conf} --stanza=db archive-push %p`;
  await sql(ctx.pg.endpoint, `alter system set archive_mode = 'on'`);
  await sql(ctx.pg.endpoint, `alter system set archive_command = '${archive}'`);
  await ctx.pg.stop();
  await ctx.pg.start();
  await sql(ctx.pg.endpoint, 'create table t (v int primary key)');
});

test.after(async (ctx) => {
  if (process.env.PGO_KEEP_PG) return;
  await ctx.pg?.destroy();
  await ctx.s3?.stop();
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

test('stanza-create and check: the stanza and a pushed WAL segment are objects in the bucket', async (ctx) => {
  await backrest(ctx, ['stanza-create']);
  await backrest(ctx, ['check']);
  const keys = await s3List(ctx.s3, `${REPO}/`);
  assert.ok(keys.includes(`${REPO}/archive/db/archive.info`), keys.join('\n'));
  assert.ok(keys.includes(`${REPO}/backup/db/backup.info`), keys.join('\n'));
  assert.ok(keys.some((k) => /^pgbackrest\/archive\/db\/15-1\/0000000100000000\/000000010000000000000001-[0-9a-f]{40}\.gz$/.test(k)), keys.join('\n'));
  assert.ok(existsSync(join(ctx.dir, 'spool', 'archive', 'db', 'out')), 'archive-push did not go through the async spool');
});

test('a full then an incremental backup; info --output=json names them and the WAL they need', async (ctx) => {
  await sql(ctx.pg.endpoint, 'insert into t select generate_series(1, 1000)');
  await backrest(ctx, ['backup', '--type=full']);
  await sql(ctx.pg.endpoint, 'insert into t select generate_series(1001, 2000)');
  await backrest(ctx, ['backup', '--type=incr']);
  const stanza = await info(ctx);
  assert.is(stanza.name, 'db');
  assert.equal(stanza.status, { ...stanza.status, code: 0, message: 'ok' });
  assert.equal(stanza.backup.map((b) => b.type), ['full', 'incr']);
  const [full, incr] = stanza.backup as [InfoBackup, InfoBackup];
  assert.match(full.label, /^\d{8}-\d{6}F$/);
  assert.match(incr.label, new RegExp(`^${full.label}_\\d{8}-\\d{6}I$`));
  assert.is(incr.prior, full.label);
  assert.equal(incr.reference, [full.label]);
  const [archive] = stanza.archive;
  assert.is(archive?.id, '15-1');
  for (const b of stanza.backup) assert.ok(segment.test(b.archive.start) && segment.test(b.archive.stop) && b.archive.start <= b.archive.stop);
  assert.ok(archive!.min <= full.archive.start, `archive min ${archive!.min} after the full's start ${full.archive.start}`);
  assert.ok(archive!.max >= incr.archive.stop, `archive max ${archive!.max} before the incr's stop ${incr.archive.stop}`);
  assert.ok((await s3List(ctx.s3, `${REPO}/backup/db/${full.label}/`)).includes(`${REPO}/backup/db/${full.label}/backup.manifest`));
  ctx.full = full.label;
  ctx.incr = incr.label;
});

test('WAL written after the backups reaches S3 through archive_command (asynchronous archive-push)', async (ctx) => {
  await sql(ctx.pg.endpoint, 'insert into t select generate_series(2001, 3000)');
  const seg = await switchWal(ctx.pg.endpoint);
  await waitFor(`${seg} archived`, async () => ((await archiver(ctx)).last_archived ?? '') >= seg, 30_000, 200);
  const keys = await s3List(ctx.s3, `${REPO}/archive/db/15-1/${seg.slice(0, 16)}/`);
  assert.ok(keys.some((k) => k.includes(`/${seg}-`)), `${seg} is not in the bucket:\n${keys.join('\n')}`);
  assert.ok((await info(ctx)).archive[0]!.max >= seg);
});

test('expire --set removes the incremental backup and keeps the full', async (ctx) => {
  await backrest(ctx, ['expire', `--set=${ctx.incr}`]);
  assert.equal((await info(ctx)).backup.map((b) => b.label), [ctx.full]);
  assert.equal(await s3List(ctx.s3, `${REPO}/backup/db/${ctx.incr}/`), []);
});

test('restore into a fresh directory: a new PostgreSQL has the rows from before the backup and those replayed from S3 WAL', async (ctx) => {
  const dir = postgresDir(mkdtempSync(join(tmpdir(), 'pgo-pg-restored-')));
  const data = postgresDir(join(dir, 'data'));
  const port = await freePort();
  const pgCtl = (args: string[]) => run('runuser', ['-u', 'postgres', '--', join(BIN, 'pg_ctl'), '-D', data, ...args]);
  try {
    // The full backup alone has rows 1..1000 (the incr is expired); 1001..3000 exist only in archived WAL.
    await backrest(ctx, ['restore', `--pg1-path=${data}`, '--archive-mode=off']);
    const auto = readFileSync(join(data, 'postgresql.auto.conf'), 'utf8');
    assert.match(auto, /restore_command = 'pgbackrest .*--stanza=db archive-get %f "%p"'/);
    assert.ok(existsSync(join(data, 'recovery.signal')));
    appendFileSync(join(data, 'postgresql.conf'), `port = ${port}\nunix_socket_directories = '${dir}'\n`);
    await pgCtl(['-l', join(dir, 'log'), '-w', '-t', '120', 'start']);
    const restored: Endpoint = { host: '127.0.0.1', port, password: PASSWORD };
    await waitFor('the restored server to finish recovery', async () => (await one<{ r: boolean }>(restored, 'select pg_is_in_recovery() as r')).r === false, 60_000, 200);
    assert.equal(await one(restored, 'select count(*)::int as n, min(v) as lo, max(v) as hi from t'), { n: 3000, lo: 1, hi: 3000 });
    assert.match(readFileSync(join(dir, 'log'), 'utf8'), /restored log file "[0-9A-F]{24}" from archive/);
  } finally {
    await pgCtl(['-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a revoked key: check and archive-push fail with an auth error; re-enabled, archiving catches up', async (ctx) => {
  const t0 = Date.now();
  await ctx.s3.setKeyEnabled(false);
  const revokeMs = Date.now() - t0;
  const check = await backrestResult(ctx, ['check']);
  assert.is.not(check.code, 0, check.out);
  assert.match(check.out, /HTTP request failed with 403 \(Forbidden\)/);
  assert.match(check.out, /InvalidAccessKeyId/);

  const before = await archiver(ctx);
  await sql(ctx.pg.endpoint, 'insert into t select generate_series(3001, 3100)');
  const seg = await switchWal(ctx.pg.endpoint);
  await waitFor('archive_command to fail', async () => ((await archiver(ctx)).failed > before.failed ? true : undefined), 60_000, 200);
  assert.is((await archiver(ctx)).last_failed, seg);
  assert.match(readFileSync(join(ctx.dir, 'log', 'db-archive-push-async.log'), 'utf8'), /InvalidAccessKeyId/);

  const t1 = Date.now();
  await ctx.s3.setKeyEnabled(true);
  const restoreMs = Date.now() - t1;
  await backrest(ctx, ['check']); // switches WAL again and waits until it is in the repository
  await waitFor(`${seg} archived after the key came back`, async () => ((await archiver(ctx)).last_archived ?? '') > seg, 30_000, 200);
  // Stored objects survived the revocation: the full backup is still there and listed.
  assert.equal((await info(ctx)).backup.map((b) => b.label), [ctx.full]);
  // SIGHUP reloads the identity file in milliseconds; a restart would take seconds.
  assert.ok(revokeMs < 10_000 && restoreMs < 10_000, `setKeyEnabled took ${revokeMs} ms and ${restoreMs} ms`);
});

test("a restore's restore_command (pgo-restore-get): a repository that does not answer stops recovery instead of ending it; once it answers, every row is replayed", async (ctx) => {
  const dir = postgresDir(mkdtempSync(join(tmpdir(), 'pgo-pg-restore-get-')));
  const data = postgresDir(join(dir, 'data'));
  const port = await freePort();
  // The postmaster's environment reaches its restore_command: two attempts, so the outage is given up on in 2 s.
  const pgCtl = (args: string[]) => run('runuser', ['-u', 'postgres', '--', join(BIN, 'pg_ctl'), '-D', data, ...args], { env: { ...process.env, PGO_RESTORE_GET_ATTEMPTS: '2' } });
  try {
    await backrest(ctx, ['restore', `--pg1-path=${data}`, '--archive-mode=off', restoreCommandOption(ctx.conf, data)]);
    const autoConf = join(data, 'postgresql.auto.conf');
    const auto = readFileSync(autoConf, 'utf8');
    assert.match(auto, /restore_command = 'pgo-restore-get pgbackrest --config=\S+ --stanza=db --pg1-path=\S+ --no-archive-async archive-get %f "%p"'/);
    // The image installs the script as /usr/local/bin/pgo-restore-get; here a copy in the server's own directory
    // (the postgres user may not reach the source tree).
    const script = join(dir, 'pgo-restore-get');
    copyFileSync(RESTORE_GET, script);
    chmodSync(script, 0o755);
    writeFileSync(autoConf, auto.replace("'pgo-restore-get ", `'${script} `));
    appendFileSync(join(data, 'postgresql.conf'), `port = ${port}\nunix_socket_directories = '${dir}'\n`);
    // The key revoked: every fetch fails with 403 (pgbackrest exits with an error code, not 1).
    await ctx.s3.setKeyEnabled(false);
    const failed = await pgCtl(['-l', join(dir, 'log'), '-w', '-t', '60', 'start']).then(() => 'started', (err: Error) => err.message);
    const log = readFileSync(join(dir, 'log'), 'utf8');
    assert.is.not(failed, 'started', 'recovery must not end while the repository does not answer');
    assert.match(log, /HTTP request failed with 403/);
    assert.match(log, /pgo-restore-get: the repository did not answer for [0-9A-F]{8,24}/);
    assert.not.match(log, /database system is ready to accept connections/);
    assert.not.match(log, /selected new timeline ID/);
    await ctx.s3.setKeyEnabled(true);
    await pgCtl(['-l', join(dir, 'log'), '-w', '-t', '120', 'start']).catch((err: Error) => assert.unreachable(`${err.message}\n${readFileSync(join(dir, 'log'), 'utf8').slice(-3000)}`));
    const restored: Endpoint = { host: '127.0.0.1', port, password: PASSWORD };
    await waitFor('the restored server to finish recovery', async () => (await one<{ r: boolean }>(restored, 'select pg_is_in_recovery() as r')).r === false, 60_000, 200);
    const n = await one<{ n: number }>(restored, 'select count(*)::int as n from t');
    const source = await one<{ n: number }>(ctx.pg.endpoint, 'select count(*)::int as n from t');
    assert.is(n.n, source.n, 'every row the archive has (3100: 1000 in the full backup, the rest in WAL)');
  } finally {
    await ctx.s3.setKeyEnabled(true);
    await pgCtl(['-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
