/** Location of the Kubernetes binaries built by hack/k8s/build.sh. */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const buildScript = fileURLToPath(new URL('../k8s/build.sh', import.meta.url));

let cached: string | undefined;

/**
 * The directory holding kube-apiserver, kubelet, kubectl, etcd, ... for the pinned version,
 * building them first when the cache lacks them (minutes when cold, instant when warm).
 */
export function kubeBinDir(): string {
  cached ??= execFileSync('bash', [buildScript], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop() ?? '';
  if (!cached) throw new Error(`${buildScript} printed no directory`);
  return cached;
}
