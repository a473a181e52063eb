/** Deletion of a pgcluster: keep its volumes when asked, then release the finalizer so Kubernetes collects the rest. */
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { CLEANUP_FINALIZER, KEEP_DATA_ANNOTATION, LABEL } from '../cluster/names.ts';
import type { PgClusterResource } from '../crd/types.ts';
import type { CustomResources } from '../k8s/custom.ts';
import type { EventRecorder } from '../k8s/events.ts';

/**
 * With the keep-data annotation, removes the owner from the cluster's volume claims so garbage collection
 * spares them; then removes the finalizer (retrying on conflicts). Safe to run more than once.
 */
export async function finalizeCluster(kc: KubeConfig, clusters: CustomResources<PgClusterResource>, events: EventRecorder, cluster: PgClusterResource): Promise<void> {
  const { namespace, name } = cluster.metadata;
  if (!cluster.metadata.finalizers?.includes(CLEANUP_FINALIZER)) return;
  if (cluster.metadata.annotations?.[KEEP_DATA_ANNOTATION] === 'true') {
    const core = kc.makeApiClient(CoreV1Api);
    const claims = await core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector: `${LABEL.cluster}=${name}` });
    for (const claim of claims.items) {
      if (!claim.metadata?.ownerReferences?.length) continue;
      await core.patchNamespacedPersistentVolumeClaim(
        { namespace, name: claim.metadata.name!, body: [{ op: 'remove', path: '/metadata/ownerReferences' }] },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      );
    }
    events.record(cluster, 'Normal', 'DataKept', `kept ${claims.items.length} volume claim(s)`);
  }
  await clusters.mutate(namespace, name, (c) => {
    c.metadata.finalizers = (c.metadata.finalizers ?? []).filter((f) => f !== CLEANUP_FINALIZER);
  });
}
