/** The local three-node cluster of hack/cluster for end-to-end tests: bring-up, kubectl and fault controls. */
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { kubeBinDir } from '../../hack/lib/kube-bin.ts';

const run = promisify(execFile);
const hack = fileURLToPath(new URL('../../hack/cluster/', import.meta.url));
/** Directory of the local cluster's state (PGO_CLUSTER_DIR). */
export const clusterDir = process.env.PGO_CLUSTER_DIR ?? '/var/lib/pgo-local';

/** The worker nodes of the local cluster. */
export const nodes = ['node1', 'node2', 'node3'] as const;

/** Handles on the running local cluster. */
export interface LocalCluster {
  kubeconfigPath: string;
  kubeconfig: KubeConfig;
  core: CoreV1Api;
  /** Runs kubectl against the cluster; resolves to stdout, rejects with stderr. */
  kubectl(...args: string[]): Promise<string>;
  /** Runs hack/cluster/fault.sh (node-stop, node-start, net-cut, net-restore, kill, freeze, thaw, pid). */
  fault(...args: string[]): Promise<string>;
}

/**
 * Deletes a namespace and waits until it is gone. Run it while the operator still runs: the pgclusters in
 * it carry the operator's finalizer.
 */
export async function deleteNamespace(c: LocalCluster, namespace: string, timeoutMs = 120_000): Promise<void> {
  await c.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      await c.core.readNamespace({ name: namespace });
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`namespace ${namespace} still exists after ${timeoutMs} ms`);
}

/** Brings the local cluster up when it is not (idempotent, quick when already up). */
export function localCluster(): LocalCluster {
  execFileSync('bash', [join(hack, 'up.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  const kubeconfigPath = join(clusterDir, 'admin.kubeconfig');
  const kubeconfig = new KubeConfig();
  kubeconfig.loadFromFile(kubeconfigPath);
  const kubectlBin = join(kubeBinDir(), 'kubectl');
  const call = async (cmd: string, args: string[]) => {
    try {
      return (await run(cmd, args, { encoding: 'utf8', maxBuffer: 16 << 20 })).stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`${[cmd, ...args].join(' ')} failed: ${e.stderr || e.message}`);
    }
  };
  return {
    kubeconfigPath,
    kubeconfig,
    core: kubeconfig.makeApiClient(CoreV1Api),
    kubectl: (...args) => call(kubectlBin, ['--kubeconfig', kubeconfigPath, ...args]),
    fault: (...args) => call('bash', [join(hack, 'fault.sh'), ...args]),
  };
}

/** Runs `sql` with the host's psql against `host` (a pod IP) as the superuser; resolves to the trimmed output. */
/** Installs the CRDs as a user would (hack/install-crds.ts) and creates the test's namespace. */
export async function prepareNamespace(c: LocalCluster, namespace: string): Promise<void> {
  await run('npx', ['--no-install', 'tsx', fileURLToPath(new URL('../../hack/install-crds.ts', import.meta.url))], { env: { ...process.env, KUBECONFIG: c.kubeconfigPath } });
  await c.core.createNamespace({ body: { metadata: { name: namespace } } });
}

export async function psql(host: string, password: string, sql: string): Promise<string> {
  const { stdout } = await run('psql', ['-X', '-Atc', sql, `host=${host} user=postgres dbname=postgres connect_timeout=3`], { env: { ...process.env, PGPASSWORD: password } });
  return stdout.trim();
}
