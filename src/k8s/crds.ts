/** Installs the project's CustomResourceDefinitions and waits until the API server serves them. */
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiextensionsV1Api, type KubeConfig, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { buildCrd } from '../crd/crd.ts';
import { resourceList } from '../crd/resources.ts';
import { FIELD_MANAGER, applyObject } from './apply.ts';

/** Server-side applies every CRD, then waits until each is Established. */
export async function installCrds(kc: KubeConfig, timeoutMs = 30_000): Promise<void> {
  const crds = resourceList.map(buildCrd);
  for (const crd of crds) await applyObject(kc, crd);
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const deadline = Date.now() + timeoutMs;
  for (const crd of crds) {
    const name = (crd.metadata as { name: string }).name;
    for (;;) {
      const current: V1CustomResourceDefinition = await api.readCustomResourceDefinition({ name });
      if (current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} was not Established within ${timeoutMs} ms (field manager ${FIELD_MANAGER})`);
      await sleep(100);
    }
  }
}
