/**
 * Benchmark: the write outage of a minor upgrade of a 3-instance cluster under a writer. The writer (the one of
 * bench/failover: one connection, one INSERT per transaction, reconnecting) runs in the network namespace of a
 * node and commits through the primary Service's ClusterIP, as an application pod would. Each run is one
 * `pgo upgrade --ccp-image-tag` (alternately 15-next and 15: the two tags of the postgres image). Printed per run
 * and as medians: the upgrade's wall time, the write outage (the longest time between two acknowledged commits),
 * the gaps over 1 s, failed attempts, switchovers, and acknowledged commits missing afterwards.
 * Usage: flock /tmp/pgo-cluster.lock npx tsx bench/upgrade.ts [runs=3]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { clusterNames } from '../src/cluster/names.ts';
import type { PgClusterResource } from '../src/crd/types.ts';
import { freePort } from '../tests/harness/net.ts';
import { pgo, pgoEnv, pgoJson } from '../tests/harness/pgo.ts';
import { waitFor } from '../tests/harness/wait.ts';
import { serviceAddress } from './failover/k8s.ts';
import { startWriter } from './failover/writer.ts';
import { median, startBench } from './lib.ts';

const runs = Number(process.argv[2] ?? 3);
const port = await freePort();
const bench = await startBench('/tmp/pg-operator-bench-upgrade.log', { PGO_API_PORT: String(port) });
const { c, ns, clusters } = bench;
const dir = mkdtempSync(join(tmpdir(), 'bench-upgrade-'));
const name = 'ubench';
const names = clusterNames(name);
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const switchovers = (cl: PgClusterResource) => (cl.status?.failoverHistory ?? []).filter((f) => f.kind === 'switchover').length;

try {
  const env = await pgoEnv(c.core, dir, port, ns);
  await waitFor('the API', async () => ((await pgo(env, 'version')).code === 0 ? true : undefined), 60_000, 500);
  const created = await pgo(env, 'create', 'cluster', name, '--replica-count', '2');
  if (created.code !== 0) throw new Error(created.stderr);
  const allReady = () => waitFor(`${name} Ready with 3`, async () => {
    const shown = await pgoJson<{ clusters: { phase?: string; readyInstances?: number }[] }>(env, 'show', 'cluster', name);
    return shown.clusters[0]?.phase === 'Ready' && shown.clusters[0].readyInstances === 3 ? true : undefined;
  }, 600_000, 2000);
  await allReady();
  const s = await c.core.readNamespacedSecret({ namespace: ns, name: names.superuserSecret });
  const password = Buffer.from(s.data!.password!, 'base64').toString();
  const address = await serviceAddress(c, ns, names.primaryService);
  const results: { wallMs: number; outageMs: number; gaps: number; errors: number; switchovers: number; lost: number }[] = [];
  for (let run = 1; run <= runs; run++) {
    const table = `upgrade_bench_${run}`;
    const primary = (await clusters.get(ns, name)).status!.currentPrimary!;
    const ip = (await c.core.listNamespacedPod({ namespace: ns, labelSelector: `pg-operator.dev/instance=${primary},pg-operator.dev/component=database` })).items[0]!.status!.podIP!;
    const admin = new pg.Client({ host: ip, user: 'postgres', password, database: 'postgres' });
    await admin.connect();
    await admin.query(`create table ${table} (v bigint primary key)`);
    await admin.end();
    const before = switchovers(await clusters.get(ns, name));
    // A node the writer runs from: every node has kube-proxy, so any one will do.
    const writer = startWriter('pgo-node1', { ...address, user: 'postgres', password, database: 'postgres', table });
    await waitFor('the writer committing', () => Promise.resolve(writer.acks.length > 50 ? true : undefined), 60_000, 100);
    const tag = run % 2 === 1 ? '15-next' : '15';
    const t0 = Date.now();
    const up = await pgo(env, 'upgrade', name, '--ccp-image-tag', tag, '--no-prompt');
    const wallMs = Date.now() - t0;
    await new Promise((r) => setTimeout(r, 2000));
    await writer.stop();
    if (up.code !== 0) throw new Error(`run ${run}: pgo upgrade: ${up.stdout}${up.stderr}`);
    const during = writer.acks.filter((a) => a.t >= t0);
    let outageMs = 0;
    let gaps = 0;
    for (let i = 1; i < during.length; i++) {
      const gap = during[i]!.t - during[i - 1]!.t;
      outageMs = Math.max(outageMs, gap);
      if (gap > 1000) gaps++;
    }
    const after = await clusters.get(ns, name);
    await allReady();
    const ipNow = (await c.core.listNamespacedPod({ namespace: ns, labelSelector: `pg-operator.dev/instance=${after.status!.currentPrimary!},pg-operator.dev/component=database` })).items[0]!.status!.podIP!;
    const check = new pg.Client({ host: ipNow, user: 'postgres', password, database: 'postgres' });
    await check.connect();
    const have = new Set((await check.query<{ v: string }>(`select v from ${table}`)).rows.map((r) => Number(r.v)));
    await check.end();
    const lost = writer.acks.filter((a) => !have.has(a.v)).length;
    const r = { wallMs, outageMs, gaps, errors: writer.errors.filter((e) => e.t >= t0).length, switchovers: switchovers(after) - before, lost };
    results.push(r);
    console.log(`run ${run} (to :${tag}): upgrade ${secs(wallMs)}, write outage ${secs(outageMs)} (longest gap between commits), ${gaps} gap(s) > 1 s, ${r.errors} failed attempts, ${r.switchovers} switchover(s), ${during.length} commits during it, ${lost} acknowledged lost`);
  }
  const m = (k: keyof (typeof results)[number]) => median(results.map((r) => r[k]));
  console.log(`\n${runs} minor upgrades of a 3-instance cluster under a writer, medians: upgrade ${secs(m('wallMs'))}, write outage ${secs(m('outageMs'))}, gaps > 1 s ${m('gaps')}, switchovers ${m('switchovers')}, lost ${m('lost')}; worst outage ${secs(Math.max(...results.map((r) => r.outageMs)))}`);
} finally {
  await bench.close();
  rmSync(dir, { recursive: true, force: true });
}
