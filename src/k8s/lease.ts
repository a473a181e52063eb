/**
 * Leader election with a coordination.k8s.io Lease, so that two operator replicas never act on the same
 * clusters. Writes carry the resourceVersion read, so two candidates cannot both take an expired lease.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { httpStatus } from './custom.ts';

/** A held lease. */
export interface Leadership {
  /** Resolves if the lease is lost (not renewed in time); the operator must then stop acting. */
  lost: Promise<void>;
  /** Stops renewing and releases the lease. */
  release(): Promise<void>;
}

/** Waits until this process holds the lease `namespace/name`, then keeps renewing it. */
export async function acquireLease(
  kc: KubeConfig,
  namespace: string,
  name: string,
  identity: string,
  { leaseSeconds = 15, renewMs = 5000, log = console.error } = {},
): Promise<Leadership> {
  const api = kc.makeApiClient(CoordinationV1Api);
  const now = () => new V1MicroTime(Date.now());
  const take = async (): Promise<boolean> => {
    let lease: V1Lease | undefined;
    try {
      lease = await api.readNamespacedLease({ namespace, name });
    } catch (err) {
      if (httpStatus(err) !== 404) throw err;
    }
    const spec = lease?.spec;
    const held = spec?.holderIdentity && spec.holderIdentity !== identity;
    const renewed = spec?.renewTime ? new Date(spec.renewTime).getTime() : 0;
    if (held && renewed + (spec.leaseDurationSeconds ?? leaseSeconds) * 1000 > Date.now()) return false;
    const body: V1Lease = {
      metadata: { name, namespace, resourceVersion: lease?.metadata?.resourceVersion },
      spec: {
        holderIdentity: identity,
        leaseDurationSeconds: leaseSeconds,
        acquireTime: held || !lease ? now() : spec?.acquireTime,
        renewTime: now(),
        leaseTransitions: (spec?.leaseTransitions ?? 0) + (held ? 1 : 0),
      },
    };
    try {
      if (lease) await api.replaceNamespacedLease({ namespace, name, body });
      else await api.createNamespacedLease({ namespace, body });
      return true;
    } catch (err) {
      if (httpStatus(err) === 409) return false; // another candidate wrote first
      throw err;
    }
  };

  while (!(await take().catch((err: unknown) => (log(`lease ${namespace}/${name}: ${String(err)}`), false)))) await sleep(renewMs);
  let lastRenew = Date.now();
  let stopped = false;
  let markLost: () => void = () => undefined;
  const lost = new Promise<void>((resolve) => (markLost = resolve));
  const timer = setInterval(() => {
    void take()
      .then((ok) => {
        if (ok) lastRenew = Date.now();
      })
      .catch((err: unknown) => log(`renewing lease ${namespace}/${name}: ${String(err)}`))
      .finally(() => {
        if (!stopped && Date.now() - lastRenew > leaseSeconds * 1000) markLost();
      });
  }, renewMs);
  return {
    lost,
    async release() {
      stopped = true;
      clearInterval(timer);
      try {
        const lease = await api.readNamespacedLease({ namespace, name });
        if (lease.spec?.holderIdentity === identity) {
          lease.spec.holderIdentity = undefined;
          await api.replaceNamespacedLease({ namespace, name, body: lease });
        }
      } catch (err) {
        log(`releasing lease ${namespace}/${name}: ${String(err)}`);
      }
    },
  };
}
