/** The `applying` effect: everything a pgcluster's spec asks for, applied in an order that is safe to repeat. */
import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { CoreV1Api, StorageV1Api, type KubeConfig, type V1Deployment } from '@kubernetes/client-node';
import { ensureBackrestCertificates } from '../backrest/pki.ts';
import { clusterSecrets } from '../cluster/builders.ts';
import { backrestOf } from '../crd/backrest.ts';
import { CLEANUP_FINALIZER } from '../cluster/names.ts';
import type { Observation } from '../cluster/observation.ts';
import { desiredObjects, excessReplicas, initialReplicas } from '../cluster/plan.ts';
import { LIMIT_MESSAGES } from '../crd/limits.ts';
import type { PgClusterResource, PgReplicaResource } from '../crd/types.ts';
import { applyObject } from '../k8s/apply.ts';
import { describeError, httpStatus, type CustomResources } from '../k8s/custom.ts';
import type { EventRecorder } from '../k8s/events.ts';

/** What applying needs from the operator. */
export interface ApplyDeps {
  kc: KubeConfig;
  clusters: CustomResources<PgClusterResource>;
  replicas: CustomResources<PgReplicaResource>;
  events: EventRecorder;
  replicaList(namespace: string, cluster: string): readonly PgReplicaResource[];
}

/**
 * Checks StorageClasses, adds the finalizer, creates Secrets (once: passwords are never regenerated) and the
 * initial pgreplicas, then server-side applies every desired object (fenced instances at zero pods).
 * Stops at the next object once `signal` is aborted (the cluster was deleted or the lease lost). The objects
 * of one pass are bounded: at most MAX_INSTANCES instances (pgreplicas beyond are marked Failed).
 * Returns the cluster as last written (with the finalizer) and the Deployments whose pods are being replaced.
 */
export async function applyCluster(deps: ApplyDeps, cluster: PgClusterResource, fenced: readonly string[], signal: AbortSignal): Promise<{ cluster: PgClusterResource; rolled: string[] }> {
  const { namespace, name } = cluster.metadata;
  const step = () => signal.throwIfAborted();
  // Checked before anything is created, so an impossible spec leaves no half-built cluster behind.
  await checkStorageClasses(deps.kc, cluster);
  cluster = await ensureFinalizer(deps.clusters, cluster);
  const core = deps.kc.makeApiClient(CoreV1Api);
  for (const secret of clusterSecrets(cluster, () => randomBytes(18).toString('base64url'))) {
    step();
    try {
      await core.createNamespacedSecret({ namespace, body: secret });
    } catch (err) {
      if (httpStatus(err) !== 409) throw new Error(`creating Secret ${secret.metadata?.name}: ${describeError(err)}`, { cause: err });
    }
  }
  if (backrestOf(cluster.spec).enabled) await ensureBackrestCertificates(deps.kc, cluster);
  const existing = [...deps.replicaList(namespace, name)];
  for (const replica of initialReplicas(cluster, existing)) {
    step();
    const { created, object } = await deps.replicas.createIfAbsent(replica);
    if (created) deps.events.record(cluster, 'Normal', 'ReplicaCreated', `created pgreplica ${replica.metadata.name}`);
    existing.push(object);
  }
  if (!cluster.status?.initialReplicasCreated) {
    await deps.clusters.updateStatus(namespace, name, (c) => ({ ...c.status, initialReplicasCreated: true }));
  }
  for (const replica of excessReplicas(cluster, existing)) {
    step();
    if (replica.status?.phase === 'Failed') continue;
    await deps.replicas.updateStatus(namespace, replica.metadata.name, (r) => ({ ...r.status, phase: 'Failed', message: LIMIT_MESSAGES.instances }));
    deps.events.record(cluster, 'Warning', 'TooManyInstances', `pgreplica ${replica.metadata.name}: ${LIMIT_MESSAGES.instances}`);
  }
  const rolled: string[] = [];
  for (const obj of desiredObjects(cluster, existing, fenced)) {
    step();
    const applied = await applyObject(deps.kc, obj);
    // A Deployment whose spec just changed is not yet observed by its controller: its pod will be replaced.
    if (applied.kind === 'Deployment' && applied.metadata?.generation !== (applied as V1Deployment).status?.observedGeneration) rolled.push(applied.metadata!.name!);
  }
  return { cluster, rolled };
}

async function checkStorageClasses(kc: KubeConfig, cluster: PgClusterResource): Promise<void> {
  const storage = kc.makeApiClient(StorageV1Api);
  const wanted = Object.entries(cluster.spec.storage).flatMap(([field, s]) => (s?.storageClass ? [[field, s.storageClass] as const] : []));
  for (const [field, name] of wanted) {
    try {
      await storage.readStorageClass({ name });
    } catch (err) {
      if (httpStatus(err) !== 404) throw err;
      throw new Error(`StorageClass "${name}" (spec.storage.${field}.storageClass) does not exist: create it or choose another one`);
    }
  }
}

async function ensureFinalizer(clusters: CustomResources<PgClusterResource>, cluster: PgClusterResource): Promise<PgClusterResource> {
  if (cluster.metadata.finalizers?.includes(CLEANUP_FINALIZER)) return cluster;
  const { namespace, name } = cluster.metadata;
  const written = await clusters.mutate(namespace, name, (c) => {
    if (!c.metadata.finalizers?.includes(CLEANUP_FINALIZER)) c.metadata.finalizers = [...(c.metadata.finalizers ?? []), CLEANUP_FINALIZER];
  });
  return written ?? cluster;
}

/** Mirrors each pgreplica's instance into its status (role, readiness, node, lag). */
export async function writeReplicaStatuses(replicas: CustomResources<PgReplicaResource>, list: readonly PgReplicaResource[], o: Observation, primary: string): Promise<void> {
  for (const replica of list) {
    const i = o.instances.find((x) => x.name === replica.metadata.name);
    if (!i) continue;
    const status = JSON.parse(JSON.stringify({
      ...replica.status,
      phase: i.ready ? 'Ready' : i.podName ? 'NotReady' : 'Creating',
      role: i.name === primary ? 'primary' : 'replica',
      ready: i.ready,
      node: i.node,
      lagBytes: i.lagBytes,
      observedGeneration: replica.metadata.generation,
    })) as PgReplicaResource['status'];
    if (isDeepStrictEqual(status, replica.status)) continue;
    await replicas.updateStatus(replica.metadata.namespace, replica.metadata.name, () => status);
  }
}

/** Applies one instance's Deployment as planned now (a fenced instance at zero pods). */
export async function applyInstanceDeployment(kc: KubeConfig, cluster: PgClusterResource, replicas: readonly PgReplicaResource[], fenced: readonly string[], instance: string): Promise<void> {
  const deployment = desiredObjects(cluster, [...replicas], fenced).find((o) => o.kind === 'Deployment' && o.metadata?.name === instance);
  if (deployment) await applyObject(kc, deployment);
}
