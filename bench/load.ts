/**
 * Benchmark: `pgo load` of a CSV file of N rows (default 1,000,000) from a PersistentVolumeClaim into a table,
 * against `psql \copy` of the same file from the same volume into a table of the same shape in the same cluster,
 * alternating in one invocation. `psql \copy` runs in a pod of the same image on the same node as the load's
 * Job (the volume is local to one node), through the cluster's primary Service, as the Job does.
 * Printed per run and as medians: pgo load's wall time (the pgo process, which waits for the Job), the Job's own
 * time (its pod's container start to finish), psql \copy's time, rows per second of each and the ratio.
 * Usage: npx tsx bench/load.ts [runs=3] [rows=1000000]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterNames } from '../src/cluster/names.ts';
import { volumePod } from '../tests/fixtures/pods.ts';
import { freePort } from '../tests/harness/net.ts';
import { pgo, pgoEnv, pgoJson } from '../tests/harness/pgo.ts';
import { waitFor } from '../tests/harness/wait.ts';
import { median, startBench } from './lib.ts';

const runs = Number(process.argv[2] ?? 3);
const rows = Number(process.argv[3] ?? 1_000_000);
const port = await freePort();
const bench = await startBench('/tmp/pg-operator-bench-load.log', { PGO_API_PORT: String(port) });
const { c, ns } = bench;
const dir = mkdtempSync(join(tmpdir(), 'bench-load-'));
const name = 'lbench';
const names = clusterNames(name);
const kubectl = (...args: string[]) => c.kubectl('-n', ns, ...args);
const psql = (q: string) => kubectl('exec', 'copier', '--', 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', names.primaryService, '-U', 'postgres', '-d', 'userdb', '-c', q);
const table = (t: string) => `create table ${t} (id bigint primary key, name text not null, amount numeric(12,2), at timestamptz)`;
type LoadRow = { status: string; rows?: number; task: string; message?: string };

try {
  const env = await pgoEnv(c.core, dir, port, ns);
  await waitFor('the API', async () => ((await pgo(env, 'version')).code === 0 ? true : undefined), 60_000, 500);
  const created = await pgo(env, 'create', 'cluster', name, '--replica-count', '0');
  if (created.code !== 0) throw new Error(created.stderr);
  await waitFor(`${name} Ready`, async () => {
    const shown = await pgoJson<{ clusters: { phase?: string }[] }>(env, 'show', 'cluster', name);
    return shown.clusters[0]?.phase === 'Ready' ? true : undefined;
  }, 600_000, 2000);
  await c.core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: { metadata: { name: 'loadfiles' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '4Gi' } } } } });
  // The copier writes the file, then stays for psql \copy; the load's Job lands on its node (the volume's).
  const generate = `seq 1 ${rows} | awk '{ printf "%d,name %d,%d.%02d,2026-12-03 10:%02d:%02d+00\\n", $1, $1, $1 % 100000, $1 % 100, ($1 / 60) % 60, $1 % 60 }' > /files/rows.csv && sync && touch /files/ready && sleep infinity`;
  await c.core.createNamespacedPod({ namespace: ns, body: volumePod('copier', 'loadfiles', generate, [{ name: 'PGPASSWORD', valueFrom: { secretKeyRef: { name: names.superuserSecret, key: 'password' } } }]) });
  await waitFor('the file written', async () => ((await kubectl('exec', 'copier', '--', 'test', '-f', '/files/ready').then(() => true, () => undefined))), 600_000, 2000);
  const size = (await kubectl('exec', 'copier', '--', 'stat', '-c', '%s', '/files/rows.csv')).trim();
  console.log(`file: ${rows} rows, ${(Number(size) / 2 ** 20).toFixed(1)} MiB`);
  await psql(`${table('loaded')}; ${table('baseline')}`);
  const config = join(dir, 'load.yaml');
  writeFileSync(config, 'DbDatabase: userdb\nTableToLoad: loaded\nFilePath: /rows.csv\nFileType: csv\nPVCName: loadfiles\n');

  const results: { pgoMs: number; jobMs: number; copyMs: number }[] = [];
  for (let run = 1; run <= runs; run++) {
    await psql('truncate loaded; truncate baseline; checkpoint');
    const t0 = performance.now();
    const out = await pgoJson<{ results: LoadRow[] }>(env, 'load', name, '--load-config', config);
    let row = out.results[0]!;
    // pgo answers after 30 s with a load still running: follow its task to the end.
    while (row.status === 'running') {
      await new Promise((r) => setTimeout(r, 250));
      const wf = await pgo(env, 'show', 'workflow', row.task);
      if (/Succeeded|Failed/.test(wf.stdout)) row = { ...row, status: /Succeeded/.test(wf.stdout) ? 'loaded' : 'failed', message: wf.stdout };
    }
    const pgoMs = performance.now() - t0;
    if (row.status !== 'loaded') throw new Error(`run ${run}: ${row.message}`);
    const loaded = Number((await psql('select count(*) from loaded')).trim());
    if (loaded !== rows) throw new Error(`run ${run}: ${loaded} rows in the table, expected ${rows}`);
    const pod = (await c.core.listNamespacedPod({ namespace: ns, labelSelector: `job-name=${row.task}-load` })).items[0];
    const term = pod?.status?.containerStatuses?.[0]?.state?.terminated;
    const jobMs = term?.startedAt && term.finishedAt ? new Date(term.finishedAt).getTime() - new Date(term.startedAt).getTime() : NaN;

    await psql('checkpoint');
    const t1 = performance.now();
    await psql("\\copy baseline from '/files/rows.csv' with (format csv)");
    const copyMs = performance.now() - t1;
    results.push({ pgoMs, jobMs, copyMs });
    console.log(`run ${run}: pgo load ${(pgoMs / 1000).toFixed(2)} s (its Job ${(jobMs / 1000).toFixed(0)} s), psql \\copy ${(copyMs / 1000).toFixed(2)} s`);
  }
  const rate = (ms: number) => Math.round(rows / (ms / 1000));
  const m = { pgo: median(results.map((r) => r.pgoMs)), job: median(results.map((r) => r.jobMs)), copy: median(results.map((r) => r.copyMs)) };
  console.log(`\n${rows} rows, ${runs} runs, medians:`);
  console.log(`  pgo load (wall, pgo to result): ${(m.pgo / 1000).toFixed(2)} s, ${rate(m.pgo)} rows/s`);
  console.log(`  its Job (container, 1 s resolution): ${(m.job / 1000).toFixed(0)} s`);
  console.log(`  psql \\copy (same file, same volume, same node): ${(m.copy / 1000).toFixed(2)} s, ${rate(m.copy)} rows/s`);
  console.log(`  ratio pgo load / psql \\copy rows/s: ${(m.copy / m.pgo).toFixed(2)}`);
} finally {
  await bench.close();
  rmSync(dir, { recursive: true, force: true });
}
