/**
 * The actor system: shared informers (one per kind, not per cluster) for pgclusters, pgreplicas and the
 * operator's pods, and one ClusterActor per pgcluster, spawned when it appears and stopped when it goes.
 */
import { AppsV1Api, CoreV1Api, type KubeConfig, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import { LABEL, MANAGED_BY } from '../cluster/names.ts';
import type { PgBackupResource, PgClusterResource, PgPolicyResource, PgReplicaResource, PgTaskResource, PgUpgradeResource } from '../crd/types.ts';
import { CustomResources, describeError, httpStatus } from '../k8s/custom.ts';
import { EventRecorder } from '../k8s/events.ts';
import { startInformer, type SharedInformer } from '../k8s/informer.ts';
import { Backups } from './backups.ts';
import { ClusterActor } from './cluster-actor.ts';
import { finalizeCluster } from './finalize.ts';
import { Restores } from './restores.ts';
import { Schedules } from './schedules.ts';
import { LoadActor } from './load.ts';
import { UpgradeActor } from './upgrade.ts';
import { Policies } from './policies.ts';
import { UserActor } from './user.ts';
import { TaskActors } from './task-actors.ts';

const keyOf = (o: { metadata?: { namespace?: string; name?: string } }) => `${o.metadata?.namespace}/${o.metadata?.name}`;

/** Runs the cluster actors of every namespace. */
export class Supervisor {
  private readonly actors = new Map<string, ClusterActor>();
  private readonly informers: SharedInformer<unknown>[] = [];
  private pods!: SharedInformer<V1Pod>;
  private replicas!: SharedInformer<PgReplicaResource>;
  readonly clusters: CustomResources<PgClusterResource>;
  readonly replicaApi: CustomResources<PgReplicaResource>;
  readonly taskApi: CustomResources<PgTaskResource>;
  private tasks?: SharedInformer<PgTaskResource>;
  readonly backupApi: CustomResources<PgBackupResource>;
  private backups?: Backups;
  private schedules?: Schedules;
  private restores?: Restores;
  private users?: TaskActors<UserActor>;
  private policies?: Policies;
  private loads?: TaskActors<LoadActor>;
  private upgrades?: TaskActors<UpgradeActor, PgUpgradeResource>;
  /** The generation each pgreplica was last seen at. */
  private readonly replicaGenerations = new Map<string, number>();
  private readonly events: EventRecorder;

  constructor(
    private readonly kc: KubeConfig,
    private readonly log: (line: string) => void = console.error,
    private readonly onTransition?: (key: string, state: string) => void,
  ) {
    this.clusters = new CustomResources<PgClusterResource>(kc, 'pgclusters');
    this.replicaApi = new CustomResources<PgReplicaResource>(kc, 'pgreplicas');
    this.taskApi = new CustomResources<PgTaskResource>(kc, 'pgtasks');
    this.backupApi = new CustomResources<PgBackupResource>(kc, 'pgbackups');
    this.events = new EventRecorder(kc, log);
  }

  /** Starts the informers; resolves once every cache has its first list. */
  async start(): Promise<void> {
    const core = this.kc.makeApiClient(CoreV1Api);
    const apps = this.kc.makeApiClient(AppsV1Api);
    const managed = `${LABEL.managedBy}=${MANAGED_BY}`;
    const onError = (what: string) => (err: unknown) => this.log(`${what} watch: ${describeError(err)}; restarting`);
    const kickOwner = (o: { metadata?: { namespace?: string; labels?: Record<string, string> } }) => {
      const cluster = o.metadata?.labels?.[LABEL.cluster];
      if (cluster) this.actors.get(`${o.metadata?.namespace}/${cluster}`)?.kick();
    };
    this.pods = startInformer<V1Pod>(this.kc, '/api/v1/pods', () => core.listPodForAllNamespaces({ labelSelector: managed }),
      { add: kickOwner, update: kickOwner, delete: kickOwner }, { labelSelector: managed, onError: onError('pod') });
    const deployments = startInformer<V1Deployment>(this.kc, '/apis/apps/v1/deployments', () => apps.listDeploymentForAllNamespaces({ labelSelector: managed }),
      { delete: kickOwner }, { labelSelector: managed, onError: onError('deployment') });
    this.replicas = startInformer<PgReplicaResource>(this.kc, '/apis/pg-operator.dev/v1/pgreplicas', () => this.replicaApi.listAll(),
      { add: (r) => this.replicaChanged(r, true), update: (r) => this.replicaChanged(r), delete: (r) => { this.replicaGenerations.delete(`${r.metadata.namespace}/${r.metadata.name}`); this.refreshCluster(r); } }, { onError: onError('pgreplica') });
    await Promise.all([this.pods.synced, this.replicas.synced, deployments.synced]);
    const clusters = startInformer<PgClusterResource>(this.kc, '/apis/pg-operator.dev/v1/pgclusters', () => this.clusters.listAll(),
      { add: (c) => this.upsert(c), update: (c) => this.upsert(c), delete: (c) => void this.remove(c) }, { onError: onError('pgcluster') });
    this.informers.push(this.pods, deployments, this.replicas, clusters);
    await clusters.synced;
    const podsOf = (ns: string, name: string) => this.pods.list(ns).filter((p) => p.metadata?.labels?.[LABEL.cluster] === name);
    this.restores = new Restores({
      kc: this.kc,
      tasks: this.taskApi,
      replicas: this.replicaApi,
      clusters: this.clusters,
      events: this.events,
      cluster: (ns, name) => clusters.list(ns).find((c) => c.metadata.name === name),
      clusterActor: (ns, name) => this.actors.get(`${ns}/${name}`),
      pods: podsOf,
      replicaList: (ns, name) => this.replicas.list(ns).filter((r) => r.spec.clusterName === name),
      log: this.log,
    });
    const cluster = (ns: string, name: string) => clusters.list(ns).find((c) => c.metadata.name === name);
    const userDeps = { kc: this.kc, tasks: this.taskApi, events: this.events, cluster, log: this.log };
    this.users = new TaskActors('user-update', (task) => new UserActor(task, userDeps));
    this.policies = new Policies({ ...userDeps, clusters: this.clusters, policies: new CustomResources<PgPolicyResource>(this.kc, 'pgpolicies') });
    this.loads = new TaskActors('load', (task) => new LoadActor(task, userDeps));
    // Failover and switchover requests (pgtasks written by the API), once the actors exist.
    this.tasks = startInformer<PgTaskResource>(this.kc, '/apis/pg-operator.dev/v1/pgtasks', () => this.taskApi.listAll(),
      { add: (t) => this.dispatch(t), update: (t) => this.dispatch(t), delete: (t) => { this.restores?.forget(t); this.users?.forget(t); this.policies?.forget(t); this.loads?.forget(t); } }, { onError: onError('pgtask') });
    this.informers.push(this.tasks);
    await this.tasks.synced;
    const upgradeApi = new CustomResources<PgUpgradeResource>(this.kc, 'pgupgrades');
    const upgradeDeps = { ...userDeps, upgrades: upgradeApi, clusters: this.clusters, replicas: this.replicaApi, replicaList: (ns: string, name: string) => this.replicas.list(ns).filter((r) => r.spec.clusterName === name) };
    this.upgrades = new TaskActors<UpgradeActor, PgUpgradeResource>(undefined, (u) => new UpgradeActor(u, upgradeDeps));
    const upgrades = startInformer<PgUpgradeResource>(this.kc, '/apis/pg-operator.dev/v1/pgupgrades', () => upgradeApi.listAll(),
      { add: (u) => this.upgrades?.offer(u), update: (u) => this.upgrades?.offer(u), delete: (u) => this.upgrades?.forget(u) }, { onError: onError('pgupgrade') });
    this.informers.push(upgrades);
    await upgrades.synced;
    for (const c of clusters.list()) this.policies.offerCluster(c);
    // Backups, after the clusters: a backup's turn depends on its cluster's status.
    const kick = () => void this.backups?.tick();
    const backups = startInformer<PgBackupResource>(this.kc, '/apis/pg-operator.dev/v1/pgbackups', () => this.backupApi.listAll(),
      { add: kick, update: kick, delete: kick }, { onError: onError('pgbackup') });
    this.informers.push(backups);
    await backups.synced;
    this.backups = new Backups({
      kc: this.kc,
      backups: this.backupApi,
      clusters: this.clusters,
      events: this.events,
      clusterList: () => clusters.list(),
      backupList: () => backups.list(),
      pods: (ns, name) => this.pods.list(ns).filter((p) => p.metadata?.labels?.[LABEL.cluster] === name),
      log: this.log,
    });
    this.backups.start();
    this.schedules = new Schedules({ clusterList: () => clusters.list(), backupList: () => backups.list(), clusters: this.clusters, backups: this.backupApi, events: this.events, log: this.log });
    this.schedules.start();
  }

  /** Stops every actor and informer. */
  stop(): void {
    this.backups?.stop();
    this.schedules?.stop();
    this.restores?.stop();
    this.users?.stop();
    this.policies?.stop();
    this.loads?.stop();
    this.upgrades?.stop();
    for (const actor of this.actors.values()) void actor.stop();
    this.actors.clear();
    for (const informer of this.informers) informer.stop();
  }

  /** The state of one cluster's actor, or undefined when there is none. */
  stateOf(namespace: string, name: string): string | undefined {
    return this.actors.get(`${namespace}/${name}`)?.state;
  }

  /** Number of running cluster actors. */
  get size(): number {
    return this.actors.size;
  }

  private actorOf(r: PgReplicaResource): ClusterActor | undefined {
    return this.actors.get(`${r.metadata.namespace}/${r.spec.clusterName}`);
  }

  /** A pgreplica came or went: re-apply its cluster's objects (a new Deployment and volume, or none). */
  private refreshCluster(r: PgReplicaResource): void {
    this.actorOf(r)?.refresh();
  }

  /** A pgreplica came or changed: a new one, or a new generation of its spec (an image, resources), is applied; a status change only observed. */
  private replicaChanged(r: PgReplicaResource, added = false): void {
    const key = `${r.metadata.namespace}/${r.metadata.name}`;
    const seen = this.replicaGenerations.get(key);
    this.replicaGenerations.set(key, r.metadata.generation ?? 0);
    if (added || (seen !== undefined && seen !== r.metadata.generation)) this.refreshCluster(r);
    else this.actorOf(r)?.kick();
  }

  private dispatch(task: PgTaskResource): void {
    if (task.spec.type === 'restore') return this.restores?.offer(task);
    if (task.spec.type === 'user-update') return this.users?.offer(task);
    if (task.spec.type === 'apply-policy') return this.policies?.offer(task);
    if (task.spec.type === 'load') return this.loads?.offer(task);
    if (task.spec.type !== 'failover' && task.spec.type !== 'switchover') return;
    if (task.status?.phase) return;
    const fail = (err: unknown) => this.log(`pgtask ${task.metadata.name}: ${describeError(err)}`);
    const actor = this.actors.get(`${task.metadata.namespace}/${task.spec.clusterName}`);
    if (actor) return void actor.request(task).catch(fail);
    void this.dispatchUncached(task).catch(fail);
  }

  /**
   * No actor for the task's cluster: the cache may be behind (a pgcluster created just before the task),
   * so only the API server may say it does not exist.
   */
  private async dispatchUncached(task: PgTaskResource): Promise<void> {
    const { namespace, name } = task.metadata;
    let cluster: PgClusterResource | undefined;
    try {
      cluster = await this.clusters.get(namespace, task.spec.clusterName);
    } catch (err) {
      if (httpStatus(err) !== 404) throw err;
    }
    if (cluster) {
      this.upsert(cluster);
      return this.actors.get(keyOf(cluster))?.request(task);
    }
    await this.taskApi.updateStatus(namespace, name, () => ({ phase: 'Failed', message: `pgcluster ${task.spec.clusterName} does not exist`, completionTime: new Date().toISOString() }));
  }

  private upsert(cluster: PgClusterResource): void {
    const key = keyOf(cluster);
    if (cluster.metadata.deletionTimestamp) {
      // After the actor's last request: a volume it creates must not escape the keep-data decision.
      this.remove(cluster)
        .then(() => finalizeCluster(this.kc, this.clusters, this.events, cluster))
        .catch((err: unknown) => this.log(`${key}: finalizing: ${describeError(err)}`));
      return;
    }
    let actor = this.actors.get(key);
    if (!actor) {
      actor = new ClusterActor(cluster, {
        kc: this.kc,
        clusters: this.clusters,
        replicas: this.replicaApi,
        tasks: this.taskApi,
        events: this.events,
        pods: (ns, name) => this.pods.list(ns).filter((p) => p.metadata?.labels?.[LABEL.cluster] === name),
        replicaList: (ns, name) => this.replicas.list(ns).filter((r) => r.spec.clusterName === name),
        log: this.log,
        onTransition: this.onTransition,
      });
      this.actors.set(key, actor);
      actor.start();
    }
    actor.update(cluster);
    this.policies?.offerCluster(cluster);
  }

  private remove(cluster: PgClusterResource): Promise<void> {
    const key = keyOf(cluster);
    const stopped = this.actors.get(key)?.stop();
    this.actors.delete(key);
    return stopped ?? Promise.resolve();
  }
}
