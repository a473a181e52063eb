/** Helpers shared by the benchmarks: the local cluster with the operator running, medians, memory. */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { PgClusterResource } from '../src/crd/types.ts';
import { CustomResources } from '../src/k8s/custom.ts';
import { deleteNamespace, localCluster, type LocalCluster } from '../tests/harness/cluster.ts';
import { startOperator, type OperatorProcess } from '../tests/harness/operator.ts';

/** Median of a non-empty list. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Resident memory of a process in MiB (VmRSS). */
export function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1] ?? 0) / 1024;
}

/** A benchmark's environment: the local cluster, a fresh namespace and the operator as a process. */
export interface Bench {
  c: LocalCluster;
  ns: string;
  op: OperatorProcess;
  clusters: CustomResources<PgClusterResource>;
  /** Deletes the namespace (while the operator still runs, for its finalizers), then stops the operator. */
  close: () => Promise<void>;
}

/** Brings the local cluster up if needed, installs the CRDs and starts the operator (logging to `logFile`). */
export async function startBench(logFile: string, env: Record<string, string> = {}): Promise<Bench> {
  const c = localCluster();
  const ns = `bench-${randomBytes(3).toString('hex')}`;
  await promisify(execFile)('npx', ['--no-install', 'tsx', 'hack/install-crds.ts'], { env: { ...process.env, KUBECONFIG: c.kubeconfigPath } });
  await c.core.createNamespace({ body: { metadata: { name: ns } } });
  Object.assign(process.env, env);
  const op = startOperator(c.kubeconfigPath, logFile);
  return {
    c, ns, op,
    clusters: new CustomResources<PgClusterResource>(c.kubeconfig, 'pgclusters'),
    close: async () => {
      await deleteNamespace(c, ns, 600_000);
      await op.stop();
    },
  };
}
