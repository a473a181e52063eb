/** Observation of a cluster's instances: pods from the informer cache, then PostgreSQL's own view over SQL. */
import type { V1Pod } from '@kubernetes/client-node';
import { LABEL } from '../cluster/names.ts';
import type { InstanceObservation, Observation } from '../cluster/observation.ts';
import { clusterInstances, restoringInstances } from '../cluster/plan.ts';
import type { PgClusterResource, PgReplicaResource } from '../crd/types.ts';
import { instanceState, standbyLag, withInstance, type Endpoint } from '../pg/instance.ts';

const isReady = (pod: V1Pod) => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/**
 * Observes every instance of `cluster` (`primary` is its current primary): pod readiness, node, IP, role label and scheduling problems; for Ready
 * pods, recovery state, timeline, LSNs and pending restarts; from the primary, each replica's lag. An instance
 * that does not answer SQL is reported without `pg` rather than failing the whole observation.
 */
export async function observeCluster(
  cluster: PgClusterResource,
  primary: string,
  allPods: readonly V1Pod[],
  replicas: readonly PgReplicaResource[],
  endpoint: (podIP: string) => Promise<Endpoint>,
): Promise<Observation> {
  const pods = allPods.filter((p) => !p.metadata?.deletionTimestamp);
  const restoring = restoringInstances(replicas);
  const members = clusterInstances(cluster, [...replicas]).filter((i) => i.name === primary || !restoring.includes(i.name));
  const observed = await Promise.all(
    members.map(async (instance): Promise<InstanceObservation> => {
      const pod = pods.find((p) => p.metadata?.labels?.[LABEL.instance] === instance.name);
      const o: InstanceObservation = { name: instance.name, ready: pod ? isReady(pod) : false };
      if (!pod) return o;
      const unscheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable');
      if (unscheduled) o.problem = `cannot be scheduled: ${unscheduled.message ?? 'no node fits'}`;
      Object.assign(o, { podName: pod.metadata?.name, podIP: pod.status?.podIP, node: pod.spec?.nodeName, roleLabel: pod.metadata?.labels?.[LABEL.role] });
      if (o.podIP && o.ready) o.pg = await withInstance(await endpoint(o.podIP), instanceState).catch(() => undefined);
      return o;
    }),
  );
  const p = observed.find((i) => i.name === primary);
  if (p?.podIP && p.ready) {
    const lags = await withInstance(await endpoint(p.podIP), standbyLag).catch(() => []);
    for (const i of observed) {
      const lag = lags.find((l) => l.applicationName === i.podName);
      if (lag) i.lagBytes = lag.lagBytes;
    }
  }
  return { primary, instances: observed };
}
