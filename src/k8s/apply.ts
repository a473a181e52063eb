/** Server-side apply with the operator's single field manager. */
import { describeError } from './custom.ts';
import { KubernetesObjectApi, PatchStrategy, loadYaml, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';

/** The field manager of every object the operator applies. */
export const FIELD_MANAGER = 'pg-operator';

const clients = new WeakMap<KubeConfig, KubernetesObjectApi>();

/** Applies `obj` (apiVersion, kind, metadata.name and, for namespaced kinds, metadata.namespace set), taking ownership of conflicting fields. */
export async function applyObject<T extends KubernetesObject>(kc: KubeConfig, obj: T): Promise<T> {
  let client = clients.get(kc);
  if (!client) {
    client = KubernetesObjectApi.makeApiClient(kc);
    clients.set(kc, client);
  }
  // Objects are built in wire format (`default`, `x-kubernetes-*`), but client-node serialises built-in kinds
  // through its typed models (`_default`, `xKubernetes*`) and silently drops unknown keys; loading the
  // wire-format text turns it into the typed model first, so nothing is lost on the way out.
  const typed = loadYaml<T>(JSON.stringify(obj));
  try {
    return await client.patch(typed, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
  } catch (err) {
    throw new Error(`applying ${obj.kind} ${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}: ${describeError(err)}`, { cause: err });
  }
}
