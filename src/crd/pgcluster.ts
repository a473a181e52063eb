/** The pgclusters resource: one PostgreSQL cluster (a primary and its streaming replicas). */
import { z } from 'zod';
import {
  conditions,
  dnsLabel,
  nodeAffinity,
  podAntiAffinityType,
  resources,
  serviceType,
  storageSpec,
  toleration,
} from './common.ts';
import { backrestSpec, backrestStatus } from './backrest.ts';
import { drillResult, restorePhase, restoreSpec } from './restore.ts';
import { pgParameters, port, replicas, userLabels } from './limits.ts';

export { pgParameters };

/** Desired state of a pgcluster. */
export const pgClusterSpec = z.strictObject({
  image: z.string().min(1).default('localhost/pg-operator/postgres:15').describe('PostgreSQL container image (of every instance whose pgreplica does not name its own)'),
  postgresVersion: z.int().min(15).max(15).default(15).describe('PostgreSQL major version'),
  port: port.default(5432),
  replicas: replicas.default(0).describe('replicas created with the cluster; later ones are pgreplicas'),
  database: z.string().min(1).max(63).default('userdb').describe('initial database'),
  user: z.string().min(1).max(63).default('testuser').describe('initial user, owner of the initial database'),
  passwordType: z.enum(['scram-sha-256', 'md5']).default('scram-sha-256'),
  storage: z
    .strictObject({
      primary: storageSpec.describe('data volume of the primary'),
      replica: storageSpec.optional().describe('data volume of replicas; the primary storage when unset'),
      wal: storageSpec.optional().describe('separate WAL volume'),
      backrest: storageSpec.optional().describe('pgBackRest repository volume'),
    })
    .default({ primary: { size: '1Gi', accessMode: 'ReadWriteOnce', type: 'dynamic' } }),
  resources: resources.optional(),
  nodeAffinity: nodeAffinity.optional().describe('placement of the primary (v4 --node-name / --node-label)'),
  podAntiAffinity: podAntiAffinityType.default('preferred').describe('spreading of instances over nodes'),
  tolerations: z.array(toleration).optional(),
  disableAutofail: z.boolean().optional().describe('turn automatic failover off (true) or on (false) for this cluster; the operator default (PGO_AUTOFAIL) when unset'),
  autofailReplaceReplica: z.boolean().default(false).describe('create a replacement replica after a failover'),
  failoverDelaySeconds: z.int().min(0).max(3600).optional().describe('how long the primary may be unready before an automatic failover; the operator default when unset'),
  syncReplication: z.boolean().default(false).describe('synchronous replication: no acknowledged commit is lost on failover'),
  parameters: pgParameters.optional().describe('PostgreSQL parameters (postgresql.conf)'),
  policies: z.array(dnsLabel).max(50).optional().describe('pgpolicies (of the namespace) applied once the primary is ready, each once'),
  backrest: backrestSpec.optional().describe('WAL archiving and backups with pgBackRest (on by default)'),
  serviceType: serviceType.default('ClusterIP'),
  shutdown: z.boolean().default(false).describe('stop all instances, keeping the data'),
  standby: z.boolean().default(false).describe('run as a standby of another cluster'),
  userLabels: userLabels.optional().describe('labels put on every object of the cluster'),
  dataSource: restoreSpec
    .omit({ nodeAffinity: true, drill: true, repo: true })
    .extend({ clusterName: z.string().min(1).max(63).describe('the cluster (live, or deleted with --keep-backups) whose repository host to restore from') })
    .optional()
    .describe('create the cluster from a backup of another one (pgo create cluster --restore-from): its repository host (repo1), up to the target'),
});

/** Role of one instance. */
export const instanceRole = z.enum(['primary', 'replica']);

/** Observed state of one instance (primary or replica). */
export const instanceStatus = z.strictObject({
  name: z.string(),
  role: instanceRole,
  ready: z.boolean(),
  node: z.string().optional(),
  podIP: z.string().optional(),
  timeline: z.int().min(0).optional(),
  lagBytes: z.int().min(0).optional().describe('bytes of WAL behind the primary'),
});

/** Lifecycle phase of a cluster, as shown by kubectl and pgo. */
export const clusterPhase = z.enum([
  'Pending',
  'Creating',
  'Ready',
  'Degraded',
  'FailingOver',
  'Switchover',
  'Scaling',
  'Updating',
  'Shutdown',
  'Failed',
]);

/**
 * When each step of a failover happened (RFC 3339 with milliseconds, the operator's clock): where its time went.
 * The decision itself is the intent's startTime (the record's `time`).
 */
export const failoverTimes = z.strictObject({
  lastHealthy: z.string().optional().describe('the old primary last seen healthy (Ready, answering, writable)'),
  detected: z.string().optional().describe('the operator saw it unhealthy (the failover delay began)'),
  recorded: z.string().optional().describe('the intent was written to status'),
  fenced: z.string().optional().describe('the old primary was out of the Service, stopped if it answered, and every replica cut off it'),
  promoted: z.string().optional().describe('the target was out of recovery'),
  relabeled: z.string().optional().describe('the target carried the primary label (the primary Service selects it)'),
});

/** One failover or switchover, recorded in status. */
export const failoverRecord = z.strictObject({
  time: z.string(),
  kind: z.enum(['automatic', 'manual', 'switchover', 'restore']),
  from: z.string(),
  to: z.string(),
  reason: z.string(),
  times: failoverTimes.optional(),
});

/** A failover or switchover in progress: written before anything is changed, so a restarted operator finishes it. */
export const failoverIntent = z.strictObject({
  kind: z.enum(['automatic', 'manual', 'switchover', 'restore']),
  from: z.string().describe('the primary being replaced'),
  to: z.string().optional().describe('the instance being promoted'),
  reason: z.string(),
  task: z.string().optional().describe('the pgtask that asked for it'),
  startTime: z.string(),
  times: failoverTimes.optional(),
});

/** Observed state of a pgcluster; also the durable intent of its actor. */
export const pgClusterStatus = z.strictObject({
  phase: clusterPhase.optional(),
  state: z.string().optional().describe('state of the cluster actor'),
  message: z.string().optional(),
  observedGeneration: z.int().min(0).optional(),
  currentPrimary: z.string().optional(),
  failover: failoverIntent.optional().describe('the failover in progress'),
  fencedInstances: z.array(z.string()).optional().describe('former primaries held at zero pods until their old pod is gone'),
  readyInstances: z.int().min(0).optional(),
  instances: z.array(instanceStatus).optional(),
  conditions: conditions.optional(),
  failoverHistory: z.array(failoverRecord).optional(),
  pendingRestart: z.boolean().optional().describe('a changed parameter needs a restart'),
  initialReplicasCreated: z.boolean().optional().describe('the replicas of spec.replicas exist as pgreplicas'),
  policies: z
    .array(z.strictObject({ name: z.string(), task: z.string(), time: z.string() }))
    .optional()
    .describe('pgpolicies applied to the cluster: by which pgtask, when'),
  backrest: backrestStatus.optional().describe('the pgBackRest repository and WAL archiving'),
  restore: z
    .strictObject({ task: z.string(), phase: restorePhase, message: z.string().optional(), time: z.string() })
    .optional()
    .describe('the latest restore (pgtask) and its step'),
  dataSource: z
    .strictObject({
      args: z.array(z.string()).max(12).describe('the pgbackrest restore options chosen'),
      set: z.string(),
      plan: z.string().describe('what the restore does'),
      restored: z.boolean().optional().describe('the restore reached its target and the primary was promoted'),
    })
    .optional()
    .describe('the restore the cluster was created from (spec.dataSource)'),
  lastDrill: drillResult.optional().describe('the latest restore drill (pgo restore --drill)'),
});

export type PgClusterSpec = z.output<typeof pgClusterSpec>;
export type PgClusterStatus = z.output<typeof pgClusterStatus>;
