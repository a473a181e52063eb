/**
 * Benchmark: restores of a pgbench database of about 1 GB from the repository host (repo1), on the local cluster.
 *  1. Through the operator (a restore drill to the end of the backup: a new instance and volume, pgBackRest
 *     restore over TLS, PostgreSQL started, promoted and checked; phases timed from the task's status)
 *     against `pgbackrest restore` by hand in the repository host into a scratch directory, on the same
 *     repository, alternating in the same invocation.
 *  2. Time to a target as a function of the WAL to replay: drills replaying the whole archive after W MiB of
 *     WAL written since the backup by pgbench.
 *  3. RPO: a writer commits a counter (one row per transaction) through the primary's pod IP; the primary is
 *     frozen (SIGSTOP of every process: nothing more leaves it, as if it were destroyed); the cluster is
 *     restored in place to the end of the archive; the acknowledged commits missing from the restored primary
 *     are counted, for the archive settings used (async archive-push, archive_timeout).
 * Usage: tsx bench/restore.ts [runs=3] [pgbench scale=68]
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { API_VERSION } from '../src/crd/resources.ts';
import type { RestoreSpec } from '../src/crd/restore.ts';
import type { PgBackupResource, PgClusterResource, PgTaskResource } from '../src/crd/types.ts';
import { CustomResources } from '../src/k8s/custom.ts';
import { waitFor } from '../tests/harness/wait.ts';
import { median, startBench } from './lib.ts';

const runs = Number(process.argv[2] ?? 3);
const scale = Number(process.argv[3] ?? 68);
const bench = await startBench('/tmp/pg-operator-bench-restore.log');
const { c, ns, clusters } = bench;
const backups = new CustomResources<PgBackupResource>(c.kubeconfig, 'pgbackups');
const tasks = new CustomResources<PgTaskResource>(c.kubeconfig, 'pgtasks');
const name = 'rbench';
const kubectl = (...args: string[]) => c.kubectl('-n', ns, ...args);
const primary = async () => (await clusters.get(ns, name)).status!.currentPrimary!;
const sql = async (q: string) => (await kubectl('exec', `deploy/${await primary()}`, '-c', 'database', '--', 'psql', '-X', '-At', '-h', '/var/run/postgresql', '-U', 'postgres', '-c', q)).trim();
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Runs a restore task; returns the time each phase began (ms since the task was created) and the final status. */
async function restore(spec: RestoreSpec): Promise<{ phases: Map<string, number>; task: PgTaskResource; totalMs: number }> {
  const taskName = `r-${randomBytes(3).toString('hex')}`;
  const start = performance.now();
  await tasks.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGTask', metadata: { name: taskName, namespace: ns }, spec: { type: 'restore', clusterName: name, restore: spec } });
  const phases = new Map<string, number>();
  const task = await waitFor(taskName, async () => {
    const t = await tasks.get(ns, taskName);
    const p = t.status?.restore?.phase;
    if (p && !phases.has(p)) phases.set(p, performance.now() - start);
    return t.status?.phase === 'Succeeded' || t.status?.phase === 'Failed' ? t : undefined;
  }, 3_600_000, 250);
  if (task.status?.phase !== 'Succeeded') throw new Error(`${taskName}: ${task.status?.message}`);
  return { phases, task, totalMs: performance.now() - start };
}
const between = (phases: Map<string, number>, from: string, to: string) => (phases.get(to) ?? NaN) - (phases.get(from) ?? NaN);

try {
  const storage = { size: '8Gi', accessMode: 'ReadWriteOnce', type: 'dynamic' };
  await clusters.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGCluster', metadata: { name, namespace: ns }, spec: { storage: { primary: storage, backrest: storage }, backrest: { retentionFull: 9 } } } as unknown as PgClusterResource);
  await waitFor('the first full backup', async () => ((await backups.get(ns, `${name}-bootstrap`).catch(() => undefined))?.status?.phase === 'Succeeded' ? true : undefined), 600_000, 2000);
  await kubectl('exec', `deploy/${name}`, '-c', 'database', '--', 'pgbench', '-i', '-q', '-s', String(scale), '-h', '/var/run/postgresql', '-U', 'postgres', 'postgres');
  const dbBytes = Number(await sql('select sum(pg_database_size(oid)) from pg_database'));
  const full = await backups.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGBackup', metadata: { name: 'full-after-pgbench', namespace: ns }, spec: { clusterName: name, type: 'full' } });
  await waitFor('the full backup', async () => ((await backups.get(ns, full.object.metadata.name)).status?.phase === 'Succeeded' ? true : undefined), 1_800_000, 1000);
  console.log(`databases: ${(dbBytes / 2 ** 20).toFixed(0)} MiB (pgbench scale ${scale}), full backup taken`);

  // 1. Through the operator against by hand.
  const files: number[] = [];
  const rto: number[] = [];
  const hand: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await restore({ type: 'immediate', drill: true });
    files.push(between(r.phases, 'Restoring', 'Replaying'));
    rto.push((r.task.status?.restore?.rtoSeconds ?? NaN) * 1000);
    const t0 = performance.now();
    await kubectl('exec', `deploy/${name}-backrest-shared-repo`, '-c', 'pgbackrest', '--', 'bash', '-c',
      'd=/pgbackrest/bench-restore; rm -rf $d; mkdir -m 700 $d && pgbackrest --stanza=db --pg1-path=$d --type=immediate restore; s=$?; rm -rf $d; exit $s');
    hand.push(performance.now() - t0);
    console.log(`run ${i + 1}: operator files ${secs(files[i]!)}, restored and checked (RTO) ${secs(rto[i]!)}; by hand ${secs(hand[i]!)}`);
  }

  // 2. Replaying WAL: the whole archive after W MiB of WAL since the backup.
  const replay: string[] = [];
  for (const seconds of [0, 60]) {
    if (seconds) await kubectl('exec', `deploy/${await primary()}`, '-c', 'database', '--', 'pgbench', '-c', '4', '-T', String(seconds), '-h', '/var/run/postgresql', '-U', 'postgres', 'postgres');
    const lsn = (await backups.get(ns, full.object.metadata.name)).status?.lsnStop ?? '0/0';
    const walMiB = Number(await sql(`select pg_wal_lsn_diff(pg_current_wal_lsn(), '${lsn}') / 1048576`));
    await sql('select pg_switch_wal()');
    await new Promise((r) => setTimeout(r, 15_000));
    const r = await restore({ type: 'default', drill: true });
    replay.push(`| ${walMiB.toFixed(0)} MiB | ${secs(between(r.phases, 'Replaying', 'Verifying'))} | ${secs((r.task.status?.restore?.rtoSeconds ?? NaN) * 1000)} |`);
    console.log(`after ${walMiB.toFixed(0)} MiB of WAL: replay ${secs(between(r.phases, 'Replaying', 'Verifying'))}, RTO ${r.task.status?.restore?.rtoSeconds} s`);
  }

  // 3. RPO: freeze the primary under a writer, restore in place to the end of the archive, count what is missing.
  const ip = (await clusters.get(ns, name)).status!.instances!.find((i) => i.role === 'primary')!.podIP!;
  const password = Buffer.from((await c.core.readNamespacedSecret({ namespace: ns, name: `${name}-postgres-secret` })).data!.password!, 'base64').toString();
  const client = new pg.Client({ host: ip, port: 5432, user: 'postgres', password, database: 'postgres', query_timeout: 2000 });
  await client.connect();
  await client.query('create table rpo (n bigint primary key, at timestamptz default clock_timestamp())');
  const acked: number[] = [];
  let writing = true;
  const writer = (async () => {
    for (let n = 1; writing; n++) {
      try {
        await client.query('insert into rpo (n) values ($1)', [n]);
        acked.push(Date.now());
      } catch {
        return;
      }
    }
  })();
  await new Promise((r) => setTimeout(r, 30_000));
  const frozenAt = Date.now();
  await kubectl('exec', `deploy/${name}`, '-c', 'database', '--', 'bash', '-c', 'kill -STOP -1');
  writing = false;
  await writer;
  client.end().catch(() => undefined);
  const r = await restore({ type: 'default' });
  const restoredMax = Number(await sql('select coalesce(max(n), 0) from rpo'));
  const missing = acked.length - restoredMax;
  const lostSeconds = missing > 0 ? (frozenAt - acked[restoredMax]!) / 1000 : 0;

  console.log('');
  console.log(`restore of ${(dbBytes / 2 ** 20).toFixed(0)} MiB (pgbench scale ${scale}) from repo1, ${runs} runs, medians:`);
  console.log('| | through the operator | pgbackrest restore by hand | ratio |');
  console.log('|---|---|---|---|');
  console.log(`| files restored | ${secs(median(files))} | ${secs(median(hand))} | ${(median(files) / median(hand)).toFixed(2)} |`);
  console.log(`| restored, started, promoted, checked (RTO) | ${secs(median(rto))} | | ${(median(rto) / median(hand)).toFixed(2)} |`);
  console.log('');
  console.log('| WAL since the backup | replay to the end of the archive | RTO |');
  console.log('|---|---|---|');
  for (const row of replay) console.log(row);
  console.log('');
  console.log(`RPO (archive_timeout 60 s, async archive-push): ${acked.length} commits acknowledged, the restored primary has ${restoredMax}: ${missing} missing, the last ${lostSeconds.toFixed(1)} s before the primary froze; in-place restore took ${secs(r.totalMs)}`);
} finally {
  await bench.close();
}
