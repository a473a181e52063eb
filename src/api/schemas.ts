/**
 * Request and response shapes of the API, in zod: the server validates with them, the CLI builds its
 * requests and reads the answers with them, and the OpenAPI document is generated from them.
 * Pure (zod only), so the CLI loads it without the Kubernetes client.
 */
import { z } from 'zod';
import { affinityType, podAntiAffinityType, quantity, serviceType, storageSize } from '../crd/common.ts';
import { clusterName, labelKey, labelValue, pgParameters, replicaCount, replicas, userLabels } from '../crd/limits.ts';
import { loadSpec } from '../crd/load.ts';
import { imageRef, imageTag } from '../crd/pgupgrade.ts';
import { MAX_TARGET_LENGTH, restoreSpec, restoreStatus } from '../crd/restore.ts';
import { MAX_VALID_DAYS, PASSWORD_LENGTH, PASSWORD_MAX, roleName } from '../crd/user.ts';
import { ALL_PERMISSIONS, isPermission } from './permissions.ts';
import { name, objectName, sqlName } from './schema-names.ts';

/** Names the API accepts, and the backup and schedule shapes (in their own files). */
export { name, objectName, sqlName };
export * from './backup-schemas.ts';

/** A Kubernetes label key the user may set, and a label value (defined with the other limits). */
export { labelKey, labelValue };

/** A label selector as kubectl takes it (`env=prod,tier!=db`, `env in (a,b)`). */
export const selector = z
  .string()
  .min(1)
  .max(1000)
  .regex(/^[A-Za-z0-9_./=!,()\- ]+$/, "must be a label selector, e.g. 'env=prod'");

/** A boolean in a query string (`true` or `false`). */
export const queryBool = z
  .enum(['true', 'false'])
  .transform((v) => v === 'true')
  .optional();

/** A permission name or `*`. */
export const permissionName = z.string().refine(isPermission, { message: `must be a v4 permission name (e.g. ShowCluster) or '${ALL_PERMISSIONS}'` });

const nodeLabel = z.strictObject({ key: labelKeyAny(), value: labelValue });
function labelKeyAny() {
  return z.string().min(1).max(253).regex(/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/, 'must be a node label key');
}
const image = imageRef;

// ---- requests ----

/** `pgo create cluster`. */
export const clusterCreateBody = z.strictObject({
  name: clusterName,
  replicaCount: replicas.default(0).describe('replicas created with the cluster (--replica-count)'),
  image: image.optional().describe('PostgreSQL image (--ccp-image)'),
  pvcSize: storageSize.optional().describe('size of the data volume (--pvc-size)'),
  replicaPvcSize: storageSize.optional(),
  storageClass: name.optional(),
  cpu: quantity.optional(),
  memory: quantity.optional(),
  cpuLimit: quantity.optional(),
  memoryLimit: quantity.optional(),
  nodeLabel: nodeLabel.optional().describe('--node-label key=value'),
  nodeAffinityType: affinityType.optional(),
  podAntiAffinity: podAntiAffinityType.optional(),
  serviceType: serviceType.optional(),
  labels: userLabels.optional(),
  database: sqlName.optional(),
  username: sqlName.optional(),
  disableAutofail: z.boolean().optional(),
  syncReplication: z.boolean().optional(),
  shutdown: z.boolean().optional(),
  policies: z.array(name).max(50).optional(),
  parameters: pgParameters.optional(),
  restoreFrom: clusterName.optional().describe('--restore-from: the cluster (live, or deleted with --keep-backups) whose repository host to restore the new cluster from'),
  restoreOpts: z.string().max(1000).optional().describe('--restore-opts, with restoreFrom: pgBackRest restore options, e.g. "--type=time --target=\'2026-12-01 10:00:00+00\' --set=20261201-010000F" (a whitelist; no --repo)'),
  pitrTarget: z.string().min(1).max(MAX_TARGET_LENGTH).optional().describe('--pitr-target, with restoreFrom: a time such as "2026-12-01 10:00:00+00" (implies --type=time)'),
});

/** `pgo update cluster`. */
export const clusterUpdateBody = z
  .strictObject({
    disableAutofail: z.boolean().optional(),
    shutdown: z.boolean().optional(),
    parameters: pgParameters.optional().describe('merged into spec.parameters'),
    cpu: quantity.optional(),
    memory: quantity.optional(),
    cpuLimit: quantity.optional(),
    memoryLimit: quantity.optional(),
    serviceType: serviceType.optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: 'nothing to update: give at least one setting' });

/** `pgo delete cluster`, `pgo scaledown --target`. */
export const keepDataQuery = z.strictObject({ keepData: queryBool });

/** `pgo delete cluster`: keepBackups keeps the pgBackRest repository (host, volume, settings) for a later --restore-from. */
export const clusterDeleteQuery = keepDataQuery.extend({ keepBackups: queryBool });

/** `pgo show cluster --selector`. */
export const listQuery = z.strictObject({ selector: selector.optional() });

/** `pgo scale`. */
export const scaleBody = z.strictObject({
  replicaCount: replicaCount.default(1),
  pvcSize: storageSize.optional(),
  storageClass: name.optional(),
  nodeLabel: nodeLabel.optional(),
  nodeAffinityType: affinityType.optional(),
  serviceType: serviceType.optional(),
});

/** `pgo failover --target` (no target: a switchover to the best replica). */
export const failoverBody = z.strictObject({ target: name.optional() });

/** `pgo label`. */
export const labelBody = z.strictObject({
  labels: userLabels.refine((l) => Object.keys(l).length > 0, { message: 'give at least one label' }),
  dryRun: z.boolean().optional(),
});

/** `pgo delete label`. */
export const unlabelQuery = z.strictObject({ keys: z.string().min(1).max(2000) });

/** `pgo show user`. */
export const userShowQuery = z.strictObject({
  showSecrets: queryBool,
  showSystemAccounts: queryBool,
  expired: z.coerce.number().int().min(1).max(MAX_VALID_DAYS).optional().describe('only users whose password expires within this many days'),
});

const password = z.string().min(1).max(PASSWORD_MAX).describe('the new password (sent to PostgreSQL only as a verifier)');
const passwordLength = z.int().min(PASSWORD_LENGTH.min).max(PASSWORD_LENGTH.max).describe(`length of a generated password (${PASSWORD_LENGTH.default} by default)`);
const validDays = z.int().min(1).max(MAX_VALID_DAYS).describe('the password expires this many days from now');
const passwordType = z.enum(['scram-sha-256', 'md5']).describe("how PostgreSQL stores the password; the cluster's passwordType by default");
const oneOf = (b: Record<string, unknown>, keys: string[]) => keys.filter((k) => b[k] !== undefined && b[k] !== false).length <= 1;

/** `pgo create user`. */
export const userCreateBody = z
  .strictObject({
    username: roleName,
    password: password.optional(),
    passwordLength: passwordLength.optional(),
    validDays: validDays.optional(),
    validAlways: z.boolean().optional().describe('the password never expires (the default)'),
    managed: z.boolean().optional().describe('keep the password in the Secret <cluster>-<user>-secret'),
    passwordType: passwordType.optional(),
  })
  .refine((b) => oneOf(b, ['password', 'passwordLength']), { message: 'give --password or --password-length, not both', path: ['password'] })
  .refine((b) => oneOf(b, ['validDays', 'validAlways']), { message: 'give --valid-days or --valid-always, not both', path: ['validDays'] });

/** `pgo update user`: one user (--username), or every user whose password expires within --expired days. */
export const userUpdateBody = z
  .strictObject({
    username: roleName.optional(),
    expired: z.int().min(1).max(MAX_VALID_DAYS).optional().describe('change every user whose password expires within this many days'),
    password: password.optional(),
    passwordLength: passwordLength.optional(),
    rotatePassword: z.boolean().optional().describe('set a new generated password'),
    validDays: validDays.optional(),
    validAlways: z.boolean().optional(),
    expireUser: z.boolean().optional().describe('the password stops working now'),
    disableLogin: z.boolean().optional(),
    enableLogin: z.boolean().optional(),
    passwordType: passwordType.optional(),
  })
  .refine((b) => (b.username === undefined) !== (b.expired === undefined), { message: 'give --username, or --expired N (every user expiring within N days), not both', path: ['username'] })
  .refine((b) => oneOf(b, ['password', 'rotatePassword']), { message: 'give --password or --rotate-password, not both', path: ['password'] })
  .refine((b) => oneOf(b, ['validDays', 'validAlways', 'expireUser']), { message: 'give one of --valid-days, --valid-always, --expire-user', path: ['validDays'] })
  .refine((b) => oneOf(b, ['disableLogin', 'enableLogin']), { message: 'give --disable-login or --enable-login, not both', path: ['disableLogin'] })
  .refine((b) => b.expired === undefined || b.password === undefined, { message: 'with --expired, use --rotate-password: one --password for many users is refused', path: ['password'] })
  .refine(
    (b) => [b.password, b.rotatePassword, b.passwordLength, b.validDays, b.validAlways, b.expireUser, b.disableLogin, b.enableLogin].some((v) => v !== undefined && v !== false),
    { message: 'nothing to change: give --password, --rotate-password, --valid-days, --valid-always, --expire-user, --disable-login or --enable-login' },
  );

/** `pgo delete user`. */
export const userDeleteQuery = z.strictObject({ username: roleName });

/** What a user command did on one cluster, per user. */
export const userResult = z.object({
  cluster: z.string(),
  users: z.array(
    z.object({
      username: z.string(),
      status: z.enum(['ok', 'error']),
      error: z.string().optional(),
      task: z.string().optional(),
      secret: z.string().optional().describe('the Secret that keeps the password'),
      password: z.string().optional().describe('a generated password, shown only to a pgouser with ShowSecrets'),
      expires: z.string().optional(),
    }),
  ),
});

/** `pgo restore`: checked against the cluster's repository, then recorded as a pgtask of type restore. */
export const restoreBody = z.strictObject({
  backupType: z.enum(['pgbackrest', 'pgdump']).default('pgbackrest').describe('pgdump: restore a pg_dump from --backup-pvc into the running cluster'),
  pitrTarget: z.string().min(1).max(MAX_TARGET_LENGTH).optional().describe('--pitr-target: a time such as "2026-12-01 10:00:00+00" (implies --type=time)'),
  backupOpts: z.string().max(1000).optional().describe('pgBackRest restore options, e.g. "--type=time --set=20261201-010000F" (a whitelist)'),
  nodeLabel: nodeLabel.optional().describe('--node-label key=value: placement of the restored instance'),
  nodeAffinityType: affinityType.optional().describe('with nodeLabel: preferred (default) or required'),
  dryRun: z.boolean().optional().describe('check and plan only; nothing is created'),
  drill: z.boolean().optional().describe('--drill: restore into a throw-away instance, verify, record the RTO, remove it; the cluster is not touched'),
  backupPvc: z.string().min(1).max(253).optional().describe('pgdump: the volume holding the dumps'),
  pgdumpDatabase: sqlName.optional().describe("pgdump: the database to restore into; the cluster's database when unset"),
});

/** `pgo upgrade`. */
export const upgradeBody = z
  .strictObject({ image: image.optional(), ccpImageTag: imageTag.optional(), ignoreValidation: z.boolean().optional() })
  .refine((b) => (b.image === undefined) !== (b.ccpImageTag === undefined), { message: 'give the image to move to: --ccp-image-tag TAG (the same image, another tag) or --ccp-image IMAGE, not both' });

/** `pgo load`: what to load (spec.load of each task) and into which clusters. */
export const loadBody = z
  .strictObject({ selector: selector.optional(), clusters: z.array(name).min(1).max(100).optional(), load: loadSpec })
  .refine((b) => (b.selector === undefined) !== (b.clusters === undefined), { message: 'give the clusters to load into: a selector (-s project=xray) or cluster names, not both' });

/** `pgo create pgouser`. */
export const pgouserCreateBody = z
  .strictObject({
    name,
    password: z.string().min(8, 'must be at least 8 characters').max(256),
    roles: z.array(name).min(1).max(20),
    namespaces: z.array(name).max(200).default([]),
    allNamespaces: z.boolean().default(false),
  })
  .refine((b) => b.allNamespaces !== b.namespaces.length > 0, { message: 'give either namespaces or allNamespaces', path: ['namespaces'] });

/** `pgo update pgouser`. */
export const pgouserUpdateBody = z
  .strictObject({
    password: z.string().min(8, 'must be at least 8 characters').max(256).optional(),
    roles: z.array(name).min(1).max(20).optional(),
    namespaces: z.array(name).max(200).optional(),
    allNamespaces: z.boolean().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: 'nothing to update' });

/** `pgo create pgorole`. */
export const pgoroleCreateBody = z.strictObject({ name, permissions: z.array(permissionName).min(1).max(100) });

/** `pgo update pgorole`. */
export const pgoroleUpdateBody = z.strictObject({ permissions: z.array(permissionName).min(1).max(100) });

/** `pgo create policy`. */
export const policyCreateBody = z.strictObject({ name, sql: z.string().min(1).max(900_000), database: sqlName.optional() });

/** `pgo apply`. */
export const policyApplyBody = z
  .strictObject({ selector: selector.optional(), clusters: z.array(name).min(1).max(100).optional(), dryRun: z.boolean().optional() })
  .refine((b) => (b.selector === undefined) !== (b.clusters === undefined), { message: 'give the clusters to run the policy on: a selector (-s env=prod) or cluster names, not both' });

/** `pgo watch` / WebSocket /events. */
export const eventsQuery = z.strictObject({ namespace: name, cluster: name.optional() });

// ---- responses ----

/** Every error answer. */
export const errorBody = z.object({ error: z.object({ status: z.int(), message: z.string(), fields: z.array(z.string()).optional() }) });

/** A plain confirmation. */
export const messageResult = z.object({ message: z.string() });

/** `pgo version`. */
export const versionResult = z.object({ serverVersion: z.string(), apiVersion: z.string() });

/** One instance of a cluster. */
export const instanceInfo = z.object({
  name: z.string(),
  role: z.string(),
  ready: z.boolean(),
  node: z.string().optional(),
  podIP: z.string().optional(),
  timeline: z.int().optional(),
  lagBytes: z.int().optional(),
});

/** A cluster as `pgo show cluster` prints it. */
export const clusterInfo = z.object({
  name: z.string(),
  namespace: z.string(),
  phase: z.string().optional(),
  state: z.string().optional(),
  message: z.string().optional(),
  currentPrimary: z.string().optional(),
  image: z.string(),
  replicas: z.array(z.string()),
  readyInstances: z.int().optional(),
  instances: z.array(instanceInfo),
  services: z.array(z.object({ name: z.string(), type: z.string(), clusterIP: z.string().optional() })),
  storage: z.object({ primary: z.string(), replica: z.string() }),
  resources: z.object({ cpu: z.string().optional(), memory: z.string().optional(), cpuLimit: z.string().optional(), memoryLimit: z.string().optional() }),
  labels: z.record(z.string(), z.string()),
  disableAutofail: z.boolean(),
  shutdown: z.boolean(),
  created: z.string().optional(),
  /** pgBackRest: the repositories and the WALArchiving condition (absent when backups are off). */
  backrest: z.object({ storageType: z.string(), archiving: z.string().optional(), archivingMessage: z.string().optional() }).optional(),
  restore: z.object({ task: z.string(), phase: z.string(), message: z.string().optional(), time: z.string() }).optional().describe('the latest restore and its step'),
  lastDrill: z.object({ task: z.string(), time: z.string(), succeeded: z.boolean(), backupSet: z.string().optional(), rtoSeconds: z.number().optional(), message: z.string() }).optional().describe('the latest restore drill'),
});

/** `pgo show cluster` (list). */
export const clusterList = z.object({ clusters: z.array(clusterInfo) });

/** A pgtask: the id of a long operation and its progress. */
export const taskInfo = z.object({
  name: z.string(),
  namespace: z.string(),
  type: z.string(),
  cluster: z.string(),
  target: z.string().optional(),
  phase: z.string().optional(),
  message: z.string().optional(),
  startTime: z.string().optional(),
  completionTime: z.string().optional(),
});

/** `pgo restore`: the plan, and the pgtask unless it was a dry run. */
export const restoreResult = z.object({
  cluster: z.string(),
  dryRun: z.boolean(),
  plan: z.string().describe('what the restore will do'),
  set: z.string().optional().describe('the backup set it restores (pgBackRest)'),
  repo: z.int().optional().describe('the repository it restores from (pgBackRest)'),
  task: z.string().optional().describe('the pgtask recording the request (absent on a dry run)'),
});

/** A restore pgtask as `pgo show restore` lists it. */
export const restoreInfo = taskInfo.omit({ target: true }).extend({
  created: z.string().optional(),
  restore: restoreSpec.optional().describe("the task's spec.restore"),
  status: restoreStatus.optional().describe("the task's status.restore: step, progress, error"),
});

/** `pgo show restore`: a cluster's restore pgtasks, newest first. */
export const restoreList = z.object({ cluster: z.string(), restores: z.array(restoreInfo) });

/** `pgo scale`. */
export const scaleResult = z.object({ cluster: z.string(), created: z.array(z.string()) });

/** A replica that could be removed or promoted. */
export const replicaCandidate = z.object({ name: z.string(), ready: z.boolean(), node: z.string().optional(), lagBytes: z.int().optional(), timeline: z.int().optional() });

/** `pgo scaledown --query`, `pgo failover --query`. */
export const candidateList = z.object({ cluster: z.string(), primary: z.string().optional(), replicas: z.array(replicaCandidate) });

/** `pgo test`. */
export const testResult = z.object({
  cluster: z.string(),
  services: z.array(z.object({ name: z.string(), role: z.string(), address: z.string().optional(), up: z.boolean() })),
  instances: z.array(z.object({ name: z.string(), role: z.string(), pod: z.string().optional(), up: z.boolean(), error: z.string().optional() })),
});

/** `pgo df`. */
export const dfResult = z.object({
  cluster: z.string(),
  instances: z.array(
    z.object({
      name: z.string(),
      role: z.string(),
      pod: z.string().optional(),
      up: z.boolean(),
      databaseBytes: z.number().optional(),
      capacityBytes: z.number().optional(),
      error: z.string().optional(),
    }),
  ),
});

/** `pgo reload`. */
export const reloadResult = z.object({ cluster: z.string(), reloaded: z.array(z.string()), failed: z.array(z.object({ name: z.string(), error: z.string() })) });

/** `pgo label`. */
export const labelResult = z.object({ cluster: z.string(), labels: z.record(z.string(), z.string()), dryRun: z.boolean() });

/** `pgo status`. */
export const statusResult = z.object({
  namespace: z.string(),
  databases: z.int(),
  claims: z.int(),
  totalVolumeSize: z.string(),
  images: z.record(z.string(), z.int()),
  notReady: z.array(z.string()),
  labels: z.array(z.object({ label: z.string(), count: z.int() })),
});

/** `pgo show user`. */
export const userList = z.object({
  cluster: z.string(),
  users: z.array(
    z.object({
      username: z.string(),
      system: z.boolean(),
      canLogin: z.boolean(),
      expires: z.string().describe("'never' or the time the password stops working"),
      secret: z.string().optional(),
      password: z.string().optional(),
    }),
  ),
});

/** A pgouser (never with its password or hash). */
export const pgouserInfo = z.object({ name: z.string(), roles: z.array(z.string()), namespaces: z.array(z.string()), allNamespaces: z.boolean() });
/** A list of pgousers. */
export const pgouserList = z.object({ pgousers: z.array(pgouserInfo) });
/** A pgorole. */
export const pgoroleInfo = z.object({ name: z.string(), permissions: z.array(z.string()) });
/** A list of pgoroles. */
export const pgoroleList = z.object({ pgoroles: z.array(pgoroleInfo) });
/** `pgo load`: one load task per cluster, as far as it got within the wait. */
export const loadResult = z.object({
  results: z.array(
    z.object({
      cluster: z.string(),
      task: z.string(),
      status: z.enum(['loaded', 'failed', 'running']),
      rows: z.number().optional(),
      line: z.number().optional(),
      message: z.string().optional(),
    }),
  ),
});

/** What `pgo apply` did on each cluster (or, with dryRun, would do). */
export const policyApplyResult = z.object({
  policy: z.string(),
  dryRun: z.boolean().optional(),
  results: z.array(
    z.object({
      cluster: z.string(),
      status: z.enum(['applied', 'failed', 'running', 'skipped', 'would apply']),
      task: z.string().optional(),
      message: z.string().optional(),
      sqlstate: z.string().optional(),
    }),
  ),
});
/** A pgpolicy. */
export const policyInfo = z.object({ name: z.string(), namespace: z.string(), sql: z.string(), database: z.string().optional(), appliedTo: z.array(z.string()).optional() });
/** A list of pgpolicies. */
export const policyList = z.object({ policies: z.array(policyInfo) });

/** The cluster machine's states, for the visualizer. */
export const machineInfo = z.object({ id: z.string(), states: z.array(z.object({ path: z.string(), description: z.string().optional() })) });

/** One message on the /events WebSocket. */
export const streamEvent = z.object({
  kind: z.enum(['transition', 'event', 'task', 'hello', 'dropped']),
  time: z.string(),
  namespace: z.string().optional(),
  cluster: z.string().optional(),
  state: z.string().optional(),
  object: z.string().optional(),
  reason: z.string().optional(),
  type: z.string().optional(),
  message: z.string().optional(),
  phase: z.string().optional(),
  task: z.string().optional(),
});

/** A message on the /events WebSocket. */
export type StreamEvent = z.infer<typeof streamEvent>;
