/** What a finished failover leaves behind: its history entry and, when asked for, a replacement replica. */
import { LABEL, clusterLabels } from '../cluster/names.ts';
import type { FailoverIntent } from '../cluster/failover.ts';
import { API_VERSION } from '../crd/resources.ts';
import type { PgClusterResource, PgReplicaResource } from '../crd/types.ts';
import type { CustomResources } from '../k8s/custom.ts';
import type { EventRecorder } from '../k8s/events.ts';

/** How many failovers status.failoverHistory keeps. */
const HISTORY = 20;

/** Appends the failover to status.failoverHistory, with its step times; once, however often it is retried. */
export async function appendHistory(clusters: CustomResources<PgClusterResource>, cluster: PgClusterResource, intent: FailoverIntent): Promise<void> {
  // `time` is when the failover started: unique per failover, so a retried relabel step adds it once.
  const record = { time: intent.startTime, kind: intent.kind, from: intent.from, to: intent.to!, reason: intent.reason, ...(intent.times ? { times: intent.times } : {}) };
  await clusters.updateStatus(cluster.metadata.namespace, cluster.metadata.name, (c) => {
    const history = c.status?.failoverHistory ?? [];
    if (history.some((h) => h.time === record.time && h.from === record.from)) return c.status;
    return { ...c.status, failoverHistory: [...history, record].slice(-HISTORY) };
  });
}

/** Creates the pgreplica `<cluster>-<seed[0..4]>` that replaces a failed primary (autofailReplaceReplica), once. */
export async function createReplacementReplica(replicas: CustomResources<PgReplicaResource>, events: EventRecorder, cluster: PgClusterResource, seed: string): Promise<void> {
  const { namespace, name } = cluster.metadata;
  const replica = `${name}-${seed.slice(0, 4)}`;
  const { created } = await replicas.createIfAbsent({
    apiVersion: API_VERSION,
    kind: 'PGReplica',
    metadata: { name: replica, namespace, labels: { ...clusterLabels(name, cluster.spec.userLabels), [LABEL.instance]: replica } },
    spec: { clusterName: name },
  });
  if (created) events.record(cluster, 'Normal', 'ReplicaCreated', `created pgreplica ${replica} to replace the failed primary`);
}
