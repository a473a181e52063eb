/**
 * The actor of a pg_dump restore (`pgo restore CLUSTER --backup-type=pgdump --backup-pvc PVC`): a Job next to
 * the data mounts the dump volume, picks the newest custom-format dump of the database (or the one named)
 * and runs pg_restore against the primary Service in one transaction, so the database gets all of the dump
 * or none of it. The Job's termination message names the dump, or says why none was found.
 */
import { CoreV1Api, type KubeConfig, type V1Job } from '@kubernetes/client-node';
import { createActor, fromPromise, type Actor } from 'xstate';
import { ownerRef } from '../cluster/builders.ts';
import { clusterNames } from '../cluster/names.ts';
import type { PgClusterResource, PgTaskResource } from '../crd/types.ts';
import { describeError, httpStatus, type CustomResources } from '../k8s/custom.ts';
import type { EventRecorder } from '../k8s/events.ts';
import { dumpRestoreMachine } from '../machines/dump-restore.ts';
import { createJobOnce, dumpVolumeJob, jobResult } from './pgdump.ts';
import { MachineTaskActor } from './task-actors.ts';

/** pg_restore options a user may pass (the rest could write files or run as someone else). */
const RESTORE_DUMP_OPTIONS = /^--(clean|if-exists|no-owner|no-privileges|no-comments|data-only|schema-only|no-tablespaces|disable-triggers|(schema|exclude-schema|table)=[A-Za-z0-9_.]{1,128})$/;

/** Error of a request that cannot run as written. */
export class DumpRestoreRefused extends Error {}

/** The pg_restore options of a request, checked (one message naming the option and the list). */
export function restoreDumpOptions(text: string | undefined): string[] {
  const opts = (text ?? '').trim().split(/\s+/).filter(Boolean);
  const bad = opts.find((o) => !RESTORE_DUMP_OPTIONS.test(o));
  if (bad) throw new DumpRestoreRefused(`pg_restore option ${bad} is not allowed; allowed: --clean, --if-exists, --no-owner, --no-privileges, --no-comments, --data-only, --schema-only, --no-tablespaces, --disable-triggers, --schema=, --exclude-schema=, --table=`);
  return opts;
}

/** Name of the Job of a pg_dump restore task. */
export const dumpRestoreJobName = (task: PgTaskResource) => `${task.metadata.name}-pgrestore`.slice(0, 63);

// Arguments arrive as positional parameters ("$@"), never as text to parse: database, file filter, then pg_restore's.
const SCRIPT = [
  'set -euo pipefail',
  'db=$1; want=$2; shift 2',
  'cd /pgdump',
  'file=$(ls -1t -- *.dump 2>/dev/null | grep -F -- "-$db-" | grep -F -- "$want" | head -n 1 || true)',
  'if [ -z "$file" ]; then printf "no pg_dump of database %s%s in the volume (pgo backup --backup-type=pgdump makes one)" "$db" "${want:+ matching $want}" > /dev/termination-log; exit 2; fi',
  'pg_restore -h "$PGO_HOST" -p "$PGO_PORT" -U postgres -d "$db" --single-transaction --exit-on-error "$@" "$file"',
  'printf "file=%s" "$file" > /dev/termination-log',
].join('\n');

/** The Job that restores a dump into a running cluster. */
export function dumpRestoreJob(cluster: PgClusterResource, task: PgTaskResource, options: string[]): V1Job {
  const dump = task.spec.restore!.pgdump!;
  const names = clusterNames(cluster.metadata.name);
  return dumpVolumeJob(cluster, {
    name: dumpRestoreJobName(task),
    owner: ownerRef(task),
    container: 'pgrestore',
    command: ['bash', '-c', SCRIPT, 'pgrestore', dump.database ?? cluster.spec.database, dump.file ?? '', ...options],
    env: [{ name: 'PGO_HOST', value: names.primaryService }, { name: 'PGO_PORT', value: String(cluster.spec.port) }],
    volume: dump.pvcName,
    readOnly: true,
  });
}

/** What a pg_dump restore needs. */
export interface DumpRestoreDeps {
  kc: KubeConfig;
  tasks: CustomResources<PgTaskResource>;
  events: EventRecorder;
  cluster(namespace: string, name: string): PgClusterResource | undefined;
  log(line: string): void;
}

/** The actor of one pg_dump restore task. */
export class DumpRestoreActor extends MachineTaskActor<typeof dumpRestoreMachine> {
  protected readonly actor: Actor<typeof dumpRestoreMachine>;

  constructor(
    private readonly task: PgTaskResource,
    private readonly deps: DumpRestoreDeps,
  ) {
    super();
    const key = `${task.metadata.namespace}/${task.metadata.name}`;
    const machine = dumpRestoreMachine.provide({
      actors: {
        start: fromPromise(() => this.start()),
        watch: fromPromise(({ input, signal }: { input: { job: string }; signal: AbortSignal }) => this.watch(input.job, AbortSignal.any([signal, this.abort.signal]))),
      },
    });
    this.actor = createActor(machine);
    this.actor.subscribe((s) => void this.report(String(s.value), s.context).catch((err: unknown) => deps.log(`${key}: ${describeError(err)}`)));
  }

  private cluster(): PgClusterResource {
    const c = this.deps.cluster(this.task.metadata.namespace, this.task.spec.clusterName);
    if (!c) throw new DumpRestoreRefused(`pgcluster ${this.task.spec.clusterName} does not exist`);
    return c;
  }

  private async start(): Promise<string> {
    const cluster = this.cluster();
    const dump = this.task.spec.restore!.pgdump!;
    const options = restoreDumpOptions(dump.options);
    const { namespace } = this.task.metadata;
    const core = this.deps.kc.makeApiClient(CoreV1Api);
    await core.readNamespacedPersistentVolumeClaim({ namespace, name: dump.pvcName }).catch((err: unknown) => {
      throw httpStatus(err) === 404 ? new DumpRestoreRefused(`PersistentVolumeClaim ${dump.pvcName} does not exist: name the dump volume with --backup-pvc`) : err;
    });
    const job = dumpRestoreJob(cluster, this.task, options);
    return createJobOnce(this.deps.kc, namespace, job);
  }

  private async watch(job: string, signal: AbortSignal): Promise<string> {
    const message = await jobResult(this.deps.kc, this.task.metadata.namespace, job, 'pg_restore', signal);
    return /file=(\S+)/.exec(message)?.[1] ?? 'the dump';
  }

  private async report(state: string, context: { result?: string; error?: string }): Promise<void> {
    const phase = state === 'succeeded' ? 'Succeeded' : state === 'failed' ? 'Failed' : 'Running';
    const dump = this.task.spec.restore!.pgdump!;
    const db = dump.database ?? this.deps.cluster(this.task.metadata.namespace, this.task.spec.clusterName)?.spec.database;
    const message =
      phase === 'Succeeded' ? `restored ${context.result} into database ${db} (one transaction)`
      : phase === 'Failed' ? `pg_dump restore failed: ${context.error}; nothing of the dump was applied`
      : `restoring a pg_dump from ${dump.pvcName} into database ${db}`;
    const { namespace, name } = this.task.metadata;
    await this.deps.tasks.updateStatus(namespace, name, (t) => ({
      ...t.status,
      phase,
      message,
      startTime: t.status?.startTime ?? new Date().toISOString(),
      ...(phase !== 'Running' ? { completionTime: new Date().toISOString() } : {}),
    }));
    const cluster = this.deps.cluster(namespace, this.task.spec.clusterName);
    if (cluster && phase !== 'Running') this.deps.events.record(cluster, phase === 'Failed' ? 'Warning' : 'Normal', phase === 'Failed' ? 'DumpRestoreFailed' : 'DumpRestored', `pgtask ${name}: ${message}`);
  }
}
