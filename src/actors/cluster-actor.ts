/**
 * One actor per pgcluster: runs the cluster machine, provides its effects (apply objects, create
 * replicas, set parameters), observes the instances (pod readiness, role labels, PostgreSQL state) and
 * writes status and Events. Every effect is idempotent, so a restarted operator simply runs them again.
 */
import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { CoreV1Api, PatchStrategy, StorageV1Api, setHeaderOptions, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { createActor, fromPromise, type Actor } from 'xstate';
import { clusterSecrets } from '../cluster/builders.ts';
import { CLEANUP_FINALIZER, LABEL, clusterNames } from '../cluster/names.ts';
import type { Observation } from '../cluster/observation.ts';
import { desiredObjects, initialReplicas } from '../cluster/plan.ts';
import { nextStatus } from '../cluster/status.ts';
import type { PgClusterResource, PgReplicaResource } from '../crd/types.ts';
import { applyObject } from '../k8s/apply.ts';
import type { CustomResources} from '../k8s/custom.ts';
import { describeError, httpStatus } from '../k8s/custom.ts';
import type { EventRecorder } from '../k8s/events.ts';
import { execInPod } from '../k8s/exec.ts';
import { clusterMachine, stateName } from '../machines/cluster.ts';
import { applyParameters, withInstance } from '../pg/instance.ts';
import { observeCluster } from './observe.ts';

/** What a cluster actor needs from the operator. */
export interface ClusterActorDeps {
  kc: KubeConfig;
  clusters: CustomResources<PgClusterResource>;
  replicas: CustomResources<PgReplicaResource>;
  events: EventRecorder;
  /** Pods of the cluster from the shared pod informer. */
  pods(namespace: string, cluster: string): readonly V1Pod[];
  /** pgreplicas of the cluster from the shared informer. */
  replicaList(namespace: string, cluster: string): readonly PgReplicaResource[];
  log(line: string): void;
  /** Called on every state change, for the API and the event stream. */
  onTransition?(key: string, state: string): void;
}

/** Period of the observation timer (PGO_OBSERVE_MS, default 5 s). */
const OBSERVE_MS = Number(process.env.PGO_OBSERVE_MS ?? 5000);


/** The actor of one pgcluster. */
export class ClusterActor {
  readonly key: string;
  private cluster: PgClusterResource;
  private readonly actor: Actor<typeof clusterMachine>;
  private readonly core: CoreV1Api;
  private readonly storage: StorageV1Api;
  private superuserPassword?: string;
  private observing = false;
  /** A kick arrived during an observation: observe again right after it. */
  private again = false;
  private timer?: NodeJS.Timeout;
  private lastState = '';
  private parametersApplied = -1;
  private readonly reported = new Map<string, string>();
  private readonly restarted = new Map<string, number>();

  constructor(
    cluster: PgClusterResource,
    private readonly deps: ClusterActorDeps,
  ) {
    this.cluster = cluster;
    this.key = `${cluster.metadata.namespace}/${cluster.metadata.name}`;
    this.core = deps.kc.makeApiClient(CoreV1Api);
    this.storage = deps.kc.makeApiClient(StorageV1Api);
    const machine = clusterMachine.provide({
      actors: {
        applyObjects: fromPromise(async ({ input }: { input: { generation: number } }) => {
          await this.applyObjects(input.generation);
          return input.generation;
        }),
      },
    });
    this.actor = createActor(machine, {
      input: { generation: cluster.metadata.generation ?? 1, appliedGeneration: cluster.status?.observedGeneration ?? 0 },
    });
    this.actor.subscribe((snapshot) => {
      const state = stateName(snapshot.value);
      if (state !== this.lastState) {
        this.lastState = state;
        deps.onTransition?.(this.key, state);
        this.announce(state);
      }
      void this.writeStatus();
    });
  }

  /** Starts the machine and the observation loop. */
  start(): void {
    this.actor.start();
    // Pod changes kick an observation at once (see Supervisor); the timer only refreshes PostgreSQL's own
    // view (LSNs, lag, pending restarts), so its period bounds staleness of those, not of readiness.
    this.timer = setInterval(() => void this.observe(), OBSERVE_MS);
    void this.observe();
  }

  /** Stops the machine and the loop (the cluster was deleted, or the operator is stopping). */
  stop(): void {
    clearInterval(this.timer);
    this.actor.stop();
  }

  /** The machine's state, for the API. */
  get state(): string {
    return stateName(this.actor.getSnapshot().value);
  }

  /** A changed pgcluster from the informer. */
  update(cluster: PgClusterResource): void {
    this.cluster = cluster;
    this.actor.send({ type: 'SPEC', generation: cluster.metadata.generation ?? 1 });
  }

  /** Something about the cluster's pods changed: observe now. */
  kick(): void {
    void this.observe();
  }

  /** The cluster's pgreplicas changed: apply its objects again. */
  refresh(): void {
    this.actor.send({ type: 'REFRESH' });
    void this.observe();
  }

  private announce(state: string): void {
    const reasons: Record<string, [string, 'Normal' | 'Warning', string]> = {
      applying: ['Applying', 'Normal', 'applying the cluster objects'],
      backingOff: ['ApplyFailed', 'Warning', this.actor.getSnapshot().context.lastError ?? 'applying failed'],
      'monitoring.initializing': ['Initializing', 'Normal', 'waiting for every instance to become Ready'],
      'monitoring.ready': ['Ready', 'Normal', 'every instance is Ready'],
      'monitoring.degraded': ['Degraded', 'Warning', 'an instance is not Ready'],
    };
    const [reason, type, message] = reasons[state] ?? ['StateChanged', 'Normal', state];
    this.deps.events.record(this.cluster, type, reason, message);
  }

  /** Effect of the `applying` state: Secrets, finalizer, initial replicas, then every desired object. */
  private async applyObjects(generation: number): Promise<void> {
    const cluster = this.cluster;
    const { namespace, name } = cluster.metadata;
    // Checked before anything is created, so an impossible spec leaves no half-built cluster behind.
    await this.checkStorageClasses();
    await this.ensureFinalizer();
    for (const secret of clusterSecrets(cluster, () => randomBytes(18).toString('base64url'))) {
      try {
        await this.core.createNamespacedSecret({ namespace, body: secret });
      } catch (err) {
        if (httpStatus(err) !== 409) throw new Error(`creating Secret ${secret.metadata?.name}: ${describeError(err)}`, { cause: err });
      }
    }
    const existing = [...this.deps.replicaList(namespace, name)];
    for (const replica of initialReplicas(cluster, existing)) {
      const { created, object } = await this.deps.replicas.createIfAbsent(replica);
      if (created) this.deps.events.record(cluster, 'Normal', 'ReplicaCreated', `created pgreplica ${replica.metadata.name}`);
      existing.push(object);
    }
    if (!cluster.status?.initialReplicasCreated) {
      await this.deps.clusters.updateStatus(namespace, name, (c) => ({ ...c.status, initialReplicasCreated: true }));
    }
    for (const obj of desiredObjects(cluster, existing)) await applyObject(this.deps.kc, obj);
    if (generation !== this.parametersApplied) await this.applyParametersToInstances(generation);
  }

  private async checkStorageClasses(): Promise<void> {
    const { storage } = this.cluster.spec;
    const wanted = Object.entries(storage).flatMap(([field, s]) => (s?.storageClass ? [[field, s.storageClass] as const] : []));
    for (const [field, name] of wanted) {
      try {
        await this.storage.readStorageClass({ name });
      } catch (err) {
        if (httpStatus(err) !== 404) throw err;
        throw new Error(`StorageClass "${name}" (spec.storage.${field}.storageClass) does not exist: create it or choose another one`);
      }
    }
  }

  private async applyParametersToInstances(generation: number): Promise<void> {
    const password = await this.password();
    const observation = this.actor.getSnapshot().context.observation;
    const reachable = observation?.instances.filter((i) => i.ready && i.podIP) ?? [];
    for (const instance of reachable) {
      await withInstance({ host: instance.podIP!, port: this.cluster.spec.port, password }, (c) => applyParameters(c, this.cluster.spec.parameters ?? {}));
    }
    // New or unreachable instances read the same parameters from the ConfigMap when they start.
    this.parametersApplied = generation;
  }

  private async ensureFinalizer(): Promise<void> {
    if (this.cluster.metadata.finalizers?.includes(CLEANUP_FINALIZER)) return;
    const { namespace, name } = this.cluster.metadata;
    const written = await this.deps.clusters.mutate(namespace, name, (c) => {
      if (!c.metadata.finalizers?.includes(CLEANUP_FINALIZER)) c.metadata.finalizers = [...(c.metadata.finalizers ?? []), CLEANUP_FINALIZER];
    });
    if (written) this.cluster = written;
  }

  private async password(): Promise<string> {
    if (!this.superuserPassword) {
      const secret = await this.core.readNamespacedSecret({ namespace: this.cluster.metadata.namespace, name: clusterNames(this.cluster.metadata.name).superuserSecret });
      this.superuserPassword = Buffer.from(secret.data?.password ?? '', 'base64').toString();
    }
    return this.superuserPassword;
  }

  /** Observes the instances, fixes role labels, feeds the machine. One observation at a time. */
  private async observe(): Promise<void> {
    if (this.cluster.metadata.deletionTimestamp) return;
    if (this.observing) {
      this.again = true;
      return;
    }
    this.observing = true;
    this.again = false;
    // A hung call must not stop observation for good: give up on this pass after 30 s.
    const watchdog = setTimeout(() => {
      this.deps.log(`${this.key}: an observation took over 30 s; starting a new one`);
      this.observing = false;
    }, 30_000);
    try {
      const observation = await this.observation();
      this.reportProblems(observation);
      await this.labelRoles(observation);
      await this.promoteIfNeeded(observation);
      await this.restartIfPending(observation);
      this.actor.send({ type: 'OBSERVED', observation });
      await this.writeStatus();
      await this.writeReplicaStatuses(observation);
    } catch (err) {
      this.deps.log(`${this.key}: observing: ${describeError(err)}`);
    } finally {
      clearTimeout(watchdog);
      this.observing = false;
    }
    if (this.again) void this.observe();
  }

  private observation(): Promise<Observation> {
    const { namespace, name } = this.cluster.metadata;
    return observeCluster(this.cluster, this.deps.pods(namespace, name), this.deps.replicaList(namespace, name), () => this.password());
  }

  /**
   * Parameters that need a restart: restarts one instance at a time, replicas before the primary, by
   * stopping PostgreSQL in its container. The kubelet starts the container again in the same pod, so it
   * keeps its role label and the primary stays the primary.
   */
  private async restartIfPending(o: Observation): Promise<void> {
    if (this.parametersApplied !== this.actor.getSnapshot().context.appliedGeneration) return;
    // One at a time: wait until every instance is back before the next, and give the kubelet a moment to
    // notice the one just stopped.
    const now = Date.now();
    if (o.instances.some((i) => !i.ready) || [...this.restarted.values()].some((t) => now - t < 15_000)) return;
    const pending = o.instances.filter((i) => i.pg?.pendingRestart && i.podName);
    const next = pending.find((i) => i.name !== o.primary) ?? pending.find((i) => i.name === o.primary);
    if (!next) return;
    this.restarted.set(next.name, now);
    // The exec ends with the container (exit 137 or a closed connection): both mean PostgreSQL stopped.
    await execInPod(this.deps.kc, this.cluster.metadata.namespace, next.podName!, 'database', ['pg_ctl', '-D', '/pgdata/data', '-m', 'fast', 'stop']);
    this.deps.events.record(this.cluster, 'Normal', 'Restarted', `restarted ${next.name} to apply parameters that need a restart`);
  }

  /** One Warning Event per instance problem (again only if the problem changes). */
  private reportProblems(o: Observation): void {
    for (const i of o.instances) {
      if (i.problem && this.reported.get(i.name) !== i.problem) {
        this.deps.events.record(this.cluster, 'Warning', 'Unschedulable', `${i.name} ${i.problem}`);
      }
      if (i.problem) this.reported.set(i.name, i.problem);
      else this.reported.delete(i.name);
    }
  }

  /** Puts the role label on each pod: primary on the current primary's pod, replica on the others. */
  private async labelRoles(o: Observation): Promise<void> {
    for (const i of o.instances) {
      if (!i.podName) continue;
      const role = i.name === o.primary ? 'primary' : 'replica';
      if (i.roleLabel === role) continue;
      await this.core.patchNamespacedPod(
        { namespace: this.cluster.metadata.namespace, name: i.podName, body: { metadata: { labels: { [LABEL.role]: role } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      i.roleLabel = role;
    }
  }

  /**
   * The current primary's pod came back as a standby (a recreated pod starts as one, see the postgres
   * entrypoint): promote it, but only when no other instance is writable, so there is never a second primary.
   */
  private async promoteIfNeeded(o: Observation): Promise<void> {
    const primary = o.instances.find((i) => i.name === o.primary);
    if (!primary?.pg?.inRecovery || primary.roleLabel !== 'primary' || !primary.podIP) return;
    if (o.instances.some((i) => i.name !== o.primary && i.pg && !i.pg.inRecovery)) {
      this.deps.log(`${this.key}: not promoting ${primary.name}: another instance is writable`);
      return;
    }
    await withInstance({ host: primary.podIP, port: this.cluster.spec.port, password: await this.password() }, (c) => c.query('select pg_promote(true, 30)'));
    this.deps.events.record(this.cluster, 'Normal', 'Promoted', `promoted ${primary.name}, which had restarted as a standby`);
  }

  /** Mirrors each pgreplica's instance into its status (role, readiness, node, lag). */
  private async writeReplicaStatuses(o: Observation): Promise<void> {
    const { namespace, name } = this.cluster.metadata;
    for (const replica of this.deps.replicaList(namespace, name)) {
      const i = o.instances.find((x) => x.name === replica.metadata.name);
      if (!i) continue;
      const status = JSON.parse(JSON.stringify({
        ...replica.status,
        phase: i.ready ? 'Ready' : i.podName ? 'NotReady' : 'Creating',
        role: i.name === o.primary ? 'primary' : 'replica',
        ready: i.ready,
        node: i.node,
        lagBytes: i.lagBytes,
        observedGeneration: replica.metadata.generation,
      })) as PgReplicaResource['status'];
      if (isDeepStrictEqual(status, replica.status)) continue;
      await this.deps.replicas.updateStatus(namespace, replica.metadata.name, () => status).catch((err: unknown) => this.deps.log(`${this.key}: ${describeError(err)}`));
    }
  }

  private async writeStatus(): Promise<void> {
    const snapshot = this.actor.getSnapshot();
    const { namespace, name } = this.cluster.metadata;
    const expected = JSON.parse(JSON.stringify(nextStatus(this.cluster.status, snapshot.value, snapshot.context))) as unknown;
    if (isDeepStrictEqual(expected, this.cluster.status)) return; // the informer's copy is already current
    try {
      await this.deps.clusters.updateStatus(namespace, name, (current) => {
        const status = nextStatus(current.status, snapshot.value, snapshot.context);
        return JSON.parse(JSON.stringify(status)) as typeof status;
      });
    } catch (err) {
      this.deps.log(`${this.key}: ${describeError(err)}`);
    }
  }
}
