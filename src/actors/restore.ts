/**
 * The actor of one restore pgtask: runs the restore machine (src/machines/restore.ts) and provides its
 * effects. The restore goes into a new pgreplica (fresh volumes, labelled restoring, in no Service) that
 * starts from `pgbackrest restore`; the cluster keeps serving from its own data until that instance has
 * reached its target, promoted and passed the checks; only then does the cluster machine switch to it, and
 * only after that are the old instances re-created from it (their volumes released).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { createActor, fromPromise, type Actor } from 'xstate';
import { backrestError, shortBackrestError } from '../backrest/info.ts';
import { STANZA, restoreCommandOption } from '../backrest/objects.ts';
import { planRestore, RestoreRefused } from '../backrest/restore-plan.ts';
import { LABEL, clusterLabels, initialReplicaName, instanceClaim } from '../cluster/names.ts';
import { clusterInstances } from '../cluster/plan.ts';
import { ownerRef } from '../cluster/builders.ts';
import { REPO_NUMBER, backrestOf, repoKinds } from '../crd/backrest.ts';
import { API_VERSION } from '../crd/resources.ts';
import type { RestoreStatus } from '../crd/restore.ts';
import type { PgClusterResource, PgReplicaResource, PgTaskResource } from '../crd/types.ts';
import { describeError, httpStatus, type CustomResources } from '../k8s/custom.ts';
import type { EventRecorder } from '../k8s/events.ts';
import { restoreMachine, restorePhaseOf, type RestoreContext, type RestoreDecision } from '../machines/restore.ts';
import { instanceState, queryAll, withInstance, type Endpoint } from '../pg/instance.ts';
import { ARCHIVER, RESET_RESTORE_SETTINGS } from '../pg/sql.ts';
import { superuserPassword } from './archive-health.ts';
import { readInfo, repoExec, repoHostPod } from './backup.ts';

/** The cluster actor's part in a restore. */
export interface RestoreClusterHost {
  switchToRestored(target: string, task: string): boolean;
  refresh(): void;
}

/** What a restore needs from the operator. */
export interface RestoreDeps {
  kc: KubeConfig;
  tasks: CustomResources<PgTaskResource>;
  replicas: CustomResources<PgReplicaResource>;
  clusters: CustomResources<PgClusterResource>;
  events: EventRecorder;
  cluster(namespace: string, name: string): PgClusterResource | undefined;
  clusterActor(namespace: string, name: string): RestoreClusterHost | undefined;
  pods(namespace: string, cluster: string): readonly V1Pod[];
  replicaList(namespace: string, cluster: string): readonly PgReplicaResource[];
  log(line: string): void;
}

/** Longest a restore may take from its instance's creation to its promotion (PGO_RESTORE_TIMEOUT_MS, 3 h). */
const RESTORE_TIMEOUT_MS = Number(process.env.PGO_RESTORE_TIMEOUT_MS ?? 3 * 3600_000);
/** Longest the re-created replicas are waited for before the restore is called done (they go on cloning). */
const REPLICAS_WAIT_MS = Number(process.env.PGO_RESTORE_REPLICAS_WAIT_MS ?? 15 * 60_000);
const POLL_MS = 2000;
const UNSCHEDULABLE_MS = 120_000;

const ready = (pod: V1Pod) => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const database = (pod: V1Pod) => pod.status?.containerStatuses?.find((c) => c.name === 'database');

/** Name of the instance a restore task restores into (stable: derived from the task's UID). */
export function restoreInstanceName(task: PgTaskResource): string {
  return initialReplicaName(task.spec.clusterName, `restore/${task.metadata.uid ?? task.metadata.name}`, 0);
}

/** pgBackRest's percent complete in a restore's log (`restore file ... (8MB, 45.12%)`). */
export function restorePercent(log: string): number | undefined {
  const all = [...log.matchAll(/\((?:[^()]*, )?(\d{1,3})(?:\.\d+)?%\)/g)];
  const last = all.at(-1)?.[1];
  return last === undefined ? undefined : Math.min(100, Number(last));
}

/** FATAL lines of clients turned away (the server starting or stopping, a bad login): not why it stopped. */
const CLIENT_REFUSED = /FATAL:\s+(the database system is (starting up|shutting down|not yet accepting connections|in recovery mode)|password authentication failed|no pg_hba\.conf entry|role "[^"]*" does not exist|database "[^"]*" does not exist)/;

/** The reason a restore instance stopped, from its log: pgBackRest's error, else PostgreSQL's FATAL line. */
export function restoreFailure(log: string): string | undefined {
  const backrest = backrestError(log);
  if (backrest) return shortBackrestError(backrest);
  const fatal = log.split('\n').filter((l) => /\b(FATAL|PANIC):/.test(l) && !CLIENT_REFUSED.test(l)).at(-1);
  return fatal?.replace(/^.*?\b(FATAL|PANIC):\s*/, 'PostgreSQL: ').trim();
}

/** The actor of one restore pgtask. */
export class RestoreActor {
  readonly key: string;
  private readonly actor: Actor<typeof restoreMachine>;
  private readonly abort = new AbortController();
  private readonly core: CoreV1Api;
  private readonly started: number;
  private written = '';
  private reports: Promise<void> = Promise.resolve();

  constructor(
    private task: PgTaskResource,
    private readonly deps: RestoreDeps,
  ) {
    this.key = `${task.metadata.namespace}/${task.metadata.name}`;
    this.core = deps.kc.makeApiClient(CoreV1Api);
    this.started = new Date(task.status?.startTime ?? Date.now()).getTime();
    const run = <I>(work: (input: I, signal: AbortSignal) => Promise<void>) =>
      fromPromise<void, I>(({ input, signal }) => work(input, AbortSignal.any([signal, this.abort.signal])));
    const machine = restoreMachine.provide({
      actors: {
        validate: fromPromise(() => this.validate()),
        prepare: run(() => this.prepare()),
        restore: run(({ decision }: { decision: RestoreDecision }, signal) => this.restore(decision, signal)),
        replay: run(({ decision }: { decision: RestoreDecision }, signal) => this.replay(decision, signal)),
        verify: run(({ decision }: { decision: RestoreDecision }) => this.verify(decision)),
        switchOver: run(({ decision }: { decision: RestoreDecision }, signal) => this.switchOver(decision, signal)),
        release: run(({ decision }: { decision: RestoreDecision }, signal) => this.release(decision, signal)),
        rollback: run(({ decision }: { decision: RestoreDecision }, signal) => this.rollback(decision, signal)),
        drill: run(() => this.drill()),
      },
    });
    const s = task.status?.restore;
    const decision = s?.instance && s.backupSet && s.args ? { instance: s.instance, set: s.backupSet, args: s.args, description: s.plan ?? '' } : undefined;
    this.actor = createActor(machine, { input: { phase: s?.phase, decision, drill: task.spec.restore?.drill } });
    // Status writes in the order of the transitions.
    this.actor.subscribe((snapshot) => {
      const [state, context] = [String(snapshot.value), snapshot.context];
      this.reports = this.reports.then(() => this.report(state, context)).catch((err: unknown) => deps.log(`${this.key}: ${describeError(err)}`));
    });
  }

  /** Starts (or resumes) the restore. */
  run(): void {
    this.actor.start();
  }

  /** Stops the machine and every effect (the task or its cluster was deleted, or the lease lost). */
  stop(): void {
    this.abort.abort(new Error(`the restore ${this.key} stopped`));
    this.actor.stop();
  }

  /** True once the machine ended. */
  get done(): boolean {
    return this.actor.getSnapshot().status === 'done';
  }

  private get cluster(): PgClusterResource {
    const c = this.deps.cluster(this.task.metadata.namespace, this.task.spec.clusterName);
    if (!c) throw new RestoreRefused(`pgcluster ${this.task.spec.clusterName} does not exist`);
    return c;
  }

  private async endpoint(ip: string): Promise<Endpoint> {
    return { host: ip, port: this.cluster.spec.port, password: await superuserPassword(this.core, this.cluster) };
  }

  private pod(instance: string): V1Pod | undefined {
    return this.deps.pods(this.task.metadata.namespace, this.task.spec.clusterName).find((p) => p.metadata?.labels?.[LABEL.instance] === instance && !p.metadata?.deletionTimestamp);
  }

  /** Reads the repository and plans; a plan that cannot work is refused before anything is touched. */
  private async validate(): Promise<RestoreDecision> {
    const cluster = this.cluster;
    const spec = this.task.spec.restore;
    if (!spec) throw new RestoreRefused('the pgtask has no spec.restore: say what to restore to (spec.restore.type, target)');
    const b = backrestOf(cluster.spec);
    if (!b.enabled) throw new RestoreRefused(`pgcluster ${cluster.metadata.name} has no pgBackRest repository (spec.backrest.enabled is false)`);
    const repoHost = repoHostPod(this.deps.pods(cluster.metadata.namespace, cluster.metadata.name));
    if (!repoHost) throw new Error('the repository host is not ready yet');
    const stanza = await readInfo(this.deps.kc, cluster.metadata.namespace, repoHost);
    // A plan the repository cannot satisfy throws RestoreRefused: the machine fails without retrying.
    const plan = planRestore(spec, { stanza, repos: repoKinds(b).map((k) => REPO_NUMBER[k]), now: new Date() });
    return { instance: restoreInstanceName(this.task), set: plan.set, args: [...plan.args, restoreCommandOption()], description: plan.description };
  }

  /** Gets the primary's current WAL segment archived (best effort: a lost primary is the usual reason to restore). */
  private async prepare(): Promise<void> {
    const cluster = this.cluster;
    const primary = cluster.status?.instances?.find((i) => i.name === cluster.status?.currentPrimary && i.ready && i.podIP);
    if (!primary?.podIP) return;
    try {
      // A frozen or cut-off primary is not waited for: asked for two seconds first.
      await withInstance(await this.endpoint(primary.podIP), instanceState, 2000);
      await withInstance(await this.endpoint(primary.podIP), async (client) => {
        const { rows } = await client.query<{ wal: string }>('select pg_walfile_name(pg_switch_wal()) as wal');
        for (let i = 0; i < 30; i++) {
          const archived = (await client.query<{ last_archived_wal: string | null }>(ARCHIVER)).rows[0]?.last_archived_wal ?? '';
          if (archived >= rows[0]!.wal) return;
          await sleep(1000);
        }
      }, 40_000);
    } catch (err) {
      this.deps.log(`${this.key}: getting the primary's latest WAL archived: ${describeError(err)}; restoring from what the archive has`);
    }
  }

  /** Creates the restore instance; resolves once pgBackRest has restored its volume and PostgreSQL starts. */
  private async restore(d: RestoreDecision, signal: AbortSignal): Promise<void> {
    const cluster = this.cluster;
    const { namespace, name } = cluster.metadata;
    const { created } = await this.deps.replicas.createIfAbsent({
      apiVersion: API_VERSION,
      kind: 'PGReplica',
      metadata: {
        name: d.instance,
        namespace,
        labels: { ...clusterLabels(name, cluster.spec.userLabels), [LABEL.instance]: d.instance, [LABEL.restoring]: this.task.metadata.name },
        ownerReferences: [ownerRef(cluster)],
      },
      spec: { clusterName: name, restore: { task: this.task.metadata.name, args: d.args }, nodeAffinity: this.task.spec.restore?.nodeAffinity },
    });
    if (created) this.deps.events.record(cluster, 'Normal', 'RestoreStarted', `restoring into new instance ${d.instance}: ${d.description}`);
    this.deps.clusterActor(namespace, name)?.refresh();
    await this.watchInstance(d, signal, async (pod) => {
      const log = await this.log(pod, false);
      const percent = restorePercent(log);
      if (percent !== undefined) await this.progress({ percent });
      // The entrypoint's line, or PostgreSQL's own once the tail has moved past it.
      return /starting PostgreSQL|\bLOG: /.test(log);
    });
    await this.progress({ percent: 100 });
  }

  /** Waits until the restored instance has replayed to its target and promoted itself. */
  private async replay(d: RestoreDecision, signal: AbortSignal): Promise<void> {
    await this.watchInstance(d, signal, async (pod) => {
      if (!pod.status?.podIP || !ready(pod)) return false;
      const state = await withInstance(await this.endpoint(pod.status.podIP), instanceState).catch(() => undefined);
      if (state?.replayedLsn) await this.progress({ replayedLsn: state.replayedLsn });
      return state !== undefined && !state.inRecovery;
    });
  }

  /**
   * Polls the restore instance's pod until `done` says so; fails on a restart of its database container
   * (the restore or the recovery stopped: the reason from its log), an unschedulable pod, or the timeout.
   */
  private async watchInstance(d: RestoreDecision, signal: AbortSignal, done: (pod: V1Pod) => Promise<boolean>): Promise<void> {
    let unschedulableSince: number | undefined;
    for (;;) {
      signal.throwIfAborted();
      if (Date.now() - this.started > RESTORE_TIMEOUT_MS) throw new Error(`the restore took longer than ${RESTORE_TIMEOUT_MS / 60_000} min (PGO_RESTORE_TIMEOUT_MS)`);
      const pod = this.pod(d.instance);
      if (pod) {
        const unscheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
        unschedulableSince = unscheduled ? (unschedulableSince ?? Date.now()) : undefined;
        if (unschedulableSince && Date.now() - unschedulableSince > UNSCHEDULABLE_MS) throw new Error(`${d.instance} cannot be scheduled: ${unscheduled?.message ?? 'no node fits'}`);
        const c = database(pod);
        if (c && (c.restartCount > 0 || c.state?.terminated)) {
          // Both logs: the kubelet may have restarted the container between the pod read and this one.
          const log = `${await this.log(pod, true)}\n${await this.log(pod, false)}`;
          throw new Error(restoreFailure(log) ?? `the restore instance's container exited (code ${c.lastState?.terminated?.exitCode ?? c.state?.terminated?.exitCode ?? '?'})`);
        }
        if (await done(pod)) return;
      }
      await sleep(POLL_MS, undefined, { signal });
    }
  }

  private async log(pod: V1Pod, previous: boolean): Promise<string> {
    return this.core
      .readNamespacedPodLog({ namespace: pod.metadata!.namespace!, name: pod.metadata!.name!, container: 'database', tailLines: 200, previous })
      .catch(() => '');
  }

  /** The restored instance is writable and its database answers; the restore's recovery settings are cleared. */
  private async verify(d: RestoreDecision): Promise<void> {
    const pod = this.pod(d.instance);
    if (!pod?.status?.podIP) throw new Error(`${d.instance} has no pod IP`);
    const db = this.cluster.spec.database;
    const timeline = await withInstance(await this.endpoint(pod.status.podIP), async (client) => {
      const state = await instanceState(client);
      if (state.inRecovery) throw new Error(`${d.instance} is still in recovery`);
      const found = await client.query('select 1 from pg_database where datname = $1 and datallowconn', [db]);
      if (!found.rowCount) throw new Error(`the restored instance has no database ${db}`);
      // A standby cloned from this primary must not inherit its recovery target (it would stop and promote).
      await queryAll(client, RESET_RESTORE_SETTINGS);
      return state.timeline;
    }, 10_000);
    await this.progress({ timeline, rtoSeconds: this.elapsed() });
  }

  /** A drill's check of the repository itself: every backup and WAL file readable and matching its checksum. */
  private async drill(): Promise<void> {
    const { namespace } = this.task.metadata;
    const repoHost = repoHostPod(this.deps.pods(namespace, this.task.spec.clusterName));
    if (!repoHost) throw new Error('the repository host is not ready: pgbackrest verify cannot run');
    await repoExec(this.deps.kc, namespace, repoHost, ['pgbackrest', `--stanza=${STANZA}`, 'verify'], 30 * 60_000);
  }

  /** Hands the restored instance to the cluster machine and waits until it is the primary in status. */
  private async switchOver(d: RestoreDecision, signal: AbortSignal): Promise<void> {
    const { namespace } = this.task.metadata;
    for (;;) {
      signal.throwIfAborted();
      const cluster = this.cluster;
      if (cluster.status?.currentPrimary === d.instance && !cluster.status.failover) return;
      const taken = this.deps.clusterActor(namespace, cluster.metadata.name)?.switchToRestored(d.instance, this.task.metadata.name);
      if (!taken) this.deps.log(`${this.key}: the cluster cannot switch to ${d.instance} yet (${cluster.status?.state}); waiting`);
      await sleep(POLL_MS, undefined, { signal });
    }
  }

  /**
   * Re-creates the old instances from the new primary (the restored data is proven by now): the restored
   * instance takes the place of one old pgreplica, which is removed, so the cluster keeps its size; the
   * others lose their volume and pod and the cluster actor makes them again, empty, so they clone it.
   */
  private async release(d: RestoreDecision, signal: AbortSignal): Promise<void> {
    const { namespace } = this.task.metadata;
    const cluster = this.cluster;
    const name = cluster.metadata.name;
    const switched = new Date([...(cluster.status?.failoverHistory ?? [])].reverse().find((h) => h.kind === 'restore' && h.to === d.instance)?.time ?? this.started).getTime();
    const replicas = this.deps.replicaList(namespace, name);
    // Chosen once and recorded, so a retried or resumed release never removes a second one.
    const replaced = this.task.status?.restore?.replacedInstance ?? replicas.map((r) => r.metadata.name).filter((n) => n !== d.instance).sort()[0];
    if (replaced) {
      await this.progress({ replacedInstance: replaced });
      await this.deps.replicas.delete(namespace, replaced);
      this.deps.log(`${this.key}: removed pgreplica ${replaced}: ${d.instance} takes its place`);
    }
    const old = clusterInstances(cluster, [...replicas]).map((i) => i.name).filter((n) => n !== d.instance && n !== replaced);
    for (const instance of old) {
      const claim = await this.core.readNamespacedPersistentVolumeClaim({ namespace, name: instanceClaim(cluster, instance) }).catch(() => undefined);
      if (claim && new Date(claim.metadata?.creationTimestamp ?? 0).getTime() < switched && !claim.metadata?.deletionTimestamp) {
        await this.core.deleteNamespacedPersistentVolumeClaim({ namespace, name: instanceClaim(cluster, instance) }).catch(ignoreGone);
        this.deps.log(`${this.key}: released the volume of ${instance}; it is re-created from the restored primary`);
      }
      for (const pod of this.deps.pods(namespace, name).filter((p) => p.metadata?.labels?.[LABEL.instance] === instance && !p.metadata?.deletionTimestamp)) {
        await this.core.deleteNamespacedPod({ namespace, name: pod.metadata!.name! }).catch(ignoreGone);
      }
    }
    await this.deps.replicas.mutate(namespace, d.instance, (r) => void delete r.metadata.labels?.[LABEL.restoring]);
    // The old instances come back empty and clone the new primary; wait for them (they go on if this ends).
    const until = Date.now() + REPLICAS_WAIT_MS;
    while (Date.now() < until) {
      signal.throwIfAborted();
      // A volume deleted above is made again by the cluster actor's next apply: ask for one while any is missing.
      const claims = await Promise.all(old.map((i) => this.core.readNamespacedPersistentVolumeClaim({ namespace, name: instanceClaim(cluster, i) }).then(() => true, () => false)));
      if (claims.includes(false)) this.deps.clusterActor(namespace, name)?.refresh();
      const c = this.cluster;
      if (c.status?.phase === 'Ready' && c.status.currentPrimary === d.instance) return;
      await sleep(3000, undefined, { signal });
    }
    this.deps.log(`${this.key}: the re-created instances are not all Ready after ${REPLICAS_WAIT_MS / 60_000} min; they go on cloning`);
  }

  /** Removes the restore instance (its volume goes with it); the cluster never stopped. */
  private async rollback(d: RestoreDecision, signal: AbortSignal): Promise<void> {
    const { namespace } = this.task.metadata;
    await this.deps.replicas.delete(namespace, d.instance).catch(ignoreGone);
    for (let i = 0; i < 60 && this.pod(d.instance); i++) await sleep(POLL_MS, undefined, { signal });
  }

  private async progress(p: Partial<RestoreStatus>): Promise<void> {
    const { namespace, name } = this.task.metadata;
    const current = this.task.status?.restore ?? {};
    if (Object.entries(p).every(([k, v]) => current[k as keyof RestoreStatus] === v)) return;
    this.task = (await this.deps.tasks.updateStatus(namespace, name, (t) => ({ ...t.status, restore: { ...t.status?.restore, ...p, elapsedSeconds: this.elapsed() } }))) ?? this.task;
  }

  private elapsed(): number {
    return Math.round((Date.now() - this.started) / 100) / 10;
  }

  /** Writes the task's and the cluster's status (and an Event) for the machine's state. */
  private async report(state: string, context: RestoreContext): Promise<void> {
    const phase = restorePhaseOf(state);
    const d = context.decision;
    const key = `${phase}/${context.error ?? ''}`;
    if (key === this.written) return;
    this.written = key;
    const { namespace, name } = this.task.metadata;
    const ended = phase === 'Succeeded' || phase === 'Failed';
    const error = phase === 'Failed' || phase === 'RollingBack' ? context.error : undefined;
    const drill = context.drill;
    const rto = this.task.status?.restore?.rtoSeconds;
    const message =
      phase === 'Succeeded' && drill ? `drill passed: ${d?.description}; restored and checked in ${rto} s, pgbackrest verify passed, ${d?.instance} removed`
      : phase === 'Failed' && drill ? `drill failed: ${context.error ?? 'unknown error'}; the cluster was not touched`
      : phase === 'Succeeded' ? `restored: ${d?.instance} is the primary (${d?.description})`
      : phase === 'Failed' ? `restore failed: ${context.error ?? 'unknown error'}${d ? '; the cluster runs on its original data' : ''}`
      : phase === 'RollingBack' ? `restore failed, removing ${d?.instance}: ${context.error}`
      : `${phase.toLowerCase()}${d ? `: ${d.description}` : ''}`;
    this.task = (await this.deps.tasks.updateStatus(namespace, name, (t) => ({
      ...t.status,
      phase: phase === 'Succeeded' ? 'Succeeded' : phase === 'Failed' ? 'Failed' : 'Running',
      message,
      startTime: t.status?.startTime ?? new Date(this.started).toISOString(),
      ...(ended ? { completionTime: new Date().toISOString() } : {}),
      restore: { ...t.status?.restore, phase, ...(d ? { instance: d.instance, backupSet: d.set, plan: d.description, args: d.args } : {}), error, elapsedSeconds: this.elapsed() },
    }))) ?? this.task;
    const cluster = this.deps.cluster(namespace, this.task.spec.clusterName);
    if (!cluster) return;
    const time = new Date().toISOString();
    const lastDrill = drill && ended ? { task: name, time, succeeded: phase === 'Succeeded', backupSet: d?.set, rtoSeconds: phase === 'Succeeded' ? rto : undefined, message } : undefined;
    await this.deps.clusters.updateStatus(namespace, cluster.metadata.name, (c) => ({ ...c.status, restore: { task: name, phase, message, time }, ...(lastDrill ? { lastDrill } : {}) }));
    if (phase === 'Failed') this.deps.events.record(cluster, 'Warning', drill ? 'RestoreDrillFailed' : 'RestoreFailed', `pgtask ${name}: ${message}`);
    if (phase === 'Succeeded') this.deps.events.record(cluster, 'Normal', drill ? 'RestoreDrillPassed' : 'Restored', `pgtask ${name}: ${message} (${this.elapsed()} s in all)`);
    if (phase === 'Switching') this.deps.events.record(cluster, 'Normal', 'RestoreVerified', `pgtask ${name}: ${d?.instance} reached its target and passed the checks; switching the cluster to it`);
  }
}

const ignoreGone = (err: unknown) => {
  if (httpStatus(err) !== 404) throw err;
};
