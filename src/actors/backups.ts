/**
 * The backups of every cluster: one BackupActor per pgbackup that has not ended, one backup at a time per
 * cluster (the oldest first; the others wait in Pending and say behind which), and the first full backup of
 * each cluster with backups on, made once its primary is ready (`<cluster>-bootstrap`, created at most once:
 * its name is fixed and status remembers it).
 */
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { ownerRef } from '../cluster/builders.ts';
import { LABEL, clusterLabels } from '../cluster/names.ts';
import { backrestOf } from '../crd/backrest.ts';
import { API_VERSION } from '../crd/resources.ts';
import type { PgBackupResource, PgClusterResource } from '../crd/types.ts';
import { describeError, type CustomResources } from '../k8s/custom.ts';
import type { EventRecorder } from '../k8s/events.ts';
import { checkArchiving } from './archive-health.ts';
import { BackupActor, repoHostPod } from './backup.ts';

/** What the backups need from the operator. */
export interface BackupsDeps {
  kc: KubeConfig;
  backups: CustomResources<PgBackupResource>;
  clusters: CustomResources<PgClusterResource>;
  events: EventRecorder;
  clusterList(): readonly PgClusterResource[];
  backupList(): readonly PgBackupResource[];
  pods(namespace: string, cluster: string): readonly V1Pod[];
  log(line: string): void;
}

const TICK_MS = Number(process.env.PGO_BACKUP_TICK_MS ?? 3000);
/** How often each cluster's WAL archiving is looked at (PGO_ARCHIVE_CHECK_MS). */
const ARCHIVE_CHECK_MS = Number(process.env.PGO_ARCHIVE_CHECK_MS ?? 15_000);
/** The first full backup keeps trying longer than a user's backup (about 35 min with the back-off). */
const BOOTSTRAP_ATTEMPTS = 20;

const keyOf = (o: { metadata: { namespace: string; name: string } }) => `${o.metadata.namespace}/${o.metadata.name}`;
const created = (b: PgBackupResource) => new Date(b.metadata.creationTimestamp ?? 0).getTime();
const finished = (b: PgBackupResource) => b.status?.phase === 'Succeeded' || b.status?.phase === 'Failed';

/** Name of a cluster's first full backup. */
export const bootstrapBackupName = (cluster: string) => `${cluster}-bootstrap`;

/** True when the cluster's primary is ready and no failover is under way. */
export function canBackUp(cluster: PgClusterResource): boolean {
  const s = cluster.status;
  if (!s || s.failover || s.phase === 'FailingOver' || s.phase === 'Switchover') return false;
  // A cluster made from a data source is backed up once its restore is done (it is a standby until then).
  if (cluster.spec.dataSource && !s.dataSource?.restored) return false;
  return s.instances?.some((i) => i.name === s.currentPrimary && i.ready) ?? false;
}

/** Runs the backup actors. */
export class Backups {
  private readonly actors = new Map<string, BackupActor>();
  private timer?: NodeJS.Timeout;
  private ticking = false;
  private readonly archiveChecked = new Map<string, number>();

  constructor(private readonly deps: BackupsDeps) {}

  /** Starts the periodic pass (informer changes also call `tick`). */
  start(): void {
    this.timer = setInterval(() => void this.tick(), TICK_MS);
    void this.tick();
  }

  /** Stops every actor; running jobs go on in the repository hosts and are found again by the next operator. */
  stop(): void {
    clearInterval(this.timer);
    for (const a of this.actors.values()) a.stop();
    this.actors.clear();
  }

  /** State of a pgbackup's actor, if one runs. */
  stateOf(namespace: string, name: string): string | undefined {
    return this.actors.get(`${namespace}/${name}`)?.state;
  }

  /** One pass: spawn and stop actors, let the head of each cluster's queue run, create first backups. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const clusters = new Map(this.deps.clusterList().map((c) => [keyOf(c), c]));
      const backups = [...this.deps.backupList()].filter((b) => !b.metadata.deletionTimestamp);
      for (const [key, actor] of this.actors) {
        const b = backups.find((x) => keyOf(x) === key);
        if (!b) {
          actor.stop();
          this.actors.delete(key);
        } else if (actor.done && finished(b)) this.actors.delete(key);
      }
      const queues = new Map<string, PgBackupResource[]>();
      for (const b of backups.filter((x) => !finished(x)).sort((x, y) => created(x) - created(y) || x.metadata.name.localeCompare(y.metadata.name))) {
        const clusterKey = `${b.metadata.namespace}/${b.spec.clusterName}`;
        queues.set(clusterKey, [...(queues.get(clusterKey) ?? []), b]);
      }
      for (const [clusterKey, queue] of queues) {
        const cluster = clusters.get(clusterKey);
        queue.forEach((b, i) => {
          let actor = this.actors.get(keyOf(b));
          if (!actor) {
            actor = new BackupActor(b, {
              ...this.deps,
              cluster: (ns, name) => clusters.get(`${ns}/${name}`) ?? this.deps.clusterList().find((c) => c.metadata.namespace === ns && c.metadata.name === name),
            }, b.metadata.name === bootstrapBackupName(b.spec.clusterName) ? BOOTSTRAP_ATTEMPTS : 5);
            this.actors.set(keyOf(b), actor);
            actor.run();
          } else actor.update(b);
          // One at a time per cluster: only the oldest unfinished backup may start (pgBackRest would refuse a second).
          if (i === 0 && actor.state === 'pending' && (!cluster || (canBackUp(cluster) && repoHostPod(this.deps.pods(b.metadata.namespace, b.spec.clusterName))))) actor.ready();
          if (i > 0 && b.status?.phase !== 'Pending') void this.queued(b, queue[0]!.metadata.name);
        });
      }
      for (const cluster of clusters.values()) await this.bootstrap(cluster);
      for (const [key, cluster] of clusters) this.watchArchiving(key, cluster);
    } catch (err) {
      this.deps.log(`backups: ${describeError(err)}`);
    } finally {
      this.ticking = false;
    }
  }

  /** Looks at a cluster's archiving every ARCHIVE_CHECK_MS, one look at a time (see archive-health.ts). */
  private watchArchiving(key: string, cluster: PgClusterResource): void {
    const last = this.archiveChecked.get(key) ?? 0;
    if (last < 0 || Date.now() - last < ARCHIVE_CHECK_MS || !backrestOf(cluster.spec).enabled || cluster.metadata.deletionTimestamp) return;
    this.archiveChecked.set(key, -1);
    checkArchiving(this.deps, cluster)
      .catch((err: unknown) => this.deps.log(`${key}: checking WAL archiving: ${describeError(err)}`))
      .finally(() => this.archiveChecked.set(key, Date.now()));
  }

  private async queued(b: PgBackupResource, head: string): Promise<void> {
    await this.deps.backups.updateStatus(b.metadata.namespace, b.metadata.name, (x) => ({ ...x.status, phase: 'Pending', message: `queued behind pgbackup ${head}: one backup of a cluster runs at a time` }));
  }

  /** The first full backup of a cluster, once its primary is ready. */
  private async bootstrap(cluster: PgClusterResource): Promise<void> {
    if (cluster.metadata.deletionTimestamp || !backrestOf(cluster.spec).enabled || cluster.status?.backrest?.bootstrapBackup || !canBackUp(cluster)) return;
    const { namespace, name } = cluster.metadata;
    const backup: PgBackupResource = {
      apiVersion: API_VERSION,
      kind: 'PGBackup',
      metadata: { name: bootstrapBackupName(name), namespace, labels: { ...clusterLabels(name, cluster.spec.userLabels), [LABEL.pgbackup]: 'bootstrap' }, ownerReferences: [ownerRef(cluster)] },
      spec: { clusterName: name, type: 'full' },
    };
    const { created: made } = await this.deps.backups.createIfAbsent(backup);
    if (made) this.deps.events.record(cluster, 'Normal', 'BackupRequested', `first full backup ${backup.metadata.name}`);
    await this.deps.clusters.updateStatus(namespace, name, (c) => ({ ...c.status, backrest: { ...c.status?.backrest, bootstrapBackup: backup.metadata.name } }));
  }
}
