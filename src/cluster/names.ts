/** Names and labels of the Kubernetes objects of a pgcluster (after v4's conventions, domain-prefixed). */
import { createHash } from 'node:crypto';

/** Label keys put on every object the operator manages. */
export const LABEL = {
  cluster: 'pg-operator.dev/cluster',
  instance: 'pg-operator.dev/instance',
  role: 'pg-operator.dev/role',
  managedBy: 'app.kubernetes.io/managed-by',
  /** `repo-host` on the pgBackRest repository host's pod. */
  component: 'pg-operator.dev/component',
  /** The pgbackup a pgBackRest backup belongs to (a pgBackRest annotation, so a backup is found by its resource). */
  pgbackup: 'pg-operator.dev/pgbackup',
  /** On a pgreplica being restored into (the restore pgtask's name): it is no member of the cluster yet. */
  restoring: 'pg-operator.dev/restoring',
} as const;

/** Value of the managed-by label. */
export const MANAGED_BY = 'pg-operator';

/** Annotation asking that a cluster's volumes outlive it (set by `pgo delete cluster --keep-data`). */
export const KEEP_DATA_ANNOTATION = 'pg-operator.dev/keep-data';

/** On a volume claim kept by `--keep-data`: it held the primary's data when its cluster was deleted (the value is the claim's name). */
export const KEPT_PRIMARY_ANNOTATION = 'pg-operator.dev/kept-primary';

/** On a pgcluster: its first instance starts on this kept claim (set by `pgo create cluster` on kept data). */
export const DATA_CLAIM_ANNOTATION = 'pg-operator.dev/data-claim';

/** The data volume claim of an instance: its own name, or for the cluster's first instance a claim it adopted. */
export function instanceClaim(cluster: { metadata: { name: string; annotations?: Record<string, string> } }, instance: string): string {
  return (instance === cluster.metadata.name && cluster.metadata.annotations?.[DATA_CLAIM_ANNOTATION]) || instance;
}

/** Annotation asking that a cluster's pgBackRest repository outlive it (set by `pgo delete cluster --keep-backups`). */
export const KEEP_BACKUPS_ANNOTATION = 'pg-operator.dev/keep-backups';

/** Finalizer that lets the operator keep volumes when asked before a pgcluster goes. */
export const CLEANUP_FINALIZER = 'pg-operator.dev/cleanup';

/** Names derived from a cluster name. */
export function clusterNames(cluster: string) {
  return {
    primaryService: cluster,
    replicaService: `${cluster}-replica`,
    superuserSecret: `${cluster}-postgres-secret`,
    replicationSecret: `${cluster}-primaryuser-secret`,
    userSecret: (user: string) => `${cluster}-${user.toLowerCase().replace(/[^a-z0-9-]/g, '-')}-secret`,
    configMap: `${cluster}-pgconf`,
    /** pgBackRest: the repository host (Deployment and Service, v4's name), its volume, settings and certificates. */
    repoHost: `${cluster}-backrest-shared-repo`,
    repoVolume: `${cluster}-pgbr-repo`,
    backrestConfig: `${cluster}-pgbackrest-config`,
    backrestCerts: `${cluster}-pgbackrest-certs`,
    backrestCa: `${cluster}-pgbackrest-ca`,
    /** Settings and a client certificate for the repository host of spec.dataSource (another cluster's). */
    restoreSource: `${cluster}-pgbackrest-source`,
    /** Headless Service giving each instance a DNS name `<instance>.<cluster>-pods`, for pgBackRest's TLS. */
    podsService: `${cluster}-pods`,
  };
}

const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';

/**
 * Name of the `index`-th replica created with a cluster: `<cluster>-xxxx`, where `xxxx` comes from the
 * cluster's UID, so a restarted operator finds the replicas it already created instead of adding more.
 */
export function initialReplicaName(cluster: string, uid: string, index: number): string {
  const digest = createHash('sha256').update(`${uid}/${index}`).digest();
  return `${cluster}-${Array.from(digest.subarray(0, 4), (b) => alphabet[b % alphabet.length]).join('')}`;
}

/** A random replica name `<cluster>-xxxx`, as v4's `pgo scale` made. */
export function randomReplicaName(cluster: string): string {
  const bytes = new Uint8Array(4);
  crypto.getRandomValues(bytes);
  return `${cluster}-${Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('')}`;
}

/** Labels shared by every object of a cluster, with the user's labels. */
export function clusterLabels(cluster: string, userLabels: Record<string, string> = {}): Record<string, string> {
  return { ...userLabels, [LABEL.cluster]: cluster, [LABEL.managedBy]: MANAGED_BY };
}
