/** Observation of a cluster's instances: pods from the informer cache, then PostgreSQL's own view over SQL. */
import type { V1Pod } from '@kubernetes/client-node';
import type pg from 'pg';
import { LABEL } from '../cluster/names.ts';
import type { InstanceObservation, Observation } from '../cluster/observation.ts';
import { clusterInstances, restoringInstances } from '../cluster/plan.ts';
import type { PgClusterResource, PgReplicaResource } from '../crd/types.ts';
import { instanceState, standbyLag } from '../pg/instance.ts';

/** How long the observation waits for one instance's answer. */
const OBSERVE_TIMEOUT_MS = 2000;

/** The pod's Ready condition is True. */
export const isReady = (pod: V1Pod) => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

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
  query: <T>(podIP: string, work: (client: pg.Client) => Promise<T>, timeoutMs: number) => Promise<T>,
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
      if (o.podIP && o.ready) o.pg = await query(o.podIP, instanceState, OBSERVE_TIMEOUT_MS).catch(() => undefined);
      return o;
    }),
  );
  const p = observed.find((i) => i.name === primary);
  if (p?.podIP && p.ready) {
    const lags = await query(p.podIP, standbyLag, OBSERVE_TIMEOUT_MS).catch(() => []);
    for (const i of observed) {
      const lag = lags.find((l) => l.applicationName === i.podName);
      // A standby connected but not streaming (`startup`: stuck before its first record) has no lag to show.
      if (lag && (lag.state === 'streaming' || lag.state === 'catchup')) i.lagBytes = lag.lagBytes;
    }
  }
  return { primary, instances: observed };
}

/** One Warning Event (`record`) per instance problem, again only when it changes; `reported` remembers them. */
export function reportProblems(o: Observation, reported: Map<string, string>, record: (message: string) => void): void {
  for (const i of o.instances) {
    if (i.problem && reported.get(i.name) !== i.problem) record(`${i.name} ${i.problem}`);
    if (i.problem) reported.set(i.name, i.problem);
    else reported.delete(i.name);
  }
}
