/**
 * One actor per pgbackup: runs the backup machine and provides its effects. pgBackRest runs in the cluster's
 * repository host (where the repository is): stanza-create, then the backup as a detached job (`pgo-job`),
 * watched until it ends; what it made is read back from `pgbackrest info` by the backup's annotation.
 * Status is written on every step, so `kubectl get pgbackups` and `pgo show backup` tell the truth.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { createActor, fromPromise, type Actor } from 'xstate';
import { STANZA, pgHostArgs } from '../backrest/objects.ts';
import { backrestError, defaultType, newBackupLabel, parseInfo, setsOf, shortBackrestError, type StanzaInfo } from '../backrest/info.ts';
import { OptionError, checkOptionsForType, optionArgs, parseBackupOptions } from '../backrest/options.ts';
import { LABEL } from '../cluster/names.ts';
import { REPO_NUMBER, backrestOf, repoKinds } from '../crd/backrest.ts';
import type { PgBackupStatus } from '../crd/pgbackup.ts';
import type { PgBackupResource, PgClusterResource } from '../crd/types.ts';
import { describeError, type CustomResources } from '../k8s/custom.ts';
import type { EventRecorder } from '../k8s/events.ts';
import { execInPod } from '../k8s/exec.ts';
import { dumpOptions, startDump, watchDump } from './pgdump.ts';
import { BackupRefused, backupMachine, backupPhase, type BackupJob, type BackupPlan, type BackupResult } from '../machines/backup.ts';

/** What a backup actor needs from the operator. */
export interface BackupDeps {
  kc: KubeConfig;
  backups: CustomResources<PgBackupResource>;
  clusters: CustomResources<PgClusterResource>;
  events: EventRecorder;
  /** The pgcluster from the informer. */
  cluster(namespace: string, name: string): PgClusterResource | undefined;
  /** Pods of a cluster from the shared informer. */
  pods(namespace: string, cluster: string): readonly V1Pod[];
  log(line: string): void;
}

/** How often a running backup is looked at. */
const WATCH_MS = Number(process.env.PGO_BACKUP_WATCH_MS ?? 2000);

const ready = (p: V1Pod) => !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

/** The cluster's repository host pod when it is Ready. */
export function repoHostPod(pods: readonly V1Pod[]): string | undefined {
  return pods.find((p) => p.metadata?.labels?.[LABEL.component] === 'repo-host' && ready(p))?.metadata?.name;
}

/** Runs pgbackrest (or pgo-job) in the repository host; throws pgBackRest's error when it fails. */
export async function repoExec(kc: KubeConfig, namespace: string, pod: string, command: string[], timeoutMs = 120_000): Promise<string> {
  const { output, status } = await execInPod(kc, namespace, pod, 'pgbackrest', command, timeoutMs);
  if (status?.status === 'Success') return output;
  const error = backrestError(output);
  throw new Error(error ? shortBackrestError(error) : `${command.slice(0, 2).join(' ')} in ${pod} failed: ${output.trim().slice(-500) || status?.message || 'no output'}`);
}

/** `pgbackrest info --output=json` of the stanza, from the repository host. */
export async function readInfo(kc: KubeConfig, namespace: string, pod: string, repo?: number): Promise<StanzaInfo | undefined> {
  const out = await repoExec(kc, namespace, pod, ['pgbackrest', `--stanza=${STANZA}`, ...(repo ? [`--repo=${repo}`] : []), 'info', '--output=json']);
  return parseInfo(out)[0];
}

/** A streaming replica of the cluster to read a backup from, by its status; undefined when none is. */
function streamingReplica(cluster: PgClusterResource): string | undefined {
  return cluster.status?.instances?.find((i) => i.role === 'replica' && i.ready && i.lagBytes !== undefined && i.lagBytes < 16 * 1024 * 1024)?.name;
}

/** The actor of one pgbackup. */
export class BackupActor {
  readonly key: string;
  private readonly actor: Actor<typeof backupMachine>;
  private readonly abort = new AbortController();
  private backup: PgBackupResource;
  private lastState = '';
  private progress?: number;

  constructor(
    backup: PgBackupResource,
    private readonly deps: BackupDeps,
    maxAttempts = 5,
  ) {
    this.backup = backup;
    this.key = `${backup.metadata.namespace}/${backup.metadata.name}`;
    const s = backup.status;
    const job = s?.phase === 'Running' && s.job ? { pod: s.job.split('/')[0]!, id: s.job.split('/')[1]! } : undefined;
    const plan = s?.type && s.instance ? { type: s.type, repo: Number((s.repo ?? 'repo0').replace('repo', '')), instance: s.instance } : undefined;
    const machine = backupMachine.provide({
      actors: {
        prepare: fromPromise(() => (this.dump ? this.prepareDump() : this.prepare())),
        start: fromPromise(({ input }) => (this.dump ? startDump(deps.kc, this.cluster(), this.backup) : this.start(input.plan))),
        watch: fromPromise(({ input, signal }) => {
          const abort = AbortSignal.any([signal, this.abort.signal]);
          return this.dump ? watchDump(deps.kc, backup.metadata.namespace, input.job, abort) : this.watch(input.job, abort);
        }),
        record: fromPromise(({ input }) => (this.dump ? this.patchStatus({ fileName: input.result.label, backupBytes: input.result.sizeBytes, completionTime: new Date().toISOString() }) : this.record(input.result, input.plan))),
      },
    });
    this.actor = createActor(machine, { input: { attempts: s?.attempts, maxAttempts, plan, job: job && plan ? job : undefined } });
    this.actor.subscribe((snapshot) => {
      const state = String(snapshot.value);
      if (state === this.lastState) return;
      this.lastState = state;
      void this.writeStatus(state).catch((err: unknown) => deps.log(`pgbackup ${this.key}: writing status: ${describeError(err)}`));
    });
  }

  /** Starts the machine. */
  run(): void {
    this.actor.start();
  }

  /** Stops watching (the pgbackup was deleted or the lease lost); a running job goes on in the repository host. */
  stop(): void {
    this.abort.abort(new Error(`the actor of pgbackup ${this.key} stopped`));
    this.actor.stop();
  }

  /** The machine's state. */
  get state(): string {
    return String(this.actor.getSnapshot().value);
  }

  /** True once the backup has succeeded or failed. */
  get done(): boolean {
    return this.actor.getSnapshot().status === 'done';
  }

  /** It is this backup's turn and the cluster can be backed up. */
  ready(): void {
    this.actor.send({ type: 'READY' });
  }

  /** A newer copy of the pgbackup from the informer. */
  update(backup: PgBackupResource): void {
    this.backup = backup;
  }

  private get dump(): boolean {
    return this.backup.spec.type === 'pgdump';
  }

  /** A dump needs a ready primary and allowed options; it runs where the volume is mounted (a Job). */
  private prepareDump(): Promise<BackupPlan> {
    const cluster = this.cluster();
    dumpOptions(this.backup.spec.options);
    const primary = cluster.status?.currentPrimary ?? cluster.metadata.name;
    if (!cluster.status?.instances?.some((i) => i.name === primary && i.ready)) return Promise.reject(new Error(`the primary ${primary} is not ready`));
    return Promise.resolve({ type: 'pgdump', repo: 0, instance: primary });
  }

  private cluster(): PgClusterResource {
    const { namespace } = this.backup.metadata;
    const cluster = this.deps.cluster(namespace, this.backup.spec.clusterName);
    if (!cluster) throw new BackupRefused(`pgcluster ${this.backup.spec.clusterName} does not exist`);
    return cluster;
  }

  private repoPod(cluster: PgClusterResource): string {
    const pod = repoHostPod(this.deps.pods(cluster.metadata.namespace, cluster.metadata.name));
    if (!pod) throw new Error(`the repository host of ${cluster.metadata.name} is not ready`);
    return pod;
  }

  /** Checks the request, creates the stanza (idempotent), and picks the type, repository and instance. */
  private async prepare(): Promise<BackupPlan> {
    const { spec } = this.backup;
    const cluster = this.cluster();
    const b = backrestOf(cluster.spec);
    if (!b.enabled) throw new BackupRefused(`pgcluster ${cluster.metadata.name} has backups disabled (spec.backrest.enabled: false)`);
    let options;
    try {
      options = parseBackupOptions(spec.options);
    } catch (err) {
      if (err instanceof OptionError) throw new BackupRefused(`spec.options: ${err.message}`);
      throw err;
    }
    const typeOption = options.find((o) => o.name === 'type')?.value as BackupPlan['type'] | undefined;
    if (typeOption && spec.type && typeOption !== spec.type) throw new BackupRefused(`spec.type is ${spec.type} but spec.options says --type=${typeOption}: give one`);
    const kind = spec.repo ?? repoKinds(b)[0]!;
    if (!repoKinds(b).includes(kind)) throw new BackupRefused(`pgcluster ${cluster.metadata.name} has no ${kind} repository (spec.backrest.storageType is ${b.storageType})`);
    const repo = REPO_NUMBER[kind];
    const primary = cluster.status?.currentPrimary ?? cluster.metadata.name;
    if (!cluster.status?.instances?.some((i) => i.name === primary && i.ready)) throw new Error(`the primary ${primary} is not ready`);
    const pod = this.repoPod(cluster);
    await repoExec(this.deps.kc, cluster.metadata.namespace, pod, ['pgbackrest', `--stanza=${STANZA}`, ...pgHostArgs(cluster, 1, primary), 'stanza-create']);
    await this.deps.clusters.updateStatus(cluster.metadata.namespace, cluster.metadata.name, (c) =>
      c.status?.backrest?.stanzaCreated ? c.status : { ...c.status, backrest: { ...c.status?.backrest, stanzaCreated: true } });
    const info = await readInfo(this.deps.kc, cluster.metadata.namespace, pod, repo);
    // Made already (the operator stopped before it could record it): never a second backup for one request.
    const existing = setsOf(info, repo).find((s) => s.annotation?.[LABEL.pgbackup] === this.backup.metadata.name)?.label;
    const type = spec.type ?? typeOption ?? defaultType(info, repo);
    try {
      checkOptionsForType(options, type);
    } catch (err) {
      if (err instanceof OptionError) throw new BackupRefused(`spec.options: ${err.message}`);
      throw err;
    }
    const standbyAsked = b.backupStandby || options.some((o) => o.name === 'backup-standby');
    const standby = standbyAsked ? streamingReplica(cluster) : undefined;
    return { type, repo, instance: standby ?? primary, ...(existing ? { existing } : {}) };
  }

  /**
   * Starts `pgbackrest backup` detached in the repository host, as job <pgbackup name>: a start while that job
   * still runs (an operator restarted before it recorded the job) attaches to it instead of starting another.
   */
  private async start(plan: BackupPlan): Promise<BackupJob> {
    const cluster = this.cluster();
    const pod = this.repoPod(cluster);
    const primary = cluster.status?.currentPrimary ?? cluster.metadata.name;
    const options = parseBackupOptions(this.backup.spec.options).filter((o) => o.name !== 'type' && o.name !== 'backup-standby');
    const hosts = plan.instance === primary ? pgHostArgs(cluster, 1, primary) : [...pgHostArgs(cluster, 1, primary), ...pgHostArgs(cluster, 2, plan.instance), '--backup-standby'];
    const id = this.backup.metadata.name;
    await repoExec(this.deps.kc, cluster.metadata.namespace, pod, [
      'pgo-job', 'start', id, 'pgbackrest', `--stanza=${STANZA}`, `--repo=${plan.repo}`, `--type=${plan.type}`,
      `--annotation=${LABEL.pgbackup}=${this.backup.metadata.name}`, ...hosts, ...optionArgs(options), '--log-level-console=info', 'backup',
    ]);
    this.deps.events.record(cluster, 'Normal', 'BackupStarted', `pgbackup ${this.backup.metadata.name}: ${plan.type} backup to repo${plan.repo} from ${plan.instance}`);
    return { pod, id };
  }

  /** Follows the job until it ends; progress comes from pgBackRest's backup lock. */
  private async watch(job: BackupJob, signal: AbortSignal): Promise<BackupResult> {
    const cluster = this.cluster();
    const { namespace } = cluster.metadata;
    for (;;) {
      signal.throwIfAborted();
      const pods = this.deps.pods(namespace, cluster.metadata.name);
      if (!pods.some((p) => p.metadata?.name === job.pod && !p.metadata?.deletionTimestamp)) {
        throw new Error(`the backup was interrupted: the repository host pod ${job.pod} is gone`);
      }
      const out = await repoExec(this.deps.kc, namespace, job.pod, ['pgo-job', 'status', job.id]);
      const [head = '', ...rest] = out.split('\n');
      const log = rest.join('\n');
      if (head.startsWith('done ')) {
        const rc = Number(head.slice(5));
        if (rc !== 0) throw new Error(shortBackrestError(backrestError(log) ?? `pgbackrest backup exited with code ${rc}`));
        const label = newBackupLabel(log);
        if (!label) throw new Error('pgbackrest backup succeeded but printed no backup label');
        return { label };
      }
      if (head !== 'running') throw new Error(`the backup was interrupted: job ${job.id} is not running in ${job.pod}`);
      const info = await readInfo(this.deps.kc, namespace, job.pod).catch(() => undefined);
      const pct = info?.status.lock?.backup['pct-cplt'];
      if (pct !== undefined && Math.floor(pct) !== this.progress) {
        this.progress = Math.floor(pct);
        await this.patchStatus({ progress: Math.min(99, this.progress) });
      }
      await sleep(WATCH_MS, undefined, { signal });
    }
  }

  /** Writes what the backup made, from `pgbackrest info`. */
  private async record(result: BackupResult, plan?: BackupPlan): Promise<void> {
    const cluster = this.cluster();
    const pod = this.repoPod(cluster);
    const info = await readInfo(this.deps.kc, cluster.metadata.namespace, pod, plan?.repo);
    const set = setsOf(info).find((b) => b.label === result.label);
    if (!set) throw new Error(`backup ${result.label} is not in pgbackrest info`);
    await this.patchStatus({
      backupLabel: set.label,
      type: set.type,
      databaseBytes: set.info.size,
      backupBytes: set.info.delta,
      repositoryBytes: set.info.repository.delta,
      walStart: set.archive?.start ?? undefined,
      walStop: set.archive?.stop ?? undefined,
      lsnStart: set.lsn?.start ?? undefined,
      lsnStop: set.lsn?.stop ?? undefined,
      startTime: new Date(set.timestamp.start * 1000).toISOString(),
      completionTime: new Date(set.timestamp.stop * 1000).toISOString(),
    });
  }

  private async patchStatus(fields: Partial<PgBackupStatus>): Promise<void> {
    const { namespace, name } = this.backup.metadata;
    const clean = JSON.parse(JSON.stringify(fields)) as Partial<PgBackupStatus>;
    const written = await this.deps.backups.updateStatus(namespace, name, (b) => ({ ...b.status, ...clean }));
    if (written) this.backup = written;
  }

  private async writeStatus(state: string): Promise<void> {
    const { context } = this.actor.getSnapshot();
    const phase = backupPhase(state);
    const now = new Date().toISOString();
    const plan = context.plan;
    const messages: Record<string, string> = {
      pending: context.error ? `waiting to retry (attempt ${context.attempts} of ${context.maxAttempts} failed: ${context.error})` : 'waiting for the cluster and the repository host',
      preparing: 'creating the stanza and choosing the backup type',
      starting: 'starting pgbackrest backup',
      running: plan?.type === 'pgdump' ? `pg_dump of ${this.backup.spec.dumpAll ? 'every database' : (this.backup.spec.database ?? 'the cluster database')} running in Job ${context.job?.id ?? ''}` : `${plan?.type ?? ''} backup to repo${plan?.repo ?? ''} from ${plan?.instance ?? ''} running`,
      recording: 'reading the backup from pgbackrest info',
      retrying: context.error ?? 'retrying',
      succeeded: plan?.type === 'pgdump' ? `dump written to ${this.backup.spec.pvcName ?? 'the pgdump volume'}` : `${plan?.type ?? ''} backup to repo${plan?.repo ?? ''} finished`,
      failed: context.error ?? 'failed',
    };
    const fields: Partial<PgBackupStatus> = {
      phase,
      message: messages[state] ?? state,
      attempts: context.attempts,
      ...(plan ? { type: plan.type, instance: plan.instance, ...(plan.repo ? { repo: `repo${plan.repo}` } : {}) } : {}),
      job: context.job ? `${context.job.pod}/${context.job.id}` : undefined,
      error: state === 'failed' || state === 'retrying' ? context.error : undefined,
      ...(phase === 'Running' && !this.backup.status?.startTime ? { startTime: now } : {}),
      ...(phase === 'Succeeded' ? { progress: 100 } : {}),
      ...(phase === 'Failed' ? { completionTime: now } : {}),
    };
    // Written as a whole so that a cleared field (job, error) is removed.
    const { namespace, name } = this.backup.metadata;
    const written = await this.deps.backups.updateStatus(namespace, name, (b) => {
      const next = { ...b.status, ...fields };
      return JSON.parse(JSON.stringify(next)) as PgBackupStatus;
    });
    if (written) this.backup = written;
    const cluster = this.deps.cluster(namespace, this.backup.spec.clusterName);
    if (cluster && state === 'succeeded') this.deps.events.record(cluster, 'Normal', 'BackupSucceeded', `pgbackup ${name}: ${this.backup.status?.backupLabel ?? ''} (${plan?.type})`);
    if (cluster && state === 'failed') this.deps.events.record(cluster, 'Warning', 'BackupFailed', `pgbackup ${name}: ${context.error}`);
  }
}
