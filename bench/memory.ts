/**
 * Benchmark: the operator's resident memory with 0 and with N pgclusters (default 100), in the same run.
 * The clusters are created with `shutdown: true`, so every actor, informer entry and applied object exists
 * but no PostgreSQL pod runs (300 pods do not fit this machine). Usage: tsx bench/memory.ts [N=100]
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { API_VERSION } from '../src/crd/resources.ts';
import type { PgClusterResource } from '../src/crd/types.ts';
import { CustomResources } from '../src/k8s/custom.ts';
import { deleteNamespace, localCluster } from '../tests/harness/cluster.ts';
import { startOperator } from '../tests/harness/operator.ts';
import { waitFor } from '../tests/harness/wait.ts';
import { median, rssMiB } from './lib.ts';

const run = promisify(execFile);
const n = Number(process.argv[2] ?? 100);
const c = localCluster();
const ns = `bench-${randomBytes(3).toString('hex')}`;
await run('npx', ['--no-install', 'tsx', 'hack/install-crds.ts'], { env: { ...process.env, KUBECONFIG: c.kubeconfigPath } });
await c.core.createNamespace({ body: { metadata: { name: ns } } });
process.env.PGO_MEMORY_LOG_MS = '5000';
const op = startOperator(c.kubeconfigPath, '/tmp/pg-operator-bench.log');
const clusters = new CustomResources<PgClusterResource>(c.kubeconfig, 'pgclusters');
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
  await deleteNamespace(c, ns, 600_000);
  await op.stop();
}
