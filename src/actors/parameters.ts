/** The spec's PostgreSQL parameters on the running instances, checked by PostgreSQL before anything else changes. */
import { SYNC_STANDBY_NAMES } from '../cluster/builders.ts';
import type { PgClusterResource } from '../crd/types.ts';
import type { Observation } from '../cluster/observation.ts';
import { SpecRejected } from '../machines/cluster.ts';
import { ParameterRejected, applyParameters, withInstance, type Endpoint } from '../pg/instance.ts';

/**
 * The parameters set on running instances: the spec's, and synchronous replication as the spec has it now
 * (the ConfigMap holds it for the next start, but its file reaches a running pod only a minute or so later,
 * and nothing reloads it then: turning synchronous replication on or off takes effect at once this way).
 */
export function runtimeParameters(cluster: PgClusterResource): Record<string, string> {
  return { synchronous_standby_names: cluster.spec.syncReplication ? SYNC_STANDBY_NAMES : '', ...cluster.spec.parameters };
}

/**
 * Sets the parameters on every reachable instance, the primary first: PostgreSQL's own checks there decide
 * whether the spec is good. A refused parameter is a SpecRejected before any object or other instance is
 * touched, so the ConfigMap (read at the next start) never gets a value PostgreSQL would not start with.
 * New or unreachable instances read the same parameters from the ConfigMap when they start.
 */
export async function applyParametersToInstances(
  cluster: PgClusterResource,
  observation: Observation | undefined,
  primary: string,
  endpoint: (ip: string) => Promise<Endpoint>,
  generation: number,
  signal: AbortSignal,
): Promise<void> {
  const reachable = (observation?.instances ?? []).filter((i) => i.ready && i.podIP).sort((a, b) => Number(b.name === primary) - Number(a.name === primary));
  for (const instance of reachable) {
    signal.throwIfAborted();
    try {
      await withInstance(await endpoint(instance.podIP!), (c) => applyParameters(c, runtimeParameters(cluster)));
    } catch (err) {
      if (!(err instanceof ParameterRejected)) throw err;
      throw new SpecRejected(generation, 'InvalidParameter', `spec.parameters.${err.parameter}: PostgreSQL refused it: ${err.message}`);
    }
  }
}

/**
 * The spec's parameters on the running instances, once per generation, before the objects of an apply (so a
 * refused one stops it, see applyParametersToInstances). Instances not observed then (none at all when the
 * operator has just started) get them from the ConfigMap at their next start only.
 */
export class RunningParameters {
  /** The generation whose parameters the running instances have (-1: none yet). */
  private applied = -1;

  constructor(private readonly endpoint: (ip: string) => Promise<Endpoint>) {}

  /** Whether the instances have the parameters of `generation` (a restart for pending ones may follow). */
  has(generation: number): boolean {
    return this.applied === generation;
  }

  /** Part of an apply of `generation`; SpecRejected when PostgreSQL refuses a parameter. */
  async beforeApply(cluster: PgClusterResource, observation: Observation | undefined, primary: string, generation: number, signal: AbortSignal): Promise<void> {
    if (generation === this.applied) return;
    await applyParametersToInstances(cluster, observation, primary, this.endpoint, generation, signal);
    this.applied = generation;
  }
}
