/** The spec's PostgreSQL parameters on the running instances, checked by PostgreSQL before anything else changes. */
import type { PgClusterResource } from '../crd/types.ts';
import type { Observation } from '../cluster/observation.ts';
import { SpecRejected } from '../machines/cluster.ts';
import { ParameterRejected, applyParameters, withInstance, type Endpoint } from '../pg/instance.ts';

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
      await withInstance(await endpoint(instance.podIP!), (c) => applyParameters(c, cluster.spec.parameters ?? {}));
    } catch (err) {
      if (!(err instanceof ParameterRejected)) throw err;
      throw new SpecRejected(generation, 'InvalidParameter', `spec.parameters.${err.parameter}: PostgreSQL refused it: ${err.message}`);
    }
  }
}
