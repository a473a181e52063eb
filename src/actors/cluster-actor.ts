/**
 * One actor per pgcluster: runs the cluster machine, provides its effects (apply objects, fence, promote,
 * relabel), observes the instances (pod readiness, role labels, PostgreSQL state) and writes status and
 * Events. Every effect is idempotent, so a restarted operator simply runs them again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { createActor, fromPromise, type Actor } from 'xstate';
import type pg from 'pg';
import type { FailoverIntent } from '../cluster/failover.ts';
import { LABEL, clusterNames } from '../cluster/names.ts';
import type { Observation } from '../cluster/observation.ts';
import { restoringInstances } from '../cluster/plan.ts';
import { announcement, nextStatus } from '../cluster/status.ts';
import type { PgClusterResource, PgReplicaResource, PgTaskResource } from '../crd/types.ts';
import type { CustomResources } from '../k8s/custom.ts';
import { describeError } from '../k8s/custom.ts';
import type { EventRecorder } from '../k8s/events.ts';
import { execInPod } from '../k8s/exec.ts';
import { clusterMachine, stateName, type FailoverSettings } from '../machines/cluster.ts';
import { Connections, acceptsConnections } from '../pg/connections.ts';
import type { Endpoint } from '../pg/instance.ts';
import { applyCluster, applyInstanceDeployment, writeReplicaStatuses } from './apply-cluster.ts';
import { finishDataSource, prepareDataSource, restoringFromSource } from './data-source.ts';
import { fence, promoteTarget, relabel, untilDone, type FailoverHost } from './failover.ts';
import { appendHistory, createReplacementReplica } from './failover-records.ts';
import { FencedInstances } from './lost-nodes.ts';
import { demoteExtraPrimaries, promoteIfNeeded, resetStaleUpstreams, restartIfPending, restartStuckReplicas, type InstanceHost } from './instances.ts';
import { RunningParameters } from './parameters.ts';
import { preflight } from './preflight.ts';
import { FailoverRequests } from './requests.ts';
import { RoleLabeller } from './roles.ts';
import { StatusWriter } from './status-writer.ts';
import { isReady, observeCluster, reportProblems } from './observe.ts';
import { PrimaryProbe } from './primary-probe.ts';

/** What a cluster actor needs from the operator. */
export interface ClusterActorDeps {
  kc: KubeConfig;
  clusters: CustomResources<PgClusterResource>;
  replicas: CustomResources<PgReplicaResource>;
  tasks: CustomResources<PgTaskResource>;
  events: EventRecorder;
  /** Pods of the cluster from the shared pod informer (terminating ones included). */
  pods(namespace: string, cluster: string): readonly V1Pod[];
  /** pgreplicas of the cluster from the shared informer. */
  replicaList(namespace: string, cluster: string): readonly PgReplicaResource[];
  log(line: string): void;
  /** Called on every state change, for the API and the event stream. */
  onTransition?(key: string, state: string): void;
}

/** Period of the observation timer (PGO_OBSERVE_MS, default 5 s); 1 s while the primary is in doubt. */
const OBSERVE_MS = Number(process.env.PGO_OBSERVE_MS ?? 5000);
/**
 * A cluster whose primary never was healthy (bootstrapping, or pods that never answer SQL) is observed ever less
 * often while no instance answers: the period doubles up to this. Pod changes still start an observation at once,
 * so a bootstrapping cluster is seen as soon as its pods turn Ready.
 */
const QUIET_OBSERVE_MAX_MS = 60_000;
const URGENT_OBSERVE_MS = 1000;
/** A pause before each failover step, so tests can kill the operator in a chosen step (0 outside tests). */
const STEP_DELAY_MS = Number(process.env.PGO_FAILOVER_STEP_DELAY_MS ?? 0);

/** Failover settings of a cluster: its spec, else the operator's defaults (PGO_AUTOFAIL, PGO_FAILOVER_DELAY_SECONDS). */
export function failoverSettings(cluster: PgClusterResource): FailoverSettings {
  const { spec } = cluster;
  const autofailDefault = (process.env.PGO_AUTOFAIL ?? 'true') !== 'false';
  const delaySeconds = spec.failoverDelaySeconds ?? Number(process.env.PGO_FAILOVER_DELAY_SECONDS ?? 3);
  return {
    autofail: spec.disableAutofail === undefined ? autofailDefault : !spec.disableAutofail,
    failoverDelayMs: delaySeconds * 1000,
    sync: spec.syncReplication,
    preferredNode: spec.nodeAffinity?.nodeName,
  };
}

/** An observation that started before the primary changed. */
class StaleObservation extends Error {}

/** The actor of one pgcluster. */
export class ClusterActor {
  readonly key: string;
  private cluster: PgClusterResource;
  private readonly actor: Actor<typeof clusterMachine>;
  private readonly core: CoreV1Api;
  private superuserPassword?: string;
  private observing = false;
  /** Aborted when the actor stops: no effect of a deleted cluster goes on. */
  private readonly abort = new AbortController();
  /** The apply effect in flight, if any (settled: errors are the machine's). */
  private applying?: Promise<void>;
  /** A kick arrived during an observation: observe again right after it. */
  private again = false;
  private timer?: NodeJS.Timeout;
  private urgent?: NodeJS.Timeout;
  /** Observations in a row in which no instance of a never-established cluster answered SQL. */
  private quiet = 0;
  private lastState = '';
  private readonly parameters = new RunningParameters((ip) => this.endpoint(ip));
  private readonly reported = new Map<string, string>();
  private readonly restarted = new Map<string, number>();
  private readonly stuck = new Map<string, number>();
  private readonly requests: FailoverRequests;
  private readonly roles: RoleLabeller;
  private readonly status: StatusWriter;
  /** One long-lived connection per instance, for the observation, the probe and the failover steps. */
  private readonly connections = new Connections();
  private readonly probe: PrimaryProbe;
  private readonly fencedInstances: FencedInstances;

  constructor(
    cluster: PgClusterResource,
    private readonly deps: ClusterActorDeps,
  ) {
    this.cluster = cluster;
    this.key = `${cluster.metadata.namespace}/${cluster.metadata.name}`;
    this.core = deps.kc.makeApiClient(CoreV1Api);
    const { namespace, name } = cluster.metadata;
    const log = (line: string) => deps.log(`${this.key}: ${line}`);
    const roleContext = () => ({ ...this.actor.getSnapshot().context, restoring: restoringInstances(deps.replicaList(namespace, name)), primaryRestoring: restoringFromSource(this.cluster), userLabels: this.cluster.spec.userLabels });
    this.roles = new RoleLabeller(deps.kc, namespace, () => deps.pods(namespace, name), roleContext, log);
    this.status = new StatusWriter(deps.clusters, () => this.cluster, (current) => {
      const snapshot = this.actor.getSnapshot();
      return nextStatus(current, snapshot.value, snapshot.context);
    });
    const event = (type: 'Normal' | 'Warning', reason: string, message: string) => deps.events.record(this.cluster, type, reason, message);
    this.fencedInstances = new FencedInstances({ kc: deps.kc, namespace, pods: () => deps.pods(namespace, name), event, log });
    this.requests = new FailoverRequests({
      cluster: () => this.cluster,
      context: () => this.actor.getSnapshot().context,
      state: () => this.state,
      can: (event) => this.actor.getSnapshot().can(event),
      send: (event) => this.actor.send(event),
      tasks: deps.tasks,
      events: deps.events,
    });
    this.probe = new PrimaryProbe({
      // Not while the first instance restores from a data source: it has the source's passwords until then.
      // Nor before the primary was ever healthy: no failover happens then, and the observation sees it come up.
      primary: () => {
        const { primary, established } = this.actor.getSnapshot().context;
        return established && this.state.startsWith('monitoring') && !restoringFromSource(this.cluster) ? primary : undefined;
      },
      primaryPod: (primary) => {
        const pod = deps.pods(namespace, name).find((p) => p.metadata?.labels?.[LABEL.instance] === primary && !p.metadata?.deletionTimestamp);
        return pod && { ip: pod.status?.podIP, ready: isReady(pod) };
      },
      query: (ip, work, timeoutMs) => this.query(ip, work, timeoutMs),
      accepts: (ip, timeoutMs) => acceptsConnections(ip, this.cluster.spec.port, timeoutMs),
      observation: () => this.actor.getSnapshot().context.observation,
      send: (observation) => this.actor.send({ type: 'OBSERVED', observation }),
      observe: () => void this.observe(),
      log,
    });
    const host = this.failoverHost();
    const step = (name: string, work: (intent: FailoverIntent, signal: AbortSignal) => Promise<void>) =>
      fromPromise<void, { intent: FailoverIntent }>(async ({ input, signal }) => {
        if (STEP_DELAY_MS) await sleep(STEP_DELAY_MS, undefined, { signal });
        await untilDone(name, () => work(input.intent, signal), signal, log);
      });
    const machine = clusterMachine.provide({
      actors: {
        applyObjects: fromPromise(async ({ input, signal }: { input: { generation: number; fenced: string[] }; signal: AbortSignal }) => {
          const applying = this.applyObjects(input.generation, input.fenced, AbortSignal.any([signal, this.abort.signal]));
          this.applying = applying.catch(() => undefined);
          await applying;
          return input.generation;
        }),
        recordIntent: step('recording the failover intent', () => this.status.write()),
        fence: step('fencing', (intent, signal) => fence(host, intent, signal)),
        // Not retried: a target that cannot be promoted is chosen again.
        promote: fromPromise<void, { intent: FailoverIntent }>(async ({ input }) => {
          if (STEP_DELAY_MS) await sleep(STEP_DELAY_MS);
          await promoteTarget(host, input.intent);
        }),
        relabel: step('relabeling', (intent) => relabel(host, intent)),
      },
    });
    const status = cluster.status;
    this.actor = createActor(machine, {
      input: {
        generation: cluster.metadata.generation ?? 1,
        appliedGeneration: status?.observedGeneration ?? 0,
        primary: status?.currentPrimary ?? cluster.metadata.name,
        established: ['Ready', 'Degraded', 'FailingOver', 'Switchover'].includes(status?.phase ?? ''),
        fenced: status?.fencedInstances ?? [],
        failover: status?.failover,
        settings: failoverSettings(cluster),
      },
    });
    this.actor.subscribe((snapshot) => {
      const state = stateName(snapshot.value);
      if (state !== this.lastState) {
        this.lastState = state;
        deps.onTransition?.(this.key, state);
        this.announce(state);
        if (state.startsWith('failover') || state.startsWith('monitoring.primaryUnready')) this.observeSoon();
        void this.roles.labelAll();
      }
      this.status.write().catch((err: unknown) => deps.log(`${this.key}: ${describeError(err)}`));
    });
  }

  /** Starts the machine and the observation loop. */
  start(): void {
    this.actor.start();
    // Pod changes kick an observation at once (see Supervisor); the timer refreshes PostgreSQL's own view
    // (LSNs, lag, pending restarts) and notices a primary that stopped answering while its pod looks Ready.
    this.probe.start();
    void this.observe();
  }

  /**
   * Stops the machine, the loop and every effect in flight (the cluster was deleted, or the lease lost).
   * Resolves once the apply in flight has stopped, so nothing it creates comes after (finalizing waits).
   */
  stop(): Promise<void> {
    this.abort.abort(new Error(`the actor of ${this.key} stopped`));
    clearTimeout(this.timer);
    clearTimeout(this.urgent);
    this.probe.stop();
    this.actor.stop();
    this.connections.closeAll();
    return this.applying ?? Promise.resolve();
  }

  /** The machine's state, for the API. */
  get state(): string {
    return stateName(this.actor.getSnapshot().value);
  }

  /** A changed pgcluster from the informer. */
  update(cluster: PgClusterResource): void {
    this.cluster = cluster;
    this.actor.send({ type: 'SPEC', generation: cluster.metadata.generation ?? 1, settings: failoverSettings(cluster) });
  }

  /** Something about the cluster's pods changed: label new pods at once, then observe. */
  kick(): void {
    void this.roles.labelAll();
    void this.observe();
  }

  /** The cluster's pgreplicas changed: apply its objects again. */
  refresh(): void {
    this.actor.send({ type: 'REFRESH' });
    void this.observe();
  }

  /**
   * A restore's switch (see src/actors/restore.ts): makes the restored instance `target` the primary.
   * True once the machine has taken it (or already did); false while it cannot (a failover in progress).
   */
  switchToRestored(target: string, task: string): boolean {
    const snapshot = this.actor.getSnapshot();
    if (snapshot.context.primary === target || snapshot.context.failover?.to === target) return true;
    const event = { type: 'RESTORE', target, task, now: new Date().toISOString() } as const;
    if (!snapshot.can(event)) return false;
    this.actor.send(event);
    return true;
  }

  /** A failover or switchover pgtask (see FailoverRequests). */
  request(task: PgTaskResource): Promise<void> {
    return this.requests.request(task);
  }

  private announce(state: string): void {
    const event = announcement(state, this.actor.getSnapshot().context);
    if (event) this.deps.events.record(this.cluster, event.type, event.reason, event.message);
  }

  /**
   * Effect of the `applying` state. The image and resources are checked first (preflight), then parameters
   * go to the running instances, once per generation: either refuses (SpecRejected) before any object changes.
   */
  private async applyObjects(generation: number, fenced: readonly string[], signal: AbortSignal): Promise<void> {
    const { context } = this.actor.getSnapshot();
    // One copy of the pgcluster for the whole pass; a newer one from the informer meanwhile is applied next.
    const original = this.cluster;
    let cluster = original;
    await preflight(this.deps.kc, cluster, generation, signal);
    cluster = await prepareDataSource(this.deps, cluster, generation);
    await this.parameters.beforeApply(cluster, context.observation, context.primary, generation, signal);
    const { namespace, name } = cluster.metadata;
    const primaryPod = this.deps.pods(namespace, name).find((p) => p.metadata?.labels?.[LABEL.instance] === context.primary && !p.metadata?.deletionTimestamp)?.metadata?.name;
    const { cluster: written, rolled } = await applyCluster(this.deps, cluster, fenced, signal);
    if (rolled.includes(context.primary)) this.actor.send({ type: 'PRIMARY_ROLLING', pod: primaryPod, at: Date.now() });
    // Keeping the copy with the finalizer, unless the informer brought a newer spec during the pass: the
    // older copy would make the next pass apply the spec just replaced.
    if (this.cluster === original) this.cluster = written;
  }

  private async endpoint(host: string): Promise<Endpoint> {
    if (!this.superuserPassword) {
      const secret = await this.core.readNamespacedSecret({ namespace: this.cluster.metadata.namespace, name: clusterNames(this.cluster.metadata.name).superuserSecret });
      this.superuserPassword = Buffer.from(secret.data?.password ?? '', 'base64').toString();
    }
    return { host, port: this.cluster.spec.port, password: this.superuserPassword };
  }

  private async query<T>(ip: string, work: (client: pg.Client) => Promise<T>, timeoutMs: number): Promise<T> {
    return this.connections.run(await this.endpoint(ip), work, timeoutMs);
  }

  private observeSoon(): void {
    clearTimeout(this.urgent);
    this.urgent = setTimeout(() => void this.observe(), URGENT_OBSERVE_MS);
  }

  /** The next timed observation: every OBSERVE_MS, backing off while a never-established cluster stays silent. */
  private scheduleObservation(): void {
    clearTimeout(this.timer);
    if (this.abort.signal.aborted) return;
    const delay = this.actor.getSnapshot().context.established ? OBSERVE_MS : Math.min(OBSERVE_MS * 2 ** this.quiet, QUIET_OBSERVE_MAX_MS);
    this.timer = setTimeout(() => void this.observe(), delay);
  }

  /** Observes the instances, feeds the machine, then keeps the instances in line. One observation at a time. */
  private async observe(): Promise<void> {
    if (this.cluster.metadata.deletionTimestamp || this.abort.signal.aborted) return;
    if (this.observing) {
      this.again = true;
      return;
    }
    this.observing = true;
    this.again = false;
    let step = 'observing the instances';
    // A hung call must not stop observation for good: give up on this pass after 30 s.
    const watchdog = setTimeout(() => {
      this.deps.log(`${this.key}: an observation took over 30 s (at: ${step}); starting a new one`);
      this.observing = false;
      this.scheduleObservation();
    }, 30_000);
    try {
      const observation = await this.observation();
      this.quiet = observation.instances.some((i) => i.pg) ? 0 : this.quiet + 1;
      step = 'upkeep';
      // Taken while a failover changed the primary: it judges the wrong instance; look again.
      if (observation.primary !== this.actor.getSnapshot().context.primary) throw new StaleObservation();
      reportProblems(observation, this.reported, (message) => this.deps.events.record(this.cluster, 'Warning', 'Unschedulable', message));
      this.actor.send({ type: 'OBSERVED', observation });
      await this.requests.retryWaiting();
      const { fenced, failover } = this.actor.getSnapshot().context;
      this.fencedInstances.release(fenced, failover?.from, (instance) => this.actor.send({ type: 'UNFENCED', instance }), this.abort.signal);
      this.cluster = (await finishDataSource(this.deps, this.cluster, observation)) ?? this.cluster;
      await this.roles.labelAll();
      step = 'demote, promote, restart';
      const host = this.instanceHost();
      await demoteExtraPrimaries(host, observation);
      await promoteIfNeeded(host, observation);
      await resetStaleUpstreams(host, observation);
      await restartStuckReplicas(host, observation, this.stuck);
      if (this.parameters.has(this.actor.getSnapshot().context.appliedGeneration)) await restartIfPending(host, observation, this.restarted);
      step = 'status';
      await this.status.write();
      const { namespace, name } = this.cluster.metadata;
      await writeReplicaStatuses(this.deps.replicas, this.deps.replicaList(namespace, name), observation, this.actor.getSnapshot().context.primary);
    } catch (err) {
      if (err instanceof StaleObservation) this.again = true;
      else this.deps.log(`${this.key}: observing: ${describeError(err)}`);
    } finally {
      clearTimeout(watchdog);
      this.observing = false;
      this.scheduleObservation();
    }
    const state = this.state;
    if (state.startsWith('failover') || state.startsWith('monitoring.primaryUnready')) this.observeSoon();
    if (this.again) void this.observe();
  }

  private async observation(): Promise<Observation> {
    const { namespace, name } = this.cluster.metadata;
    const pods = this.deps.pods(namespace, name);
    const primary = this.actor.getSnapshot().context.primary;
    const started = Date.now();
    const observation = await observeCluster(this.cluster, primary, pods, this.deps.replicaList(namespace, name), (ip, work, timeoutMs) => this.query(ip, work, timeoutMs));
    this.connections.retain(pods.flatMap((p) => (p.status?.podIP ? [p.status.podIP] : [])));
    return this.probe.observed(observation, started);
  }

  private async stopInstance(pod: string): Promise<void> {
    // The exec ends with the container (exit 137 or a closed connection): both mean PostgreSQL stopped.
    await execInPod(this.deps.kc, this.cluster.metadata.namespace, pod, 'database', ['pgo-stop']);
  }

  private instanceHost(): InstanceHost {
    return {
      cluster: () => this.cluster,
      primary: () => this.actor.getSnapshot().context.primary,
      state: () => this.state,
      endpoint: (ip) => this.endpoint(ip),
      query: (ip, work, timeoutMs) => this.query(ip, work, timeoutMs),
      stopInstance: (pod) => this.stopInstance(pod),
      primaryRestarting: () => this.actor.send({ type: 'PRIMARY_ROLLING', at: Date.now(), inPlace: true }),
      event: (type, reason, message) => this.deps.events.record(this.cluster, type, reason, message),
      log: (line) => this.deps.log(`${this.key}: ${line}`),
    };
  }

  private failoverHost(): FailoverHost {
    const { namespace, name } = { namespace: this.cluster.metadata.namespace, name: this.cluster.metadata.name };
    return {
      cluster: () => this.cluster,
      observation: () => this.actor.getSnapshot().context.observation,
      livePods: (instance) =>
        this.deps.pods(namespace, name)
          .filter((p) => !p.metadata?.deletionTimestamp && p.metadata?.labels?.[LABEL.instance] && (instance === undefined || p.metadata.labels[LABEL.instance] === instance))
          .map((p) => ({ instance: p.metadata!.labels![LABEL.instance]!, name: p.metadata!.name!, ip: p.status?.podIP, role: p.metadata!.labels![LABEL.role] })),
      query: (ip, work, timeoutMs) => this.query(ip, work, timeoutMs),
      answers: (ip) => this.connections.answers(ip, this.cluster.spec.port),
      port: () => this.cluster.spec.port,
      setRole: (instance, role) => this.roles.set(instance, role),
      applyDeployment: (instance) => applyInstanceDeployment(this.deps.kc, this.cluster, this.deps.replicaList(namespace, name), this.actor.getSnapshot().context.fenced, instance),
      stopInstance: (pod) => this.stopInstance(pod),
      flushStatus: () => this.status.write(),
      appendHistory: (intent) => appendHistory(this.deps.clusters, this.cluster, intent),
      finishTask: (task, ok, message) => this.requests.finish(task, ok, message),
      createReplacementReplica: (seed) => createReplacementReplica(this.deps.replicas, this.deps.events, this.cluster, seed),
      event: (type, reason, message) => this.deps.events.record(this.cluster, type, reason, message),
      log: (line) => this.deps.log(`${this.key}: ${line}`),
    };
  }
}
