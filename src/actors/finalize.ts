/**
 * Deletion of a pgcluster: keep its volumes and/or its pgBackRest repository when asked, then release the
 * finalizer so Kubernetes collects the rest.
 */
import { AppsV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { CLEANUP_FINALIZER, KEEP_BACKUPS_ANNOTATION, KEEP_DATA_ANNOTATION, KEPT_PRIMARY_ANNOTATION, LABEL, clusterNames, instanceClaim } from '../cluster/names.ts';
import type { PgClusterResource } from '../crd/types.ts';
import { describeError, httpStatus, type CustomResources } from '../k8s/custom.ts';
import type { EventRecorder } from '../k8s/events.ts';

/** Kinds of the repository objects `--keep-backups` keeps. */
export type KeptKind = 'Deployment' | 'Service' | 'PersistentVolumeClaim' | 'ConfigMap' | 'Secret';

/**
 * What a later `pgo create cluster --restore-from` needs of a deleted cluster: the repository host (its
 * Deployment and Service), the repository volume, and the settings and CA the restoring instance uses
 * to reach the host (src/actors/data-source.ts). The certificates keep the host's own TLS identity.
 */
export function keptRepositoryObjects(cluster: string): { kind: KeptKind; name: string }[] {
  const n = clusterNames(cluster);
  return [
    { kind: 'Deployment', name: n.repoHost },
    { kind: 'Service', name: n.repoHost },
    { kind: 'PersistentVolumeClaim', name: n.repoVolume },
    { kind: 'ConfigMap', name: n.backrestConfig },
    { kind: 'Secret', name: n.backrestCa },
    { kind: 'Secret', name: n.backrestCerts },
  ];
}

const removeOwners = [{ op: 'remove', path: '/metadata/ownerReferences' }];
const jsonPatch = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);

/** Reads and patches one kind of object by name. */
interface KindApi {
  read(namespace: string, name: string): Promise<{ metadata?: { ownerReferences?: unknown[] } }>;
  patch(namespace: string, name: string, body: object): Promise<unknown>;
}

function kindApis(kc: KubeConfig): Record<KeptKind, KindApi> {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  return {
    Deployment: { read: (namespace, name) => apps.readNamespacedDeployment({ namespace, name }), patch: (namespace, name, body) => apps.patchNamespacedDeployment({ namespace, name, body }, jsonPatch) },
    Service: { read: (namespace, name) => core.readNamespacedService({ namespace, name }), patch: (namespace, name, body) => core.patchNamespacedService({ namespace, name, body }, jsonPatch) },
    PersistentVolumeClaim: {
      read: (namespace, name) => core.readNamespacedPersistentVolumeClaim({ namespace, name }),
      patch: (namespace, name, body) => core.patchNamespacedPersistentVolumeClaim({ namespace, name, body }, jsonPatch),
    },
    ConfigMap: { read: (namespace, name) => core.readNamespacedConfigMap({ namespace, name }), patch: (namespace, name, body) => core.patchNamespacedConfigMap({ namespace, name, body }, jsonPatch) },
    Secret: { read: (namespace, name) => core.readNamespacedSecret({ namespace, name }), patch: (namespace, name, body) => core.patchNamespacedSecret({ namespace, name, body }, jsonPatch) },
  };
}

/**
 * Removes the owner references of one object so garbage collection spares it. False when it does not
 * exist; true when it exists, whether or not it still had owners (so running again changes nothing).
 */
async function release(api: KindApi, namespace: string, name: string): Promise<boolean> {
  let object;
  try {
    object = await api.read(namespace, name);
  } catch (err) {
    if (httpStatus(err) === 404) return false;
    throw new Error(`reading ${name} to keep it: ${describeError(err)}`, { cause: err });
  }
  if (!object.metadata?.ownerReferences?.length) return true;
  try {
    await api.patch(namespace, name, removeOwners);
  } catch (err) {
    // 422: the references went between the read and the patch (another run of this finalizer).
    if (httpStatus(err) === 404 || httpStatus(err) === 422) return httpStatus(err) === 422;
    throw new Error(`removing the owner of ${name} to keep it: ${describeError(err)}`, { cause: err });
  }
  return true;
}

/** With the keep-backups annotation: releases the repository objects from the cluster; what was kept. */
async function keepBackups(kc: KubeConfig, cluster: PgClusterResource): Promise<string[]> {
  const apis = kindApis(kc);
  const kept: string[] = [];
  for (const { kind, name } of keptRepositoryObjects(cluster.metadata.name)) {
    if (await release(apis[kind], cluster.metadata.namespace, name)) kept.push(`${kind} ${name}`);
  }
  return kept;
}

/**
 * With the keep-data annotation, removes the owner from the cluster's volume claims; with the
 * keep-backups annotation, from its pgBackRest repository objects (keptRepositoryObjects): garbage
 * collection spares them, and the repository host keeps running. Then removes the finalizer (retrying on
 * conflicts). Safe to run more than once.
 */
export async function finalizeCluster(kc: KubeConfig, clusters: CustomResources<PgClusterResource>, events: EventRecorder, cluster: PgClusterResource): Promise<void> {
  const { namespace, name } = cluster.metadata;
  if (!cluster.metadata.finalizers?.includes(CLEANUP_FINALIZER)) return;
  const annotations = cluster.metadata.annotations ?? {};
  if (annotations[KEEP_DATA_ANNOTATION] === 'true') {
    const core = kc.makeApiClient(CoreV1Api);
    const claims = await core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector: `${LABEL.cluster}=${name}` });
    // By the claim's name: an older claim left by an earlier --keep-data may carry the same instance label.
    const primary = instanceClaim(cluster, cluster.status?.currentPrimary ?? name);
    for (const claim of claims.items) {
      // The primary's claim is marked, so a cluster created again on the kept data starts from it (not from an older copy).
      const { [KEPT_PRIMARY_ANNOTATION]: marked, ...others } = claim.metadata?.annotations ?? {};
      const isPrimary = claim.metadata?.name === primary;
      const mark = isPrimary !== (marked !== undefined)
        ? [{ op: 'add', path: '/metadata/annotations', value: isPrimary ? { ...others, [KEPT_PRIMARY_ANNOTATION]: primary } : others }]
        : [];
      const body = [...(claim.metadata?.ownerReferences?.length ? removeOwners : []), ...mark];
      if (body.length) await core.patchNamespacedPersistentVolumeClaim({ namespace, name: claim.metadata!.name!, body }, jsonPatch);
    }
    // The passwords the kept data knows (the superuser, replication and users' Secrets), and its repository's certificates.
    const secrets = await core.listNamespacedSecret({ namespace, labelSelector: `${LABEL.cluster}=${name}` });
    const apis = kindApis(kc);
    for (const secret of secrets.items) await release(apis.Secret, namespace, secret.metadata!.name!);
    events.record(cluster, 'Normal', 'DataKept', `kept ${claims.items.length} volume claim(s) and ${secrets.items.length} Secret(s); the primary's data is in claim ${primary}: pgo create cluster ${name} starts on it`);
  }
  if (annotations[KEEP_BACKUPS_ANNOTATION] === 'true') {
    // Before the finalizer goes: once it has, the garbage collector may delete anything still owned.
    const kept = await keepBackups(kc, cluster);
    events.record(
      cluster,
      'Normal',
      'BackupsKept',
      kept.length
        ? `kept the pgBackRest repository (${kept.join(', ')}): restore a new cluster from it (which may have the same name) with pgo create cluster NAME --restore-from ${name}, or remove it with kubectl -n ${namespace} delete deploy,svc,pvc,cm,secret -l ${LABEL.cluster}=${name}`
        : 'no pgBackRest repository objects to keep (backups were disabled, or they are gone already)',
    );
  }
  await clusters.mutate(namespace, name, (c) => {
    c.metadata.finalizers = (c.metadata.finalizers ?? []).filter((f) => f !== CLEANUP_FINALIZER);
  });
}
