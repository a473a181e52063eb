/**
 * A failed primary whose node never comes back. After the failover it is fenced at zero pods and returns
 * as a replica once its old pod is gone (cluster-actor `unfence`); but no kubelet ever confirms that a pod
 * of a dead node stopped, so the pod stays (Terminating) for good, and a local volume is pinned to that node:
 * the cluster would stay one instance short until a person stepped in.
 *
 * Once the node has been NotReady for PGO_LOST_NODE_SECONDS (5 min), the instance is moved to a live node:
 * its volume, when pinned to the lost node, is kept (its PersistentVolume set to Retain, for anyone who wants
 * the old primary's last writes) and its claim deleted; its pods are force-deleted; the instance then comes
 * back as a replica cloned from the primary on a new volume. Force-deleting is safe here because the instance
 * was failed over first: every replica was cut off it, and a primary that lost the API server stops itself
 * (the image's self-fencing). An Event says what was done and why.
 */
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { LABEL } from '../cluster/names.ts';
import { describeError, httpStatus } from '../k8s/custom.ts';

/** `undefined` for a 404 (the object is gone), the error otherwise. */
function gone(err: unknown): undefined {
  if (httpStatus(err) === 404) return undefined;
  throw err;
}

/** How long a node may be NotReady before the fenced instances on it are moved (PGO_LOST_NODE_SECONDS). */
export const LOST_NODE_MS = Number(process.env.PGO_LOST_NODE_SECONDS ?? 300) * 1000;

/** What moving an instance needs from its cluster actor. */
export interface LostNodeHost {
  kc: KubeConfig;
  namespace: string;
  /** The cluster's pods now (terminating ones included). */
  pods(): readonly V1Pod[];
  event(type: 'Normal' | 'Warning', reason: string, message: string): void;
  log(line: string): void;
}

const podsOf = (host: LostNodeHost, instance: string) => host.pods().filter((p) => p.metadata?.labels?.[LABEL.instance] === instance);

/** Since when (epoch ms) `node` has not been Ready; undefined when it is Ready. A deleted node counts from `now`. */
export function notReadySince(node: V1Node | undefined, now: number): number | undefined {
  if (!node) return now;
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status === 'True') return undefined;
  return ready?.lastTransitionTime ? new Date(ready.lastTransitionTime).getTime() : now;
}

/** Whether a PersistentVolume's node affinity pins it to `node` (a local volume). */
export function pinnedTo(pv: { spec?: { nodeAffinity?: { required?: { nodeSelectorTerms?: { matchExpressions?: { values?: string[] }[] }[] } } } } | undefined, node: string): boolean {
  return !!pv?.spec?.nodeAffinity?.required?.nodeSelectorTerms?.some((t) => t.matchExpressions?.some((e) => e.values?.includes(node)));
}

/**
 * Moves fenced instance `instance` off its node when that node is lost; resolves to true once it was moved
 * (its pods and, if pinned there, its claim are gone), false when there is nothing to do (yet).
 */
export async function moveOffLostNode(host: LostNodeHost, instance: string, signal: AbortSignal): Promise<boolean> {
  const pods = podsOf(host, instance);
  const nodeName = pods.find((p) => p.spec?.nodeName)?.spec?.nodeName;
  if (!nodeName) return false;
  const core = host.kc.makeApiClient(CoreV1Api);
  const node = await core.readNode({ name: nodeName }).catch(gone);
  const since = notReadySince(node, Date.now());
  if (since === undefined || Date.now() - since < LOST_NODE_MS) return false;

  // The claim its pods mount (not always named after it: see instanceClaim).
  const claimName = pods.flatMap((p) => p.spec?.volumes ?? []).find((v) => v.name === 'pgdata')?.persistentVolumeClaim?.claimName ?? instance;
  const claim = await core.readNamespacedPersistentVolumeClaim({ namespace: host.namespace, name: claimName }).catch(() => undefined);
  const pv = claim?.spec?.volumeName ? await core.readPersistentVolume({ name: claim.spec.volumeName }).catch(() => undefined) : undefined;
  const pinned = pinnedTo(pv, nodeName);
  const minutes = Math.round((Date.now() - since) / 60_000);
  host.event('Warning', 'NodeLost', `node ${nodeName} has not been Ready for ${minutes} min: moving ${instance} (failed over and fenced) to a live node; ` +
    `its pods are force-deleted (its replicas were cut off it, and it stops itself without the API server)` +
    (pinned ? `; its volume is kept as PersistentVolume ${pv!.metadata!.name} (reclaim policy Retain) and it starts again as a replica on a new one` : ''));
  if (pinned && pv!.spec?.persistentVolumeReclaimPolicy !== 'Retain') {
    await core.patchPersistentVolume({ name: pv!.metadata!.name!, body: [{ op: 'replace', path: '/spec/persistentVolumeReclaimPolicy', value: 'Retain' }] }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch));
  }
  for (const p of pods) {
    await core.deleteNamespacedPod({ namespace: host.namespace, name: p.metadata!.name!, gracePeriodSeconds: 0 }).catch(gone);
  }
  if (pinned) {
    await core.deleteNamespacedPersistentVolumeClaim({ namespace: host.namespace, name: claimName }).catch(gone);
    // The apply creates the claim again: only once the old one is gone, or it would find it terminating.
    for (let i = 0; ; i++) {
      const left = await core.readNamespacedPersistentVolumeClaim({ namespace: host.namespace, name: claimName }).then(() => true, (err: unknown) => gone(err) ?? false);
      if (!left) break;
      if (i >= 120) throw new Error(`the claim ${claimName} was not gone 2 min after its deletion`);
      await sleep(1000, undefined, { signal });
    }
  }
  host.log(`moved ${instance} off lost node ${nodeName}${pinned ? ` (PersistentVolume ${pv!.metadata!.name} retained)` : ''}`);
  return true;
}

/**
 * The fenced instances of a cluster: one whose old pod is gone may run again (as a replica), one whose pod
 * stays because its node is lost is moved off that node first (at most one move per instance at a time;
 * errors are logged and it is tried again at the next observation).
 */
export class FencedInstances {
  private readonly moving = new Set<string>();

  constructor(private readonly host: LostNodeHost) {}

  /** Calls `unfence` for each instance of `fenced` (but `failingOver`) that may run again. */
  release(fenced: readonly string[], failingOver: string | undefined, unfence: (instance: string) => void, signal: AbortSignal): void {
    for (const name of fenced) {
      if (name === failingOver || this.moving.has(name)) continue;
      if (podsOf(this.host, name).length) {
        this.move(name, signal);
        continue;
      }
      this.host.log(`the old pod of ${name} is gone; it returns as a replica`);
      unfence(name);
    }
  }

  private move(instance: string, signal: AbortSignal): void {
    this.moving.add(instance);
    moveOffLostNode(this.host, instance, signal)
      .catch((err: unknown) => this.host.log(`moving ${instance} off its lost node: ${describeError(err)}`))
      .finally(() => this.moving.delete(instance));
  }
}
