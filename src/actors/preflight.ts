/**
 * Checks a changed spec against the real cluster before any instance is touched: a new image is pulled and
 * run once in a throw-away pod, and resource requests must fit some node's allocatable capacity. A failed
 * check is a SpecRejected: the running instances keep their last good spec (a Recreate rollout of an image
 * that does not exist would have stopped every instance first).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AppsV1Api, CoreV1Api, type KubeConfig, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { instanceAffinity } from '../cluster/affinity.ts';
import { ownerRef } from '../cluster/builders.ts';
import { quantityValue } from '../crd/limits.ts';
import type { PgClusterResource } from '../crd/types.ts';
import { httpStatus } from '../k8s/custom.ts';
import { SpecRejected } from '../machines/cluster.ts';

/** Label of the image-check pod (not the cluster label: it is no instance, and no Service selects it). */
export const PREFLIGHT_LABEL = 'pg-operator.dev/preflight';

/** How long the image check may take before it counts as a transient failure (retried). */
const IMAGE_CHECK_MS = Number(process.env.PGO_IMAGE_CHECK_MS ?? 120_000);

const PULL_FAILURES = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull', 'RegistryUnavailable']);

/**
 * Why no node can run an instance with the spec's requests (and required node label), or undefined when
 * one can. Judged on allocatable capacity, not on what is free now: an instance's own pod is replaced.
 */
export function noNodeFits(nodes: readonly V1Node[], cluster: PgClusterResource): string | undefined {
  const requests = cluster.spec.resources?.requests;
  // No node registered yet (or none visible): nothing to judge by.
  if ((!requests?.cpu && !requests?.memory) || nodes.length === 0) return undefined;
  const label = cluster.spec.nodeAffinity?.type === 'required' ? cluster.spec.nodeAffinity.nodeLabel : undefined;
  const eligible = nodes.filter((n) => !n.spec?.unschedulable && (!label || n.metadata?.labels?.[label.key] === label.value));
  const allocatable = (n: V1Node, r: 'cpu' | 'memory') => quantityValue(String(n.status?.allocatable?.[r] ?? '0'));
  const fits = (n: V1Node) => (['cpu', 'memory'] as const).every((r) => !requests[r] || allocatable(n, r) >= quantityValue(requests[r]));
  if (eligible.some(fits)) return undefined;
  const largest = (r: 'cpu' | 'memory') => Math.max(0, ...eligible.map((n) => allocatable(n, r)));
  const asked = Object.entries(requests).map(([r, q]) => `${r} ${q}`).join(', ');
  return `no node can run an instance requesting ${asked} (spec.resources.requests): the largest node allocates cpu ${largest('cpu')}, memory ${(largest('memory') / 2 ** 30).toFixed(1)}Gi`;
}

/** What the check pod's state says: done, refused (with why), or still going. */
export function imageCheckOutcome(pod: V1Pod, image: string): { ok: true } | { refused: string } | undefined {
  if (pod.status?.phase === 'Succeeded') return { ok: true };
  const state = pod.status?.containerStatuses?.[0]?.state;
  const waiting = state?.waiting;
  if (waiting?.reason && PULL_FAILURES.has(waiting.reason)) return { refused: `image "${image}" (spec.image) cannot be pulled: ${waiting.reason}: ${waiting.message ?? ''}`.trim() };
  if (pod.status?.phase === 'Failed') {
    const code = state?.terminated?.exitCode;
    return { refused: `image "${image}" (spec.image) has no PostgreSQL server (the check exited with ${code ?? 'an error'})` };
  }
  return undefined;
}

/** Runs the preflight checks of the spec at `generation`; throws SpecRejected when one fails. */
export async function preflight(kc: KubeConfig, cluster: PgClusterResource, generation: number, signal: AbortSignal): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const requests = cluster.spec.resources?.requests;
  if (requests?.cpu || requests?.memory) {
    // Without permission to list nodes (a restricted install), the fit is not judged rather than blocking every apply.
    const nodes = await core.listNode().then((l) => l.items, (err: unknown) => {
      if (httpStatus(err) === 403) return [];
      throw err;
    });
    const fit = noNodeFits(nodes, cluster);
    if (fit) throw new SpecRejected(generation, 'Unschedulable', fit);
  }
  const running = await runningImage(kc, cluster);
  if (running !== undefined && running !== cluster.spec.image) await checkImage(core, cluster, generation, signal);
}

/** The image the primary's Deployment runs now; undefined before the first apply. */
async function runningImage(kc: KubeConfig, cluster: PgClusterResource): Promise<string | undefined> {
  const name = cluster.status?.currentPrimary ?? cluster.metadata.name;
  try {
    const d = await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ namespace: cluster.metadata.namespace, name });
    return d.spec?.template.spec?.containers.find((c) => c.name === 'database')?.image;
  } catch (err) {
    if (httpStatus(err) === 404) return undefined;
    throw err;
  }
}

async function checkImage(core: CoreV1Api, cluster: PgClusterResource, generation: number, signal: AbortSignal): Promise<void> {
  const problem = await imageProblem(core, cluster, cluster.spec.image, `${cluster.metadata.name}-preflight-${generation}`, signal);
  if (problem) throw new SpecRejected(generation, 'ImageUnavailable', problem);
}

/**
 * Runs `image` once in a throw-away pod `podName` where the cluster's instances may run: why it cannot be
 * pulled or has no PostgreSQL server, or undefined when it is good. Throws when the check itself did not finish.
 */
export async function imageProblem(core: CoreV1Api, cluster: PgClusterResource, image: string, podName: string, signal: AbortSignal): Promise<string | undefined> {
  const { namespace, name } = cluster.metadata;
  const body: V1Pod = {
    metadata: { name: podName, namespace, labels: { [PREFLIGHT_LABEL]: name }, ownerReferences: [ownerRef(cluster)] },
    spec: {
      restartPolicy: 'Never',
      // Where the instances may run (their node rule), but not kept away from them.
      affinity: instanceAffinity(name, cluster.spec.nodeAffinity, 'disabled'),
      tolerations: cluster.spec.tolerations,
      enableServiceLinks: false,
      automountServiceAccountToken: false,
      containers: [{
        name: 'check',
        image,
        imagePullPolicy: 'IfNotPresent',
        command: ['sh', '-c', 'command -v postgres >/dev/null || ls /usr/lib/postgresql/*/bin/postgres >/dev/null'],
        resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '64Mi' } },
      }],
    },
  };
  try {
    await core.createNamespacedPod({ namespace, body });
  } catch (err) {
    if (httpStatus(err) !== 409) throw err;
  }
  try {
    const deadline = Date.now() + IMAGE_CHECK_MS;
    while (Date.now() < deadline) {
      const outcome = imageCheckOutcome(await core.readNamespacedPod({ namespace, name: podName }), image);
      if (outcome && 'ok' in outcome) return undefined;
      if (outcome) return outcome.refused;
      await sleep(1000, undefined, { signal });
    }
    throw new Error(`checking image "${image}": the check pod ${podName} did not finish in ${IMAGE_CHECK_MS / 1000} s`);
  } finally {
    await core.deleteNamespacedPod({ namespace, name: podName, gracePeriodSeconds: 0 }).catch(() => undefined);
  }
}

