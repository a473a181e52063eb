/**
 * Benchmark: the operator's resident memory with 0 and with N pgclusters (default 100), in the same run.
 * The clusters are created with `shutdown: true`, so every actor, informer entry and applied object exists
 * but no PostgreSQL pod runs (300 pods do not fit this machine). Usage: tsx bench/memory.ts [N=100]
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { API_VERSION } from '../src/crd/resources.ts';
import type { PgClusterResource } from '../src/crd/types.ts';
import { waitFor } from '../tests/harness/wait.ts';
import { median, rssMiB, startBench } from './lib.ts';

const n = Number(process.argv[2] ?? 100);
const { ns, op, clusters, close } = await startBench('/tmp/pg-operator-bench.log', { PGO_MEMORY_LOG_MS: '5000' });
/** Median of 5 samples a second apart. */
const sample = async () => {
  const values: number[] = [];
  for (let i = 0; i < 5; i++) {
    values.push(rssMiB(op.child.pid!));
    await sleep(1000);
  }
  return median(values);
};
try {
  await sleep(15_000); // lease, informers
  const baseline = await sample();
  for (let i = 0; i < n; i++) {
    await clusters.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGCluster', metadata: { name: `m${i}`, namespace: ns }, spec: { shutdown: true } } as PgClusterResource);
  }
  await waitFor(`${n} clusters applied`, async () => {
    const list = (await clusters.listAll()).items.filter((x) => x.metadata.namespace === ns);
    return list.filter((x) => x.status?.observedGeneration === 1).length === n;
  }, 600_000, 2000);
  await sleep(10_000);
  const loaded = await sample();
  console.log(`operator RSS: ${baseline.toFixed(0)} MiB with 0 clusters, ${loaded.toFixed(0)} MiB with ${n} (ratio ${(loaded / baseline).toFixed(2)}, ${((loaded - baseline) / n).toFixed(2)} MiB per cluster)`);
} finally {
  await close();
}
