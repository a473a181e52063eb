/**
 * A local-path volume provisioner for the local cluster: binds each PersistentVolumeClaim of StorageClass
 * `local-path` to a hostPath PersistentVolume on the node the scheduler selected, and deletes the
 * volume's directory when its claim is gone (unless the volume's reclaim policy is Retain). Runs on the host (all nodes share its filesystem).
 */
import { mkdirSync, rmSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, type V1PersistentVolume, type V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { startInformer } from '../../src/k8s/informer.ts';

const PROVISIONER = 'pg-operator.dev/local-path';
const root = join(process.env.PGO_CLUSTER_DIR ?? '/var/lib/pgo-local', 'volumes');
const kc = new KubeConfig();
kc.loadFromDefault();
const core = kc.makeApiClient(CoreV1Api);

function volumeFor(pvc: V1PersistentVolumeClaim, node: string): V1PersistentVolume {
  const name = `pvc-${pvc.metadata!.uid!}`;
  return {
    metadata: { name, annotations: { 'pv.kubernetes.io/provisioned-by': PROVISIONER } },
    spec: {
      capacity: { storage: pvc.spec?.resources?.requests?.storage ?? '1Gi' },
      accessModes: pvc.spec?.accessModes ?? ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Delete',
      storageClassName: pvc.spec?.storageClassName,
      claimRef: { namespace: pvc.metadata!.namespace, name: pvc.metadata!.name, uid: pvc.metadata!.uid },
      hostPath: { path: join(root, name), type: 'Directory' },
      nodeAffinity: {
        required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] }] },
      },
    },
  };
}

async function provision(pvc: V1PersistentVolumeClaim): Promise<void> {
  const node = pvc.metadata?.annotations?.['volume.kubernetes.io/selected-node'];
  const wanted = pvc.metadata?.annotations?.['volume.kubernetes.io/storage-provisioner'];
  if (!node || wanted !== PROVISIONER || pvc.spec?.volumeName || pvc.status?.phase !== 'Pending') return;
  const pv = volumeFor(pvc, node);
  const dir = join(root, pv.metadata!.name!);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o777); // the pod's user owns its data directory below this one
  try {
    await core.createPersistentVolume({ body: pv });
    console.log(`provisioned ${pv.metadata!.name} on ${node} for ${pvc.metadata!.namespace}/${pvc.metadata!.name}`);
  } catch (err) {
    if ((err as { code?: number }).code !== 409) console.error(`provisioning ${pvc.metadata!.name}: ${String(err)}`);
  }
}

async function release(pv: V1PersistentVolume): Promise<void> {
  // A volume set to Retain is kept, claim gone or not, as any provisioner does (its directory too).
  if (pv.metadata?.annotations?.['pv.kubernetes.io/provisioned-by'] !== PROVISIONER || pv.status?.phase !== 'Released' || pv.spec?.persistentVolumeReclaimPolicy !== 'Delete') return;
  rmSync(join(root, pv.metadata.name!), { recursive: true, force: true });
  await core.deletePersistentVolume({ name: pv.metadata.name! }).catch(() => undefined);
  console.log(`deleted ${pv.metadata.name}`);
}

const log = (what: string) => (obj: { metadata?: { name?: string } }) => (err: unknown) => console.error(`${what} ${obj.metadata?.name}: ${String(err)}`);
const onClaim = (pvc: V1PersistentVolumeClaim) => void provision(pvc).catch(log('provisioning')(pvc));
const onVolume = (pv: V1PersistentVolume) => void release(pv).catch(log('releasing')(pv));
startInformer(kc, '/api/v1/persistentvolumeclaims', () => core.listPersistentVolumeClaimForAllNamespaces(), { add: onClaim, update: onClaim });
startInformer(kc, '/api/v1/persistentvolumes', () => core.listPersistentVolume(), { add: onVolume, update: onVolume });
console.log(`local-path provisioner watching claims, volumes in ${root}`);
