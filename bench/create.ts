/**
 * Benchmark: time from applying a 3-instance pgcluster (a primary and 2 replicas) to every instance Ready
 * and both replicas streaming, on the local cluster with the operator running as a process.
 * Prints each run and the median. Usage: tsx bench/create.ts [runs=5]
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { clusterNames } from '../src/cluster/names.ts';
import { API_VERSION } from '../src/crd/resources.ts';
import type { PgClusterResource } from '../src/crd/types.ts';
import { waitFor } from '../tests/harness/wait.ts';
import { median, startBench } from './lib.ts';

const run = promisify(execFile);
const runs = Number(process.argv[2] ?? 5);
const { c, ns, clusters, close } = await startBench('/tmp/pg-operator-bench.log');

async function streaming(name: string, primaryIP: string): Promise<boolean> {
  const secret = await c.core.readNamespacedSecret({ namespace: ns, name: clusterNames(name).superuserSecret });
  const { stdout } = await run('psql', ['-X', '-Atc', "select count(*) from pg_stat_replication where state = 'streaming'", `host=${primaryIP} user=postgres dbname=postgres connect_timeout=2`], {
    env: { ...process.env, PGPASSWORD: Buffer.from(secret.data!.password!, 'base64').toString() },
  });
  return stdout.trim() === '2';
}

const times: number[] = [];
try {
  for (let i = 0; i < runs; i++) {
    const name = `b${i}`;
    const t0 = performance.now();
    await clusters.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGCluster', metadata: { name, namespace: ns }, spec: { replicas: 2 } } as PgClusterResource);
    await waitFor(`${name} ready and streaming`, async () => {
      const x = await clusters.get(ns, name);
      const primary = x.status?.instances?.find((k) => k.role === 'primary');
      return x.status?.readyInstances === 3 && primary?.podIP ? streaming(name, primary.podIP) : false;
    }, 300_000, 100);
    const seconds = (performance.now() - t0) / 1000;
    times.push(seconds);
    console.log(`run ${i + 1}: ${seconds.toFixed(1)} s`);
    await clusters.delete(ns, name);
  }
  console.log(`create 3-instance cluster → all Ready and streaming: median ${median(times).toFixed(1)} s over ${runs} runs (min ${Math.min(...times).toFixed(1)}, max ${Math.max(...times).toFixed(1)})`);
} finally {
  await close();
}
