/** Typed custom resources as read from the API server. */
import type { V1ObjectMeta } from '@kubernetes/client-node';
import type { PgClusterSpec, PgClusterStatus } from './pgcluster.ts';
import type { PgReplicaSpec, PgReplicaStatus } from './pgreplica.ts';
import type { PgTaskSpec, PgTaskStatus } from './pgtask.ts';
import type { PgBackupSpec, PgBackupStatus } from './pgbackup.ts';
import type { PgPolicySpec, PgPolicyStatus } from './pgpolicy.ts';
import type { PgUpgradeSpec, PgUpgradeStatus } from './pgupgrade.ts';

/** A custom resource with a typed spec and status. */
export interface Resource<Spec, Status> {
  apiVersion: string;
  kind: string;
  metadata: V1ObjectMeta & { name: string; namespace: string };
  spec: Spec;
  status?: Status;
}

/** A pgcluster. */
export type PgClusterResource = Resource<PgClusterSpec, PgClusterStatus>;
/** A pgreplica. */
export type PgReplicaResource = Resource<PgReplicaSpec, PgReplicaStatus>;
/** A pgtask. */
export type PgTaskResource = Resource<PgTaskSpec, PgTaskStatus>;
/** A pgbackup. */
export type PgBackupResource = Resource<PgBackupSpec, PgBackupStatus>;
/** A pgpolicy. */
export type PgPolicyResource = Resource<PgPolicySpec, PgPolicyStatus>;
/** A pgupgrade. */
export type PgUpgradeResource = Resource<PgUpgradeSpec, PgUpgradeStatus>;
