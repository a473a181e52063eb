/**
 * Benchmark: the operator's resident memory with 0 and with N pgclusters (default 100), for each way of
 * running it, in one invocation: from the sources through tsx (the old way), the bundle of `npm run build`,
 * and the bundle with the Deployment's Node flags (deploy/operator.yaml: heap capped). The clusters are
 * created with `shutdown: true`, so every actor, informer entry and applied object exists but no PostgreSQL
 * pod runs (300 pods do not fit this machine). Each variant is started afresh on the same clusters, left
 * to settle, then sampled (median of 5 samples a second apart).
 * Usage (under the shared cluster lock): flock /tmp/pgo-cluster.lock npx tsx bench/memory.ts [N=100] [settleSeconds=60]
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { API_VERSION } from '../src/crd/resources.ts';
import type { PgClusterResource } from '../src/crd/types.ts';
import { BUNDLED, buildBundles, FROM_SOURCES, startOperator, type OperatorProcess } from '../tests/harness/operator.ts';
import { waitFor } from '../tests/harness/wait.ts';
import { median, rssMiB, startBench } from './lib.ts';

const n = Number(process.argv[2] ?? 100);
const settleMs = Number(process.argv[3] ?? 60) * 1000;
const root = fileURLToPath(new URL('../', import.meta.url));
buildBundles();

// The Node options of the operator's Deployment, read from the committed manifest.
const docs = readFileSync(`${root}deploy/operator.yaml`, 'utf8').split(/^---$/m).map((d) => parse(d) as { kind?: string; spec?: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } } });
const deployEnv = Object.fromEntries((docs.find((d) => d?.kind === 'Deployment')!.spec!.template.spec.containers[0]!.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
const variants: { name: string; args: string[]; env: Record<string, string> }[] = [
  { name: 'tsx src/main.ts', args: FROM_SOURCES, env: {} },
  { name: 'bundle (dist/operator.mjs)', args: BUNDLED, env: {} },
  { name: `bundle + Deployment env (${Object.entries(deployEnv).filter(([k]) => !k.startsWith('PGO_')).map(([k, v]) => `${k}=${v}`).join(' ')})`, args: BUNDLED, env: deployEnv },
];

const LOG = '/tmp/pg-operator-bench.log';
const { c, ns, op: first, clusters, close } = await startBench(LOG, { PGO_MEMORY_LOG_MS: '5000' });
await first.stop();
const sample = async (op: OperatorProcess) => {
  const values: number[] = [];
  for (let i = 0; i < 5; i++) {
    values.push(rssMiB(op.child.pid!));
    await sleep(1000);
  }
  return median(values);
};
const measure = async (v: (typeof variants)[number], ms: number) => {
  const op = startOperator(c.kubeconfigPath, LOG, { PGO_MEMORY_LOG_MS: '5000', ...v.env }, v.args);
  try {
    await sleep(ms);
    return await sample(op);
  } finally {
    await op.stop();
  }
};
const idle: number[] = [];
const loaded: number[] = [];
try {
  for (const v of variants) idle.push(await measure(v, 20_000));
  for (let i = 0; i < n; i++) {
    await clusters.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGCluster', metadata: { name: `m${i}`, namespace: ns }, spec: { shutdown: true } } as PgClusterResource);
  }
  // Applied once by the first variant; the others start on the same objects.
  const op = startOperator(c.kubeconfigPath, LOG, { PGO_MEMORY_LOG_MS: '5000' }, BUNDLED);
  await waitFor(`${n} clusters applied`, async () => {
    const list = (await clusters.listAll()).items.filter((x) => x.metadata.namespace === ns);
    return list.filter((x) => x.status?.observedGeneration === 1).length === n;
  }, 600_000, 2000).finally(() => op.stop());
  for (const v of variants) loaded.push(await measure(v, settleMs));
  console.log(`operator RSS (MiB), median of 5 samples after ${settleMs / 1000} s with ${n} clusters, 20 s with none:`);
  console.log(`${'variant'.padEnd(70)} ${'0'.padStart(6)} ${String(n).padStart(6)}  ratio to the first`);
  variants.forEach((v, i) => console.log(`${v.name.padEnd(70)} ${idle[i]!.toFixed(0).padStart(6)} ${loaded[i]!.toFixed(0).padStart(6)}  ${(loaded[i]! / loaded[0]!).toFixed(2)}`));
} finally {
  // The clusters' finalizers need an operator to delete them.
  const cleaner = startOperator(c.kubeconfigPath, LOG, {}, BUNDLED);
  await close();
  await cleaner.stop();
}
