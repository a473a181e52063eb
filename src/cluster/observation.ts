/** What the operator observed of a cluster's instances: pods, readiness and PostgreSQL state. */
import type { InstanceState } from '../pg/instance.ts';

/** One instance as observed. */
export interface InstanceObservation {
  name: string;
  /** The pod is Ready (its readiness probe passes). */
  ready: boolean;
  podName?: string;
  podIP?: string;
  node?: string;
  /** Value of the pod's role label. */
  roleLabel?: string;
  /** PostgreSQL's own view, when the operator could connect. */
  pg?: InstanceState;
  /** Bytes of WAL the instance is behind the primary (replicas). */
  lagBytes?: number;
  /** Why the instance cannot run, when Kubernetes says so (e.g. the scheduler's Unschedulable message). */
  problem?: string;
}

/** The latest observation of a whole cluster. */
export interface Observation {
  instances: InstanceObservation[];
  /** The instance that is the primary (status.currentPrimary). */
  primary: string;
  /** When the primary was last seen healthy (epoch ms; by an observation or the health probe). */
  primaryHealthyAt?: number;
  /**
   * When the first failed check of the primary began (epoch ms; a probe sent, an observation started): the
   * failover delay counts from then, not from when the failure was noticed (a probe's timeout later).
   */
  primaryUnhealthySince?: number;
}

/** True when the primary and every replica are Ready. */
export function allReady(o: Observation | undefined): boolean {
  return !!o && o.instances.length > 0 && o.instances.every((i) => i.ready);
}

/** True when the primary is Ready. */
export function primaryReady(o: Observation | undefined): boolean {
  return !!o && o.instances.some((i) => i.name === o.primary && i.ready);
}
