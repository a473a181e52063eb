/** Kubernetes helpers of the failover benchmark: apply, namespaces, the pods behind a Service. */
import { DiscoveryV1Api, type KubernetesObject } from '@kubernetes/client-node';
import { applyObject } from '../../src/k8s/apply.ts';
import type { LocalCluster } from '../../tests/harness/cluster.ts';

/** A pod behind a Service, as a client of the Service reaches it. */
export interface Backend {
  pod: string;
  ip: string;
  node: string;
}

/** Applies `objects` in order (server-side apply). */
export async function applyAll(c: LocalCluster, objects: KubernetesObject[]): Promise<void> {
  for (const o of objects) await applyObject(c.kubeconfig, o);
}

/** Creates `namespace` unless it exists. */
export async function ensureNamespace(c: LocalCluster, namespace: string): Promise<void> {
  try {
    await c.core.createNamespace({ body: { metadata: { name: namespace } } });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw new Error(`creating namespace ${namespace}`, { cause: err });
  }
}

/** The ready endpoints of Service `name` (from its EndpointSlices), with their pods and nodes. */
export async function readyBackends(c: LocalCluster, namespace: string, name: string): Promise<Backend[]> {
  const discovery = c.kubeconfig.makeApiClient(DiscoveryV1Api);
  const slices = await discovery.listNamespacedEndpointSlice({ namespace, labelSelector: `kubernetes.io/service-name=${name}` });
  const out: Backend[] = [];
  for (const s of slices.items) {
    for (const e of s.endpoints ?? []) {
      if (e.conditions?.ready === false || e.targetRef?.kind !== 'Pod') continue;
      out.push({ pod: e.targetRef.name!, ip: e.addresses[0]!, node: e.nodeName ?? '' });
    }
  }
  return out;
}

/** The ClusterIP and port of Service `name`. */
export async function serviceAddress(c: LocalCluster, namespace: string, name: string): Promise<{ host: string; port: number }> {
  const svc = await c.core.readNamespacedService({ namespace, name });
  const host = svc.spec?.clusterIP;
  if (!host || host === 'None') throw new Error(`service ${namespace}/${name} has no ClusterIP`);
  return { host, port: svc.spec?.ports?.[0]?.port ?? 5432 };
}
