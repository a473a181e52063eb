/** Pure planning of a cluster: its instances, the objects to apply and the initial replicas to create. */
import type { KubernetesObject } from '@kubernetes/client-node';
import { backrestObjects } from '../backrest/objects.ts';
import { MAX_INSTANCES } from '../crd/limits.ts';
import { API_VERSION } from '../crd/resources.ts';
import type { PgClusterResource, PgReplicaResource } from '../crd/types.ts';
import { clusterServices, instanceDeployment, instanceVolume, ownerRef, parametersConfigMap, type InstanceSpec } from './builders.ts';
import { DATA_CLAIM_ANNOTATION, LABEL, clusterLabels, clusterNames, initialReplicaName } from './names.ts';

/** The instances of a cluster: the one created with it (named like the cluster) and one per pgreplica. */
export function clusterInstances(cluster: PgClusterResource, replicas: PgReplicaResource[], fenced: readonly string[] = []): InstanceSpec[] {
  const { spec } = cluster;
  const source = spec.dataSource ? { bootstrap: 'restore' as const, restoreArgs: cluster.status?.dataSource?.args, restoreSource: clusterNames(cluster.metadata.name).restoreSource } : undefined;
  const primary: InstanceSpec = {
    name: cluster.metadata.name,
    bootstrap: 'primary',
    claim: cluster.metadata.annotations?.[DATA_CLAIM_ANNOTATION] || undefined,
    ...source,
    storage: spec.storage.primary,
    resources: spec.resources,
    nodeAffinity: spec.nodeAffinity,
    tolerations: spec.tolerations,
    owner: ownerRef(cluster),
  };
  const others = replicaInstances(cluster, replicas)
    .map(
      (r): InstanceSpec => ({
        name: r.metadata.name,
        bootstrap: r.spec.restore ? 'restore' : 'replica',
        restoreArgs: r.spec.restore?.args,
        storage: r.spec.storage ?? spec.storage.replica ?? spec.storage.primary,
        resources: r.spec.resources ?? spec.resources,
        image: r.spec.image,
        nodeAffinity: r.spec.nodeAffinity,
        tolerations: r.spec.tolerations ?? spec.tolerations,
        userLabels: r.spec.userLabels,
        owner: ownerRef(r),
      }),
    );
  return [primary, ...others].map((i) => (fenced.includes(i.name) ? { ...i, fenced: true } : i));
}

const created = (r: PgReplicaResource) => new Date(r.metadata.creationTimestamp ?? 0).getTime() || 0;

// The oldest replicas first, so a new pgreplica never displaces a running one when there are too many.
function ownReplicas(cluster: PgClusterResource, replicas: PgReplicaResource[]): PgReplicaResource[] {
  return replicas
    .filter((r) => r.spec.clusterName === cluster.metadata.name && !r.metadata.deletionTimestamp)
    .sort((a, b) => created(a) - created(b) || a.metadata.name.localeCompare(b.metadata.name));
}

/** The pgreplicas that are instances: at most MAX_INSTANCES - 1, the oldest, in name order. */
function replicaInstances(cluster: PgClusterResource, replicas: PgReplicaResource[]): PgReplicaResource[] {
  return ownReplicas(cluster, replicas)
    .slice(0, MAX_INSTANCES - 1)
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

/**
 * Instances being restored into (see src/actors/restore.ts): not members yet, so neither observed nor a
 * failover candidate nor in a Service, until the restore makes one the primary.
 */
export function restoringInstances(replicas: readonly PgReplicaResource[]): string[] {
  return replicas.filter((r) => r.spec.restore && r.metadata.labels?.[LABEL.restoring]).map((r) => r.metadata.name);
}

/** pgreplicas beyond MAX_INSTANCES: they get no objects (a bound on what one spec can create). */
export function excessReplicas(cluster: PgClusterResource, replicas: PgReplicaResource[]): PgReplicaResource[] {
  return ownReplicas(cluster, replicas).slice(MAX_INSTANCES - 1);
}

/** Every object a cluster should have, in apply order (settings and Services before the pods that use them). */
export function desiredObjects(cluster: PgClusterResource, replicas: PgReplicaResource[], fenced: readonly string[] = []): KubernetesObject[] {
  const instances = clusterInstances(cluster, replicas, fenced);
  return [
    parametersConfigMap(cluster),
    ...clusterServices(cluster),
    ...backrestObjects(cluster),
    ...instances.flatMap((i) => [instanceVolume(cluster, i), instanceDeployment(cluster, i)]),
  ];
}

/**
 * The pgreplicas still to create for `spec.replicas` at cluster creation. Names are derived from the
 * cluster's UID, so an operator restarted half-way creates only the missing ones; once all exist
 * (status.initialReplicas is set) scaling is up to pgreplicas alone.
 */
export function initialReplicas(cluster: PgClusterResource, existing: PgReplicaResource[]): PgReplicaResource[] {
  if (cluster.status?.initialReplicasCreated) return [];
  const have = new Set(existing.map((r) => r.metadata.name));
  const wanted = Array.from({ length: cluster.spec.replicas }, (_, i) => initialReplicaName(cluster.metadata.name, cluster.metadata.uid ?? '', i));
  return wanted
    .filter((name) => !have.has(name))
    .map((name) => ({
      apiVersion: API_VERSION,
      kind: 'PGReplica',
      metadata: {
        name,
        namespace: cluster.metadata.namespace,
        labels: { ...clusterLabels(cluster.metadata.name, cluster.spec.userLabels), [LABEL.instance]: name },
        ownerReferences: [ownerRef(cluster)],
      },
      spec: { clusterName: cluster.metadata.name },
    }));
}
