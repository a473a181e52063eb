/**
 * pgBackRest 2.45 (Debian's) with a posix repository in a temporary directory and real PostgreSQL 15:
 * asynchronous WAL archiving and archive-get, full/incr/diff backups read back through the operator's own
 * parser (src/backrest/info.ts), the operator's `--backup-opts` whitelist (src/backrest/options.ts) checked
 * option by option against pgbackrest itself, and retention of two full backups.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { backrestError, defaultType, dependents, newBackupLabel, parseInfo, setsOf, type StanzaInfo } from '../../src/backrest/info.ts';
import { BACKUP_OPTIONS, optionArgs, parseBackupOptions } from '../../src/backrest/options.ts';
import { withInstance, type Endpoint } from '../../src/pg/instance.ts';
import { freePort } from '../harness/net.ts';
import { startPrimary, type PgServer } from '../harness/pg.ts';
import { alive, stopPid } from '../harness/procs.ts';
import { backrest as backrestOrThrow, backrestResult as runBackrest } from '../harness/pgbackrest.ts';
import { waitFor } from '../harness/wait.ts';

interface Ctx {
  pg: PgServer;
  /** Holds pgbackrest.conf, the repository, the spool, lock and log directories. */
  dir: string;
  /** repo1-path. */
  repo: string;
  conf: string;
  /** The segment archived by the first test. */
  seg: string;
  full: string;
  incr: string;
}
const test = suite<Ctx>('pgBackRest 2.45 on a posix repository and real PostgreSQL, read by the operator’s parser');

const run = promisify(execFile);
const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
const ANNOTATION = 'pg-operator.dev/pgbackup';
const WAL_SEGMENT_BYTES = 16 * 1024 * 1024;

/** A directory the postgres user owns. */
function postgresDir(path: string): string {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  chownSync(path, uid, gid);
  return path;
}

/** pgbackrest.conf for a posix repository with two full backups retained, asynchronous archiving through a spool. */
function backrestConf(ctx: Ctx): string {
  const { pg, dir, repo } = ctx;
  return `[global]
repo1-type=posix
repo1-path=${repo}
repo1-retention-full=2
archive-async=y
spool-path=${join(dir, 'spool')}
lock-path=${join(dir, 'lock')}
log-path=${join(dir, 'log')}
log-level-file=detail
archive-timeout=30
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

/** `pgbackrest help backup ...` (parses and validates the options for the backup command, runs nothing). */
async function helpBackup(ctx: Ctx, args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run('pgbackrest', [`--config=${ctx.conf}`, 'help', 'backup', ...args]);
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** The raw `info --output=json`, and the stanza as the operator parses it. */
async function info(ctx: Ctx): Promise<{ raw: string; stanza: StanzaInfo }> {
  const raw = await backrest(ctx, ['info', '--output=json']);
  const stanzas = parseInfo(raw);
  assert.is(stanzas.length, 1, raw);
  return { raw, stanza: stanzas[0]! };
}

/** Runs a backup with console output at info level (as the operator does); resolves to the output. */
const backup = (ctx: Ctx, args: string[]) => backrest(ctx, [...args, '--log-level-console=info', 'backup']);

const sql = <T extends object>(e: Endpoint, text: string) => withInstance(e, async (c) => (await c.query<T & Record<string, unknown>>(text)).rows);
const one = async <T extends object>(e: Endpoint, text: string) => (await sql<T>(e, text))[0]!;
const archiver = (ctx: Ctx) => one<{ archived: number; failed: number; last_archived: string | null }>(ctx.pg.endpoint,
  'select archived_count::int as archived, failed_count::int as failed, last_archived_wal as last_archived from pg_stat_archiver');

/** Closes the current WAL segment; resolves to its name. */
async function switchWal(e: Endpoint): Promise<string> {
  return (await one<{ seg: string }>(e, 'select pg_walfile_name(pg_switch_wal()) as seg')).seg;
}

/** The files of `seg` in the repository's archive (`<seg>-<sha1 of the segment>.<compression>`). */
function archivedFiles(ctx: Ctx, seg: string): string[] {
  const dir = join(ctx.repo, 'archive', 'db', '15-1', seg.slice(0, 16));
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith(`${seg}-`)) : [];
}

/** PIDs of pgbackrest processes run with this suite's config (the asynchronous archive-push forks one). */
function ourBackrestPids(ctx: Ctx): number[] {
  try {
    return execFileSync('pgrep', ['-f', '--', `--config=${ctx.conf}`], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number).filter((p) => p !== process.pid);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

test.before(async (ctx) => {
  ctx.pg = await startPrimary('backrest-posix');
  ctx.dir = postgresDir(mkdtempSync(join(tmpdir(), 'pgo-backrest-posix-')));
  for (const d of ['spool', 'lock', 'log', 'repo']) postgresDir(join(ctx.dir, d));
  ctx.repo = join(ctx.dir, 'repo');
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
  if (ctx.conf) {
    // The asynchronous archive-push exits once its queue is empty; stop any left after a while, by PID.
    await waitFor('the asynchronous pgbackrest processes to exit', () => ourBackrestPids(ctx).length === 0, 15_000, 200).catch(() => undefined);
    for (const pid of ourBackrestPids(ctx)) await stopPid(pid);
  }
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

test('stanza-create, then archive_command (asynchronous archive-push): the switched segment is in pg_stat_archiver and in <repo>/archive/db/15-1/', async (ctx) => {
  await backrest(ctx, ['stanza-create']);
  assert.ok(existsSync(join(ctx.repo, 'archive', 'db', 'archive.info')));
  assert.ok(existsSync(join(ctx.repo, 'backup', 'db', 'backup.info')));
  // No backup yet: the operator's first backup is a full one.
  assert.is(defaultType((await info(ctx)).stanza, 1), 'full');

  await sql(ctx.pg.endpoint, 'insert into t select generate_series(1, 1000)');
  const seg = await switchWal(ctx.pg.endpoint);
  assert.match(seg, /^[0-9A-F]{24}$/);
  const status = await waitFor(`${seg} archived`, async () => {
    const a = await archiver(ctx);
    return (a.last_archived ?? '') >= seg ? a : undefined;
  }, 30_000, 200);
  assert.ok(status.archived >= 1, JSON.stringify(status));
  assert.is(status.failed, 0, JSON.stringify(status));
  const files = archivedFiles(ctx, seg);
  assert.is(files.length, 1, `${seg} in ${join(ctx.repo, 'archive', 'db', '15-1')}: ${files.join(', ')}`);
  assert.match(files[0]!, new RegExp(`^${seg}-[0-9a-f]{40}\\.gz$`));
  // It went through the spool: the asynchronous process acknowledged it there.
  assert.ok(existsSync(join(ctx.dir, 'spool', 'archive', 'db', 'out')), 'archive-push did not go through the async spool');
  assert.match(readFileSync(join(ctx.dir, 'log', 'db-archive-push-async.log'), 'utf8'), new RegExp(`pushed WAL file '${seg}' to the archive`));
  ctx.seg = seg;
});

test('archive-get fetches the archived segment: 16 MiB, with the SHA-1 the repository names it by', async (ctx) => {
  const out = postgresDir(mkdtempSync(join(ctx.dir, 'get-')));
  const dest = join(out, 'segment');
  // Synchronous, so that no prefetching process outlives the test.
  await backrest(ctx, ['--no-archive-async', 'archive-get', ctx.seg, dest]);
  assert.is(statSync(dest).size, WAL_SEGMENT_BYTES);
  const sha1 = /-([0-9a-f]{40})\./.exec(archivedFiles(ctx, ctx.seg)[0]!)![1];
  assert.is(createHash('sha1').update(readFileSync(dest)).digest('hex'), sha1);
  // A segment that was never archived is not found (exit code 1, nothing written).
  const missing = await backrestResult(ctx, ['--no-archive-async', 'archive-get', 'FFFFFFFF00000000000000FF', join(out, 'missing')]);
  assert.is(missing.code, 1, missing.out);
  assert.not.ok(existsSync(join(out, 'missing')));
  rmSync(out, { recursive: true, force: true });
});

test('a full and an incr backup, annotated, read back by the operator’s parser from the real output', async (ctx) => {
  const { sysid } = await one<{ sysid: string }>(ctx.pg.endpoint, 'select system_identifier::text as sysid from pg_control_system()');
  assert.match(sysid, /^\d{16,20}$/);
  assert.ok(BigInt(sysid) > 2n ** 53n, `${sysid} fits a double`); // so a JSON number would lose digits

  const fullOut = await backup(ctx, ['--type=full', `--annotation=${ANNOTATION}=b1`]);
  const full = newBackupLabel(fullOut);
  assert.ok(full, fullOut);
  assert.match(full, /^\d{8}-\d{6}F$/);
  await sql(ctx.pg.endpoint, 'insert into t select generate_series(1001, 2000)');
  const incrOut = await backup(ctx, ['--type=incr', `--annotation=${ANNOTATION}=b1`]);
  const incr = newBackupLabel(incrOut);
  assert.ok(incr, incrOut);
  assert.match(incr, new RegExp(`^${full}_\\d{8}-\\d{6}I$`));

  const { raw, stanza } = await info(ctx);
  assert.is(stanza.name, 'db');
  assert.is(stanza.status.code, 0, raw);
  // pgBackRest prints the system identifier as a bare 64-bit number; the parser keeps every digit.
  assert.ok(raw.includes(`"system-id":${sysid}`), raw);
  assert.is(stanza.db.length, 1);
  assert.is(stanza.db[0]!['system-id'], sysid);
  assert.is(stanza.db[0]!.version, '15');

  const sets = setsOf(stanza, 1);
  assert.equal(sets.map((b) => [b.label, b.type]), [[full, 'full'], [incr, 'incr']]);
  assert.equal(setsOf(stanza, 2), []);
  const [f, i] = sets as [(typeof sets)[0], (typeof sets)[0]];
  assert.is(i.prior, full);
  assert.equal(i.reference, [full]);
  assert.equal(f.annotation, { [ANNOTATION]: 'b1' });
  assert.equal(i.annotation, { [ANNOTATION]: 'b1' });
  assert.ok(f.info.size > 0 && f.info.repository.delta > 0, JSON.stringify(f.info));
  assert.match(f.archive?.start ?? '', /^[0-9A-F]{24}$/);
  assert.equal(dependents(stanza, full), [incr]);
  assert.equal(dependents(stanza, incr), []);
  assert.is(defaultType(stanza, 1), 'incr');
  assert.is(defaultType(stanza, 2), 'full');
  ctx.full = full;
  ctx.incr = incr;
});

test('backrestError on the real output of failing commands gives pgBackRest’s ERROR line', async (ctx) => {
  // A backup against a port nothing listens on.
  const port = await freePort();
  const bad = await backrestResult(ctx, [`--pg1-port=${port}`, '--log-level-console=info', 'backup']);
  assert.is.not(bad.code, 0, bad.out);
  const err = backrestError(bad.out);
  assert.ok(err, bad.out);
  assert.ok(err.startsWith('ERROR: ['), err);
  assert.match(err, new RegExp(`^ERROR: \\[${String(bad.code).padStart(3, '0')}\\]: `));
  assert.ok(!err.includes('\n'));
  // The last ERROR line and its HINT, joined; the cause itself is a WARN before it.
  assert.match(err, /^ERROR: \[056\]: unable to find primary cluster - cannot proceed HINT: \S/, bad.out);
  assert.match(bad.out, new RegExp(`WARN: unable to check pg1: \\[DbConnectError\\] .*port=${port}`), bad.out);
  // A stanza that does not exist.
  const missing = await backrestResult(ctx, ['check'], 'nope');
  assert.is.not(missing.code, 0, missing.out);
  const err2 = backrestError(missing.out);
  assert.ok(err2?.startsWith('ERROR: ['), missing.out);
  assert.match(err2!, /^ERROR: \[037\]: check command requires option: pg1-path HINT: does this stanza exist\?$/, missing.out);
  // A successful command's output has no error.
  assert.is(backrestError(await backrest(ctx, ['info'])), undefined);
  // Nothing was added to the repository by the failures.
  assert.equal(setsOf((await info(ctx)).stanza, 1).map((b) => b.label), [ctx.full, ctx.incr]);
});

test('every option of the --backup-opts whitelist is a real `pgbackrest backup` option, and every value it offers is accepted', async (ctx) => {
  const repo2 = `--repo2-path=${join(ctx.dir, 'repo2')}`; // repo2-* options need a second repository
  for (const [name, kind] of Object.entries(BACKUP_OPTIONS)) {
    const help = await helpBackup(ctx, [name]);
    assert.is(help.code, 0, `pgbackrest help backup ${name}: ${help.out}`);
    assert.ok(help.out.includes(`'backup' command - '${name.replace(/^repo\d+-/, 'repo-')}' option help`), help.out);
    if (!Array.isArray(kind)) continue;
    for (const value of kind as readonly string[]) {
      const r = await helpBackup(ctx, [...(name.startsWith('repo2-') ? [repo2] : []), `--${name}=${value}`]);
      assert.is(r.code, 0, `pgbackrest help backup --${name}=${value}: ${r.out}`);
    }
  }
  // The check can fail: pgbackrest refuses an option it does not have.
  assert.is.not((await helpBackup(ctx, ['no-such-option'])).code, 0);
  assert.is.not((await helpBackup(ctx, ['repo1-no-such-option'])).code, 0);
});

test('a backup run with parsed and rendered --backup-opts succeeds and is a diff set (compress-type stays the full’s)', async (ctx) => {
  await sql(ctx.pg.endpoint, 'insert into t select generate_series(2001, 3000)');
  const args = optionArgs(parseBackupOptions('--type=diff --start-fast --compress-type=lz4 --process-max=2'));
  assert.equal(args, ['--type=diff', '--start-fast', '--compress-type=lz4', '--process-max=2']);
  const out = await backup(ctx, args);
  const diff = newBackupLabel(out);
  assert.ok(diff, out);
  assert.match(diff, new RegExp(`^${ctx.full}_\\d{8}-\\d{6}D$`));
  const { stanza } = await info(ctx);
  const set = setsOf(stanza, 1).find((b) => b.label === diff);
  assert.is(set?.type, 'diff');
  assert.is(set?.prior, ctx.full);
  assert.equal(set?.reference, [ctx.full]);
  assert.equal(dependents(stanza, ctx.full).sort(), [ctx.incr, diff].sort());
  const manifest = readFileSync(join(ctx.repo, 'backup', 'db', diff, 'backup.manifest'), 'utf8');
  const options = manifest.split('\n').filter((l) => /^(backup|option)-/.test(l)).join('\n');
  assert.match(manifest, /^backup-type="diff"$/m, options);
  assert.match(manifest, /^option-process-max=2$/m, options);
  // pgBackRest keeps the compression of the backup a diff/incr builds on: --compress-type=lz4 is reset, with a warning.
  assert.match(out, new RegExp(`WARN: diff backup cannot alter compress-type option to 'lz4', reset to value in ${ctx.full}`), out);
  assert.match(manifest, /^option-compress-type="gz"$/m, options);
});

test('retention: with repo1-retention-full=2, three more full backups leave two full sets', async (ctx) => {
  const fulls: string[] = [];
  for (let n = 0; n < 3; n++) {
    await sql(ctx.pg.endpoint, `insert into t select generate_series(${10_000 * (n + 1)}, ${10_000 * (n + 1) + 99})`);
    const label = newBackupLabel(await backup(ctx, ['--type=full']));
    assert.ok(label);
    fulls.push(label);
  }
  const { stanza } = await info(ctx);
  const sets = setsOf(stanza, 1);
  assert.equal(sets.map((b) => [b.label, b.type]), [[fulls[1], 'full'], [fulls[2], 'full']]);
  // The expired fulls took their dependents with them, from the repository too.
  const dirs = readdirSync(join(ctx.repo, 'backup', 'db')).filter((d) => /^\d{8}-\d{6}F/.test(d)).sort();
  assert.equal(dirs, [fulls[1], fulls[2]]);
  assert.equal(dependents(stanza, fulls[1]!), []);
  // WAL older than the oldest retained full is expired as well.
  assert.ok((stanza.archive[0]?.min ?? '') <= (sets[0]!.archive?.start ?? ''), JSON.stringify(stanza.archive));
  assert.ok((stanza.archive[0]?.min ?? '') > ctx.seg, `archive min ${stanza.archive[0]?.min} still has ${ctx.seg}`);
  assert.equal(archivedFiles(ctx, ctx.seg), []);
});

test('no pgbackrest process of this suite is left running but the asynchronous archiver', (ctx) => {
  // Backups and archive-get ran synchronously; only an archive-push:async may still be finishing.
  for (const pid of ourBackrestPids(ctx)) {
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      continue; // exited meanwhile
    }
    if (!alive(pid)) continue;
    assert.ok(/archive-push/.test(cmd), `left running: ${pid} ${cmd}`);
  }
});

test.run();
