/** Targets `pg-operator` and `pg-operator-sync`: a pgcluster with 2 replicas, managed by this repository's operator. */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { LABEL, clusterNames } from '../../src/cluster/names.ts';
import { API_VERSION } from '../../src/crd/resources.ts';
import type { PgClusterResource } from '../../src/crd/types.ts';
import { CustomResources } from '../../src/k8s/custom.ts';
import { deleteNamespace, type LocalCluster } from '../../tests/harness/cluster.ts';
import { startOperator, type OperatorProcess } from '../../tests/harness/operator.ts';
import { ensureNamespace } from './k8s.ts';
import type { Credentials, Target } from './target.ts';

/** The operator, run as a process on the host once for every pg-operator target, started on first use. */
export class OperatorHost {
  private op?: OperatorProcess;
  /** @param logFile where the operator's output goes */
  constructor(private readonly logFile: string) {}

  /** Installs the CRDs and starts the operator unless it runs. */
  async ensure(c: LocalCluster): Promise<void> {
    if (this.op) return;
    try {
      await promisify(execFile)('npx', ['--no-install', 'tsx', 'hack/install-crds.ts'], { env: { ...process.env, KUBECONFIG: c.kubeconfigPath } });
    } catch (err) {
      throw new Error('installing the CRDs', { cause: err });
    }
    this.op = startOperator(c.kubeconfigPath, this.logFile);
  }

  /** Stops the operator. */
  async stop(): Promise<void> {
    await this.op?.stop();
    this.op = undefined;
  }
}

/** A pgcluster `hippo` with 2 replicas (and `syncReplication` when `sync`) in its own namespace. */
export function operatorTarget(name: string, host: OperatorHost, sync: boolean): Target {
  const cluster = 'hippo';
  const namespace = `bench-${name}-${randomBytes(2).toString('hex')}`;
  return {
    name,
    namespace,
    primaryService: clusterNames(cluster).primaryService,
    // The instances only (the repository host has the cluster label too).
    podSelector: `${LABEL.cluster}=${cluster},${LABEL.component}=database`,
    container: 'database',
    members: 3,
    async deploy(c: LocalCluster) {
      await host.ensure(c);
      await ensureNamespace(c, namespace);
      const spec = { replicas: 2, ...(sync ? { syncReplication: true } : {}) };
      await new CustomResources<PgClusterResource>(c.kubeconfig, 'pgclusters')
        .createIfAbsent({ apiVersion: API_VERSION, kind: 'PGCluster', metadata: { name: cluster, namespace }, spec } as PgClusterResource);
    },
    async credentials(c: LocalCluster): Promise<Credentials> {
      const s = await c.core.readNamespacedSecret({ namespace, name: clusterNames(cluster).superuserSecret });
      return { user: 'postgres', password: Buffer.from(s.data!.password!, 'base64').toString(), database: 'postgres' };
    },
    async failoverTimes(c: LocalCluster, since: number) {
      const pgc = await new CustomResources<PgClusterResource>(c.kubeconfig, 'pgclusters').get(namespace, cluster);
      return pgc?.status?.failoverHistory?.find((h) => Date.parse(h.time) >= since);
    },
    // While the operator still runs: the pgcluster carries its finalizer.
    teardown: (c: LocalCluster) => deleteNamespace(c, namespace, 300_000),
  };
}
