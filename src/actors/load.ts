/**
 * The actor of a load (`pgo load`, or a pgtask of type load written with kubectl): the task's policies are
 * applied first (one apply-policy task each, waited for; a policy applied already is not run again), then a
 * Job next to the data mounts the file's volume read-only and loads it with psql against the primary Service
 * in one transaction (src/pg/load.ts). The rows loaded, or PostgreSQL's error and the line of the file it
 * refused, go to the task's status.
 */
import { CoreV1Api, type KubeConfig, type V1Job } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { createActor, fromPromise, type Actor } from 'xstate';
import { ownerRef } from '../cluster/builders.ts';
import { clusterNames } from '../cluster/names.ts';
import { LOAD_MESSAGES, type LoadSpec } from '../crd/load.ts';
import { POLICY_MESSAGES } from '../crd/policy.ts';
import type { PgClusterResource, PgTaskResource } from '../crd/types.ts';
import { describeError, httpStatus, type CustomResources } from '../k8s/custom.ts';
import type { EventRecorder } from '../k8s/events.ts';
import { loadMachine } from '../machines/load.ts';
import { LOAD_JOB_SCRIPT, LOAD_MOUNT, badJsonLineScript, loadOutcome, loadScript } from '../pg/load.ts';
import { createJobOnce, dumpVolumeJob, jobResult } from './pgdump.ts';
import { policyTask } from './policy.ts';
import { MachineTaskActor, endedStatus } from './task-actors.ts';

/** Error of a load that cannot run as asked (not retried). */
export class LoadRefused extends Error {}

/** Name of the Job of a load task. */
export const loadJobName = (task: PgTaskResource) => `${task.metadata.name}-load`.slice(0, 63);
/** Name of the apply-policy task a load runs first. */
export const loadPolicyTaskName = (task: PgTaskResource, policy: string) => `${task.metadata.name}-${policy}`.slice(0, 253);

/** How often the load's Job is read while it runs (pgo waits for it). */
const LOAD_POLL_MS = 500;

/** Longest a policy of a load is waited for. */
const POLICY_WAIT_MS = 10 * 60_000;

/** The Job that loads the file. */
export function loadJob(cluster: PgClusterResource, task: PgTaskResource, spec: LoadSpec): V1Job {
  const names = clusterNames(cluster.metadata.name);
  const database = spec.database ?? cluster.spec.database;
  return dumpVolumeJob(cluster, {
    name: loadJobName(task),
    owner: ownerRef(task),
    container: 'load',
    command: ['bash', '-c', LOAD_JOB_SCRIPT, 'load', database, spec.fileType, `${LOAD_MOUNT}/${spec.file}`, loadScript(spec), badJsonLineScript(spec)],
    env: [{ name: 'PGO_HOST', value: names.primaryService }, { name: 'PGO_PORT', value: String(cluster.spec.port) }],
    volume: spec.pvcName,
    mountPath: LOAD_MOUNT,
    readOnly: true,
  });
}

/** What a load needs. */
export interface LoadDeps {
  kc: KubeConfig;
  tasks: CustomResources<PgTaskResource>;
  events: EventRecorder;
  cluster(namespace: string, name: string): PgClusterResource | undefined;
  log(line: string): void;
}

/** The actor of one load task. */
export class LoadActor extends MachineTaskActor<typeof loadMachine> {
  protected readonly actor: Actor<typeof loadMachine>;
  private readonly key: string;

  constructor(
    private readonly task: PgTaskResource,
    private readonly deps: LoadDeps,
  ) {
    super();
    this.key = `${task.metadata.namespace}/${task.metadata.name}`;
    const machine = loadMachine.provide({
      actors: {
        start: fromPromise(({ signal }) => this.start(AbortSignal.any([signal, this.abort.signal]))),
        watch: fromPromise(({ input, signal }: { input: { job: string }; signal: AbortSignal }) => this.watch(input.job, AbortSignal.any([signal, this.abort.signal]))),
      },
    });
    this.actor = createActor(machine);
    this.actor.subscribe((s) => void this.report(String(s.value), s.context).catch((err: unknown) => deps.log(`${this.key}: ${describeError(err)}`)));
  }

  private get spec(): LoadSpec {
    if (!this.task.spec.load) throw new LoadRefused('a load task needs spec.load (the file, its volume and the table)');
    return this.task.spec.load;
  }

  private cluster(): PgClusterResource {
    const c = this.deps.cluster(this.task.metadata.namespace, this.task.spec.clusterName);
    if (!c) throw new LoadRefused(`pgcluster ${this.task.spec.clusterName} does not exist`);
    return c;
  }

  private async start(signal: AbortSignal): Promise<string> {
    const spec = this.spec;
    const { namespace } = this.task.metadata;
    await this.deps.kc.makeApiClient(CoreV1Api).readNamespacedPersistentVolumeClaim({ namespace, name: spec.pvcName }).catch((err: unknown) => {
      throw httpStatus(err) === 404 ? new LoadRefused(LOAD_MESSAGES.noPvc(spec.pvcName)) : err;
    });
    for (const policy of spec.policies ?? []) await this.applyPolicy(policy, signal);
    const job = loadJob(this.cluster(), this.task, spec);
    return createJobOnce(this.deps.kc, namespace, job);
  }

  /** Runs one policy on the cluster (its own apply-policy task) and waits for it; a policy applied already counts as done. */
  private async applyPolicy(policy: string, signal: AbortSignal): Promise<void> {
    const { namespace } = this.task.metadata;
    const name = loadPolicyTaskName(this.task, policy);
    await this.deps.tasks.createIfAbsent(policyTask(namespace, this.task.spec.clusterName, policy, name));
    const until = Date.now() + POLICY_WAIT_MS;
    for (;;) {
      signal.throwIfAborted();
      const t = await this.deps.tasks.get(namespace, name);
      if (t.status?.phase === 'Succeeded') return;
      if (t.status?.phase === 'Failed') {
        if (t.status.message?.includes(POLICY_MESSAGES.applied(policy, this.task.spec.clusterName))) return;
        throw new LoadRefused(`policy ${policy} failed, so nothing was loaded: ${t.status.message}`);
      }
      if (Date.now() > until) throw new Error(`policy ${policy} did not finish in ${POLICY_WAIT_MS / 60_000} min (pgtask ${name}); nothing was loaded`);
      await sleep(1000, undefined, { signal });
    }
  }

  private async watch(job: string, signal: AbortSignal): Promise<string> {
    const message = await jobResult(this.deps.kc, this.task.metadata.namespace, job, 'the load', signal, LOAD_POLL_MS).catch((err: unknown) => describeError(err));
    const outcome = loadOutcome(message);
    if ('error' in outcome) {
      const spec = this.spec;
      throw new LoadFailed(outcome.error.startsWith('no such file ') ? LOAD_MESSAGES.noFile(spec.file, spec.pvcName) : outcome.error, outcome.line);
    }
    return String(outcome.rows);
  }

  private async report(state: string, context: { result?: string; error?: string }): Promise<void> {
    const spec = this.task.spec.load;
    const where = spec ? `${spec.file} (${spec.pvcName}) into ${spec.table}` : 'a file';
    const { namespace, name } = this.task.metadata;
    const line = /^line (\d+): /.exec(context.error ?? '')?.[1];
    const rows = context.result === undefined ? undefined : Number(context.result);
    const ended = state === 'succeeded' || state === 'failed';
    await this.deps.tasks.updateStatus(namespace, name, (t) => {
      if (!ended) return { ...t.status, phase: 'Running', message: `loading ${where}`, startTime: t.status?.startTime ?? new Date().toISOString() };
      const message = state === 'succeeded' ? `loaded ${rows} rows from ${where} (one transaction)` : `load of ${where} failed: ${context.error}; nothing was loaded`;
      return { ...endedStatus(t.status, state === 'succeeded', message), load: { ...(rows !== undefined ? { rows } : {}), ...(line ? { line: Number(line) } : {}) } };
    });
    const cluster = this.deps.cluster(namespace, this.task.spec.clusterName);
    if (cluster && ended) {
      this.deps.events.record(cluster, state === 'failed' ? 'Warning' : 'Normal', state === 'failed' ? 'LoadFailed' : 'Loaded', `pgtask ${name}: ${state === 'succeeded' ? `loaded ${rows} rows from ${where}` : context.error}`);
    }
  }
}

/** PostgreSQL refused the file: its error, prefixed with the line of the file when it names one. */
export class LoadFailed extends Error {
  constructor(error: string, line?: number) {
    super(line ? `line ${line}: ${error}` : error);
  }
}
