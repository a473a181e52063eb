/**
 * Pure builders of the Kubernetes objects of a pgcluster: one Deployment and PVC per instance, the primary
 * and replica Services, the PostgreSQL settings ConfigMap and the password Secrets. No I/O.
 */
import type {
  V1ConfigMap,
  V1Deployment,
  V1EnvVar,
  V1OwnerReference,
  V1PersistentVolumeClaim,
  V1Secret,
  V1Service,
} from '@kubernetes/client-node';
import type { z } from 'zod';
import type { resources as resourcesSchema, storageSpec, toleration } from '../crd/common.ts';
import type { PgClusterSpec } from '../crd/pgcluster.ts';
import type { PgClusterResource } from '../crd/types.ts';
import { PATHS, databasePodBackrest } from '../backrest/objects.ts';
import { backrestOf } from '../crd/backrest.ts';
import { instanceAffinity } from './affinity.ts';
import { SELF_FENCE_SECONDS } from './failover.ts';
import { LABEL, clusterLabels, clusterNames } from './names.ts';

/** One PostgreSQL instance of a cluster: the primary created with it, or a pgreplica. */
export interface InstanceSpec {
  name: string;
  /** How an empty data directory is initialised: initdb (primary), pg_basebackup (replica) or pgbackrest restore. */
  bootstrap: 'primary' | 'replica' | 'restore';
  /** The pgbackrest restore options of a restore instance. */
  restoreArgs?: string[];
  /** The Secret with another cluster's pgBackRest settings and a client certificate, to restore from (spec.dataSource). */
  restoreSource?: string;
  storage: z.output<typeof storageSpec>;
  resources?: z.output<typeof resourcesSchema>;
  nodeAffinity?: PgClusterSpec['nodeAffinity'];
  tolerations?: z.output<typeof toleration>[];
  userLabels?: Record<string, string>;
  /** Its volume claim, when not named after it (a claim kept by `--keep-data`, adopted by the cluster's first instance). */
  claim?: string;
  /** Its image, when not the cluster's (a pgreplica's spec.image). */
  image?: string;
  /** The object whose deletion removes this instance (the pgcluster, or the pgreplica). */
  owner: V1OwnerReference;
  /** A former primary held at zero pods until its old pod is gone (see src/actors/failover.ts). */
  fenced?: boolean;
}

/** Path of the operator's settings file inside the database container. */
export const PARAMETERS_FILE = '/pgconf/postgresql.conf';

/** The ownerReference that makes Kubernetes delete an object with `owner`. */
export function ownerRef(owner: { apiVersion: string; kind: string; metadata: { name: string; uid?: string } }): V1OwnerReference {
  return { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

function meta(cluster: PgClusterResource, name: string, extra: Record<string, string> = {}, owner = ownerRef(cluster)) {
  return {
    name,
    namespace: cluster.metadata.namespace,
    labels: { ...clusterLabels(cluster.metadata.name, cluster.spec.userLabels), ...extra },
    ownerReferences: [owner],
  };
}

const secretEnv = (name: string, secret: string, key: string): V1EnvVar => ({ name, valueFrom: { secretKeyRef: { name: secret, key } } });

/** The Deployment of one instance (one pod, Recreate: its volume is ReadWriteOnce). */
export function instanceDeployment(cluster: PgClusterResource, instance: InstanceSpec): V1Deployment {
  const { spec } = cluster;
  const names = clusterNames(cluster.metadata.name);
  const podLabels = { ...clusterLabels(cluster.metadata.name, instance.userLabels), [LABEL.instance]: instance.name, [LABEL.component]: 'database' };
  const image = instance.image ?? spec.image;
  const backrest = backrestOf(spec).enabled ? databasePodBackrest(cluster, instance.name, image) : undefined;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(cluster, instance.name, { [LABEL.instance]: instance.name }, instance.owner),
    spec: {
      replicas: spec.shutdown || instance.fenced ? 0 : 1,
      strategy: { type: 'Recreate' },
      selector: { matchLabels: { [LABEL.cluster]: cluster.metadata.name, [LABEL.instance]: instance.name } },
      template: {
        metadata: { labels: podLabels },
        spec: {
          // The role label and spec.userLabels are not in this template: the operator sets them on the pod
          // (src/actors/roles.ts), so a failover or `pgo label` relabels a running pod instead of rolling it.
          // PGO_ROLE reads the role when the container starts.
          affinity: instanceAffinity(cluster.metadata.name, instance.nodeAffinity, spec.podAntiAffinity),
          ...backrest?.pod,
          tolerations: instance.tolerations,
          terminationGracePeriodSeconds: 30,
          enableServiceLinks: false,
          containers: [
            {
              name: 'database',
              image,
              imagePullPolicy: 'IfNotPresent',
              env: [
                { name: 'PGO_BOOTSTRAP', value: instance.bootstrap },
                ...(instance.restoreArgs ? [{ name: 'PGO_RESTORE_ARGS', value: instance.restoreArgs.join('\n') }] : []),
                ...(instance.restoreSource ? [{ name: 'PGO_RESTORE_CONFIG', value: `${PATHS.source}/pgbackrest.conf` }] : []),
                { name: 'PGO_ROLE', valueFrom: { fieldRef: { fieldPath: `metadata.labels['${LABEL.role}']` } } },
                // The standby's application_name: the primary's view of its lag is matched to the pod by it.
                { name: 'PGO_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'PGO_PRIMARY_HOST', value: names.primaryService },
                { name: 'PGO_PORT', value: String(spec.port) },
                { name: 'PGO_DATABASE', value: spec.database },
                { name: 'PGO_USER', value: spec.user },
                { name: 'PGO_PASSWORD_TYPE', value: spec.passwordType },
                { name: 'PGO_PARAMETERS_FILE', value: PARAMETERS_FILE },
                { name: 'PGO_SELF_FENCE_SECONDS', value: String(SELF_FENCE_SECONDS) },
                secretEnv('PGO_SUPERUSER_PASSWORD', names.superuserSecret, 'password'),
                secretEnv('PGO_REPLICATION_PASSWORD', names.replicationSecret, 'password'),
                secretEnv('PGO_USER_PASSWORD', names.userSecret(spec.user), 'password'),
                ...(backrest?.env ?? []),
              ],
              ports: [{ name: 'postgres', containerPort: spec.port }],
              readinessProbe: {
                exec: { command: ['pg_isready', '-q', '-h', '127.0.0.1', '-p', String(spec.port)] },
                periodSeconds: 2,
                // A frozen or hung instance fails the probe by timing out: Not Ready after about 2-4 s.
                timeoutSeconds: 1,
                failureThreshold: 2,
              },
              resources: instance.resources,
              volumeMounts: [
                { name: 'pgdata', mountPath: '/pgdata' },
                { name: 'pgconf', mountPath: '/pgconf', readOnly: true },
                { name: 'podinfo', mountPath: '/etc/pgo/podinfo', readOnly: true },
                ...(backrest?.mounts ?? []),
                ...(instance.restoreSource ? [{ name: 'pgbackrest-source', mountPath: PATHS.source, readOnly: true }] : []),
              ],
            },
            ...(backrest ? [backrest.sidecar] : []),
          ],
          volumes: [
            { name: 'pgdata', persistentVolumeClaim: { claimName: instance.claim ?? instance.name } },
            { name: 'pgconf', configMap: { name: names.configMap } },
            // The labels as a file that follows changes: the role label when it came after the container.
            { name: 'podinfo', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
            ...(backrest?.volumes ?? []),
            // Only the postgres group may read the client key (pgBackRest runs as postgres).
            ...(instance.restoreSource ? [{ name: 'pgbackrest-source', secret: { secretName: instance.restoreSource, defaultMode: 0o640 } }] : []),
          ],
        },
      },
    },
  };
}

/** A volume claim for `storage` (size, class, access mode, pre-made volumes by label). */
export function volumeClaim(metadata: V1PersistentVolumeClaim['metadata'], storage: z.output<typeof storageSpec>): V1PersistentVolumeClaim {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata,
    spec: {
      accessModes: [storage.accessMode],
      storageClassName: storage.storageClass,
      resources: { requests: { storage: storage.size } },
      selector: storage.matchLabels ? { matchLabels: storage.matchLabels } : undefined,
    },
  };
}

/** The data volume claim of one instance. */
export function instanceVolume(cluster: PgClusterResource, instance: InstanceSpec): V1PersistentVolumeClaim {
  return volumeClaim(meta(cluster, instance.claim ?? instance.name, { [LABEL.instance]: instance.name }, instance.owner), instance.storage);
}

/** The primary Service (selects the pod labelled primary) and the replica Service. */
export function clusterServices(cluster: PgClusterResource): V1Service[] {
  const names = clusterNames(cluster.metadata.name);
  const service = (name: string, role: string): V1Service => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(cluster, name),
    spec: {
      type: cluster.spec.serviceType,
      selector: { [LABEL.cluster]: cluster.metadata.name, [LABEL.role]: role },
      ports: [{ name: 'postgres', port: cluster.spec.port, targetPort: 'postgres' }],
      // Replicas resolve the primary by this name before it is Ready (while it bootstraps).
      publishNotReadyAddresses: role === 'primary',
    },
  });
  return [service(names.primaryService, 'primary'), service(names.replicaService, 'replica')];
}

/** Quotes a postgresql.conf value. */
export function confValue(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** synchronous_standby_names of a cluster with synchronous replication: any one standby acknowledges each commit. */
export const SYNC_STANDBY_NAMES = 'ANY 1 (*)';

/** The ConfigMap holding the spec's PostgreSQL parameters as a postgresql.conf fragment. */
export function parametersConfigMap(cluster: PgClusterResource): V1ConfigMap {
  const parameters = cluster.spec.parameters ?? {};
  const lines = Object.keys(parameters)
    .sort()
    .map((name) => `${name} = ${confValue(parameters[name]!)}`);
  if (cluster.spec.syncReplication) lines.push(`synchronous_standby_names = ${confValue(SYNC_STANDBY_NAMES)}`);
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(cluster, clusterNames(cluster.metadata.name).configMap),
    data: { 'postgresql.conf': `# Managed by pg-operator from the pgcluster spec.\n${lines.join('\n')}\n` },
  };
}

/** A password Secret (created once; never rewritten, so passwords stay stable). */
export function passwordSecret(cluster: PgClusterResource, name: string, username: string, password: string): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta(cluster, name),
    type: 'kubernetes.io/basic-auth',
    stringData: { username, password },
  };
}

/** The three Secrets of a cluster: superuser, replication user and the initial user. */
export function clusterSecrets(cluster: PgClusterResource, newPassword: () => string): V1Secret[] {
  const names = clusterNames(cluster.metadata.name);
  return [
    passwordSecret(cluster, names.superuserSecret, 'postgres', newPassword()),
    passwordSecret(cluster, names.replicationSecret, 'replicator', newPassword()),
    passwordSecret(cluster, names.userSecret(cluster.spec.user), cluster.spec.user, newPassword()),
  ];
}
