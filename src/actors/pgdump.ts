/**
 * The effects of a pgdump pgbackup (`pgo backup --backup-type=pgdump`): a Job next to the data, not in the
 * operator process, runs pg_dump (custom format) or pg_dumpall against the primary Service and writes the
 * file to a volume (created when missing; it outlives the backup). The Job is named after the pgbackup, so a
 * restarted operator finds it instead of dumping twice; its container reports the file and size in its
 * termination message.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BatchV1Api, CoreV1Api, type KubeConfig, type V1EnvVar, type V1Job, type V1OwnerReference, type V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { POSTGRES_UID } from '../backrest/objects.ts';
import { ownerRef } from '../cluster/builders.ts';
import { clusterLabels, clusterNames } from '../cluster/names.ts';
import type { PgBackupResource, PgClusterResource } from '../crd/types.ts';
import { describeError, httpStatus } from '../k8s/custom.ts';
import { BackupRefused, type BackupJob, type BackupResult } from '../machines/backup.ts';

/** The volume a cluster's dumps go to unless the request names one (v4's tutorial name). */
export const defaultDumpVolume = (cluster: string) => `${cluster}-pgdump-pvc`;

/** Options pg_dump accepts in `--backup-opts` for a dump (a whitelist: the rest could write elsewhere or run code). */
const DUMP_OPTIONS = /^--(schema-only|data-only|no-owner|no-privileges|no-comments|clean|if-exists|create|no-tablespaces|(schema|exclude-schema|table|exclude-table)=[A-Za-z0-9_.*]{1,128}|compress=[0-9])$/;

/** The pg_dump (or pg_dumpall) options of a request, checked. */
export function dumpOptions(text: string | undefined): string[] {
  const opts = (text ?? '').trim().split(/\s+/).filter(Boolean);
  const bad = opts.find((o) => !DUMP_OPTIONS.test(o));
  if (bad) throw new BackupRefused(`pg_dump option ${bad} is not allowed in --backup-opts; allowed: --schema-only, --data-only, --no-owner, --no-privileges, --no-comments, --clean, --if-exists, --create, --no-tablespaces, --schema=, --exclude-schema=, --table=, --exclude-table=, --compress=N`);
  return opts;
}

/** The Job that dumps `database` (or every database) of a cluster into the volume. */
export function dumpJob(cluster: PgClusterResource, backup: PgBackupResource, volume: string, options: string[]): V1Job {
  const names = clusterNames(cluster.metadata.name);
  const all = backup.spec.dumpAll === true;
  const database = backup.spec.database ?? cluster.spec.database;
  const stamp = new Date().toISOString().replace(/[-:]/g, '').slice(0, 15);
  const file = all ? `/pgdump/${cluster.metadata.name}-all-${stamp}.sql` : `/pgdump/${cluster.metadata.name}-${database}-${stamp}.dump`;
  const conn = ['-h', names.primaryService, '-p', String(cluster.spec.port), '-U', 'postgres'];
  const dump = all ? ['pg_dumpall', ...conn, ...options, '-f', file] : ['pg_dump', ...conn, '-Fc', ...options, '-f', file, database];
  // The arguments reach the shell as positional parameters ("$@"), never as text to parse.
  const script = 'set -e; "$@"; printf "file=%s size=%s" "$PGO_DUMP_FILE" "$(stat -c %s "$PGO_DUMP_FILE")" > /dev/termination-log';
  return dumpVolumeJob(cluster, {
    name: `${backup.metadata.name}-pgdump`.slice(0, 63),
    owner: ownerRef(backup),
    container: 'pgdump',
    command: ['bash', '-c', script, 'pgdump', ...dump],
    env: [{ name: 'PGO_DUMP_FILE', value: file }],
    volume,
  });
}

/**
 * A one-pod Job of the cluster's image, as the superuser (PGPASSWORD from its Secret), with a volume at
 * /pgdump or `mountPath` (read-only when asked), never retried. Its container reports through its termination message, or
 * the end of its log when it fails (pg_dump's or pg_restore's own error).
 */
export function dumpVolumeJob(
  cluster: PgClusterResource,
  o: { name: string; owner: V1OwnerReference; container: string; command: string[]; env: V1EnvVar[]; volume: string; mountPath?: string; readOnly?: boolean },
): V1Job {
  const names = clusterNames(cluster.metadata.name);
  const labels = clusterLabels(cluster.metadata.name, cluster.spec.userLabels);
  const readOnly = o.readOnly ? { readOnly: true } : {};
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: o.name, namespace: cluster.metadata.namespace, labels, ownerReferences: [o.owner] },
    spec: {
      backoffLimit: 0,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          securityContext: { fsGroup: POSTGRES_UID },
          enableServiceLinks: false,
          tolerations: cluster.spec.tolerations,
          containers: [{
            name: o.container,
            image: cluster.spec.image,
            imagePullPolicy: 'IfNotPresent',
            terminationMessagePolicy: 'FallbackToLogsOnError',
            command: o.command,
            env: [{ name: 'PGPASSWORD', valueFrom: { secretKeyRef: { name: names.superuserSecret, key: 'password' } } }, ...o.env],
            volumeMounts: [{ name: 'pgdump', mountPath: o.mountPath ?? '/pgdump', ...readOnly }],
          }],
          volumes: [{ name: 'pgdump', persistentVolumeClaim: { claimName: o.volume, ...readOnly } }],
        },
      },
    },
  };
}

/** Creates a task's Job, or finds it made already (an operator restarted after creating it); resolves to its name. */
export async function createJobOnce(kc: KubeConfig, namespace: string, job: V1Job): Promise<string> {
  try {
    await kc.makeApiClient(BatchV1Api).createNamespacedJob({ namespace, body: job });
  } catch (err) {
    if (httpStatus(err) !== 409) throw new Error(`creating Job ${job.metadata!.name}: ${describeError(err)}`, { cause: err });
  }
  return job.metadata!.name!;
}

/** The dump volume, when it has to be created: the cluster's primary storage settings. */
export function dumpVolume(cluster: PgClusterResource, name: string): V1PersistentVolumeClaim {
  const s = cluster.spec.storage.primary;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    // Not owned by the backup or the cluster: the dumps must outlive both.
    metadata: { name, namespace: cluster.metadata.namespace, labels: clusterLabels(cluster.metadata.name, cluster.spec.userLabels) },
    spec: { accessModes: [s.accessMode], storageClassName: s.storageClass, resources: { requests: { storage: s.size } } },
  };
}

/** Creates the volume (when missing) and the Job (once per pgbackup). */
export async function startDump(kc: KubeConfig, cluster: PgClusterResource, backup: PgBackupResource): Promise<BackupJob> {
  const options = dumpOptions(backup.spec.options);
  const core = kc.makeApiClient(CoreV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const namespace = cluster.metadata.namespace;
  const volume = backup.spec.pvcName ?? defaultDumpVolume(cluster.metadata.name);
  const create = async (what: string, work: () => Promise<unknown>) => {
    try {
      await work();
    } catch (err) {
      if (httpStatus(err) !== 409) throw new Error(`creating ${what}: ${describeError(err)}`, { cause: err });
    }
  };
  await create(`PersistentVolumeClaim ${volume}`, () => core.createNamespacedPersistentVolumeClaim({ namespace, body: dumpVolume(cluster, volume) }));
  const job = dumpJob(cluster, backup, volume, options);
  await create(`Job ${job.metadata!.name}`, () => batch.createNamespacedJob({ namespace, body: job }));
  return { pod: volume, id: job.metadata!.name! };
}

/**
 * Waits for a one-pod Job to end; resolves to its container's termination message, or rejects with it (the
 * end of the log when the container wrote none), prefixed with `what`.
 */
export async function jobResult(kc: KubeConfig, namespace: string, name: string, what: string, signal: AbortSignal, pollMs = 2000): Promise<string> {
  const batch = kc.makeApiClient(BatchV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  for (;;) {
    signal.throwIfAborted();
    const j = await batch.readNamespacedJob({ namespace, name });
    const done = j.status?.succeeded ? 'ok' : j.status?.failed ? 'failed' : undefined;
    if (done) {
      const pods = await core.listNamespacedPod({ namespace, labelSelector: `job-name=${name}` });
      const term = pods.items.flatMap((p) => p.status?.containerStatuses ?? []).map((c) => c.state?.terminated).find((t) => t);
      if (done === 'failed') throw new Error(`${what} failed (exit code ${term?.exitCode ?? '?'}): ${term?.message?.trim() || term?.reason || "see the Job's pod log"}`);
      return term?.message ?? '';
    }
    await sleep(pollMs, undefined, { signal });
  }
}

/** Waits for the dump Job to end; its termination message names the file and its size. */
export async function watchDump(kc: KubeConfig, namespace: string, job: BackupJob, signal: AbortSignal, pollMs = 2000): Promise<BackupResult & { sizeBytes: number }> {
  const m = /file=(\S+) size=(\d+)/.exec(await jobResult(kc, namespace, job.id, 'pg_dump', signal, pollMs));
  if (!m) throw new Error(`the dump Job ${job.id} succeeded but did not report its file`);
  return { label: m[1]!, sizeBytes: Number(m[2]) };
}
