/**
 * Benchmark: a full pgBackRest backup through the operator (a pgbackup) against `pgbackrest backup` run by
 * hand in the repository host on the same repository, in the same invocation, for the repository host
 * (repo1) and S3 on SeaweedFS over HTTPS (repo2), with a pgbench database of about 1 GB; then the archive lag
 * under a pgbench write load: for each WAL segment, the time from its completion (the primary moving to the
 * next segment, sampled every 250 ms) to pg_stat_archiver reporting it archived (async archive-push reports
 * a segment only once it is in every repository).
 * Usage: tsx bench/backup.ts [runs=3] [pgbench scale=68]
 */
import { randomBytes } from 'node:crypto';
import { pgHostArgs } from '../src/backrest/objects.ts';
import { API_VERSION } from '../src/crd/resources.ts';
import type { PgBackupResource, PgClusterResource } from '../src/crd/types.ts';
import { CustomResources } from '../src/k8s/custom.ts';
import { startS3 } from '../tests/harness/s3.ts';
import { freePort } from '../tests/harness/net.ts';
import { waitFor } from '../tests/harness/wait.ts';
import { median, startBench } from './lib.ts';

const runs = Number(process.argv[2] ?? 3);
const scale = Number(process.argv[3] ?? 68);
const bench = await startBench('/tmp/pg-operator-bench-backup.log', { PGO_ARCHIVE_CHECK_MS: '60000' });
const { c, ns, clusters } = bench;
const s3 = await startS3({ host: '10.200.0.1', port: await freePort() });
const backups = new CustomResources<PgBackupResource>(c.kubeconfig, 'pgbackups');
const name = 'bench';
const kubectl = (...args: string[]) => c.kubectl('-n', ns, ...args);
const sql = (q: string) => kubectl('exec', `deploy/${name}`, '-c', 'database', '--', 'psql', '-X', '-At', '-h', '/var/run/postgresql', '-U', 'postgres', '-c', q).then((o) => o.trim());

try {
  await kubectl('create', 'secret', 'generic', 's3-creds', `--from-literal=aws-s3-key=${s3.accessKey}`, `--from-literal=aws-s3-key-secret=${s3.secretKey}`);
  await kubectl('create', 'secret', 'generic', 's3-ca', `--from-file=aws-s3-ca.crt=${s3.caFile}`);
  const storage = { size: '8Gi', accessMode: 'ReadWriteOnce', type: 'dynamic' };
  const spec = {
    storage: { primary: storage, backrest: storage },
    backrest: { storageType: 'posix,s3', retentionFull: 9, s3: { bucket: s3.bucket, endpoint: s3.endpoint, region: s3.region, uriStyle: 'path', credentialsSecret: 's3-creds', caSecret: 's3-ca' } },
  };
  await clusters.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGCluster', metadata: { name, namespace: ns }, spec } as unknown as PgClusterResource);
  await waitFor('the first full backup', async () => ((await backups.get(ns, `${name}-bootstrap`).catch(() => undefined))?.status?.phase === 'Succeeded' ? true : undefined), 600_000, 2000);
  const t0 = Date.now();
  await kubectl('exec', `deploy/${name}`, '-c', 'database', '--', 'pgbench', '-i', '-q', '-s', String(scale), '-h', '/var/run/postgresql', '-U', 'postgres', 'postgres');
  const dbBytes = Number(await sql('select pg_database_size(current_database())'));
  console.log(`pgbench -i -s ${scale}: ${(dbBytes / 2 ** 20).toFixed(0)} MiB in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const cluster = await clusters.get(ns, name);

  const viaOperator = async (repo: 'posix' | 's3') => {
    const b = await backups.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGBackup', metadata: { name: `bench-${repo}-${randomBytes(3).toString('hex')}`, namespace: ns }, spec: { clusterName: name, type: 'full', repo } });
    const start = performance.now();
    const done = await waitFor(`${b.object.metadata.name}`, async () => {
      const x = await backups.get(ns, b.object.metadata.name);
      return x.status?.phase === 'Succeeded' || x.status?.phase === 'Failed' ? x : undefined;
    }, 1_800_000, 250);
    if (done.status?.phase !== 'Succeeded') throw new Error(`${done.metadata.name}: ${done.status?.error}`);
    return (performance.now() - start) / 1000;
  };
  const byHand = async (repo: 1 | 2) => {
    const start = performance.now();
    await kubectl('exec', `deploy/${name}-backrest-shared-repo`, '-c', 'pgbackrest', '--', 'pgbackrest', '--stanza=db', `--repo=${repo}`, '--type=full', ...pgHostArgs(cluster, 1, name), 'backup');
    return (performance.now() - start) / 1000;
  };
  const rows: string[] = [];
  for (const [kind, repo] of [['posix', 1], ['s3', 2]] as const) {
    const op: number[] = [];
    const hand: number[] = [];
    // Alternating, so that drift on the shared machine hits both sides alike.
    for (let i = 0; i < runs; i++) {
      op.push(await viaOperator(kind));
      hand.push(await byHand(repo));
      console.log(`repo${repo} (${kind}) run ${i + 1}: operator ${op[i]!.toFixed(1)} s, by hand ${hand[i]!.toFixed(1)} s`);
    }
    const mbs = (s: number) => (dbBytes / 2 ** 20 / s).toFixed(1);
    rows.push(`| repo${repo} ${kind} | ${median(op).toFixed(1)} s (${mbs(median(op))} MiB/s) | ${median(hand).toFixed(1)} s (${mbs(median(hand))} MiB/s) | ${(median(op) / median(hand)).toFixed(2)} |`);
  }

  // Archive lag under a write load.
  const load = kubectl('exec', `deploy/${name}`, '-c', 'database', '--', 'pgbench', '-c', '4', '-T', '60', '-h', '/var/run/postgresql', '-U', 'postgres', 'postgres');
  const completed = new Map<string, number>();
  const lags: number[] = [];
  let current = '';
  const endAt = Date.now() + 75_000;
  while (Date.now() < endAt) {
    const [seg, archived] = (await sql("select pg_walfile_name(pg_current_wal_lsn()) || ' ' || coalesce(last_archived_wal, '') from pg_stat_archiver")).split(' ');
    const now = Date.now();
    if (current && seg !== current && !completed.has(current)) completed.set(current, now);
    current = seg!;
    for (const [s, at] of completed) {
      if (archived && archived >= s) {
        lags.push((now - at) / 1000);
        completed.delete(s);
      }
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await load;
  console.log('');
  console.log(`full backup of ${(dbBytes / 2 ** 20).toFixed(0)} MiB (pgbench scale ${scale}), ${runs} runs each, medians:`);
  console.log('| repository | through the operator | pgbackrest by hand | ratio |');
  console.log('|---|---|---|---|');
  for (const r of rows) console.log(r);
  console.log(`archive lag under pgbench -c 4 -T 60 (both repositories): ${lags.length} segments, median ${median(lags).toFixed(2)} s, max ${Math.max(...lags).toFixed(2)} s; ${completed.size} segments not yet archived at the end`);
} finally {
  await bench.close();
  await s3.stop();
}
