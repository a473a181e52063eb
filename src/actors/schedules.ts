/**
 * Backup schedules (`spec.backrest.schedules`): every few seconds, for each schedule of each cluster with
 * backups on, the plan of `src/backrest/schedule-plan.ts` says whether a run is due; a due run creates a
 * pgbackup with a name fixed by its due time (the Backups actor runs it), or is skipped while the cluster
 * still has an unfinished pgbackup; what happened is written to `status.backrest.schedules`.
 */
import { isDeepStrictEqual } from 'node:util';
import { ownerRef } from '../cluster/builders.ts';
import { clusterLabels } from '../cluster/names.ts';
import { backrestOf } from '../crd/backrest.ts';
import { API_VERSION } from '../crd/resources.ts';
import type { BackupSchedule } from '../crd/schedule.ts';
import type { PgBackupResource, PgClusterResource } from '../crd/types.ts';
import { SCHEDULE_LABEL, nextStatus, planSchedule, scheduledBackupName, type RunOutcome, type ScheduleStatus } from '../backrest/schedule-plan.ts';
import { describeError, httpStatus, type CustomResources } from '../k8s/custom.ts';
import type { EventRecorder } from '../k8s/events.ts';

/** What the schedules need from the operator. */
export interface SchedulesDeps {
  clusters: CustomResources<PgClusterResource>;
  backups: CustomResources<PgBackupResource>;
  events: Pick<EventRecorder, 'record'>;
  clusterList(): readonly PgClusterResource[];
  backupList(): readonly PgBackupResource[];
  log(line: string): void;
  /** The clock (tests move it). */
  now?: () => Date;
}

const TICK_MS = Number(process.env.PGO_SCHEDULE_TICK_MS ?? 10_000);
const finished = (b: PgBackupResource) => b.status?.phase === 'Succeeded' || b.status?.phase === 'Failed';
const entryOf = (c: PgClusterResource, name: string) => c.status?.backrest?.schedules?.find((e) => e.name === name);

/** Completion time of the newest succeeded pgbackup of a schedule. */
function lastSuccess(backups: readonly PgBackupResource[], schedule: string): string | undefined {
  return backups
    .filter((b) => b.metadata.labels?.[SCHEDULE_LABEL] === schedule && b.status?.phase === 'Succeeded' && b.status.completionTime)
    .map((b) => b.status!.completionTime!)
    .sort((x, y) => Date.parse(y) - Date.parse(x))[0];
}

/** Runs the backup schedules of every cluster. */
export class Schedules {
  private timer?: NodeJS.Timeout;
  private ticking = false;
  private readonly now: () => Date;

  constructor(private readonly deps: SchedulesDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** Starts the periodic pass. */
  start(): void {
    this.timer = setInterval(() => void this.tick(), TICK_MS);
    void this.tick();
  }

  /** Stops the periodic pass. */
  stop(): void {
    clearInterval(this.timer);
  }

  /** One pass over every cluster. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const backups = this.deps.backupList().filter((b) => !b.metadata.deletionTimestamp);
      for (const c of this.deps.clusterList()) {
        if (c.metadata.deletionTimestamp || !backrestOf(c.spec).enabled) continue;
        const mine = backups.filter((b) => b.metadata.namespace === c.metadata.namespace && b.spec.clusterName === c.metadata.name);
        await this.cluster(c, mine).catch((err: unknown) => this.deps.log(`schedules of ${c.metadata.namespace}/${c.metadata.name}: ${describeError(err)}`));
      }
    } finally {
      this.ticking = false;
    }
  }

  /** The status entries of a cluster's schedules at `now`, with `act` deciding each due run. */
  private async entries(c: PgClusterResource, mine: readonly PgBackupResource[], now: Date, act?: (s: BackupSchedule, due: Date) => Promise<RunOutcome>): Promise<{ entries: ScheduleStatus[]; due: boolean }> {
    const entries: ScheduleStatus[] = [];
    let due = false;
    for (const s of backrestOf(c.spec).schedules ?? []) {
      const prev = entryOf(c, s.name);
      const plan = planSchedule(s, prev, now);
      due ||= plan.due !== undefined;
      const outcome = plan.due && act ? await act(s, plan.due) : undefined;
      entries.push(nextStatus(s.name, prev, plan, outcome, lastSuccess(mine, s.name)));
    }
    return { entries, due };
  }

  private async cluster(cached: PgClusterResource, mine: PgBackupResource[]): Promise<void> {
    const now = this.now();
    const quick = await this.entries(cached, mine, now);
    if (!quick.due && isDeepStrictEqual(quick.entries, cached.status?.backrest?.schedules ?? [])) return;
    const { namespace, name } = cached.metadata;
    let c: PgClusterResource;
    try {
      // A run is decided against the stored status, not the cache: a status written a moment ago counts.
      c = await this.deps.clusters.get(namespace, name);
    } catch (err) {
      if (httpStatus(err) === 404) return;
      throw err;
    }
    const { entries } = await this.entries(c, mine, now, (s, due) => this.run(c, s, due, mine));
    await this.deps.clusters.updateStatus(namespace, name, (x) => {
      const names = new Set((backrestOf(x.spec).schedules ?? []).map((s) => s.name));
      // Entries of deleted schedules go; everything else in status.backrest stays.
      const kept = entries.filter((e) => names.has(e.name));
      const backrest = { ...x.status?.backrest, schedules: kept };
      if (!kept.length) delete (backrest as { schedules?: unknown }).schedules;
      return { ...x.status, backrest };
    });
  }

  /** A due run: the pgbackup of its due time, unless another backup of the cluster has not ended. */
  private async run(c: PgClusterResource, s: BackupSchedule, due: Date, mine: readonly PgBackupResource[]): Promise<RunOutcome> {
    const { namespace, name } = c.metadata;
    const backupName = scheduledBackupName(name, s.name, due);
    // Made already (by an operator that stopped before writing status): that is this run.
    if (mine.some((b) => b.metadata.name === backupName)) return { made: backupName };
    const at = due.toISOString();
    const busy = mine.find((b) => !finished(b));
    if (busy) {
      // Not queued: runs that pile up behind a slow backup would then run back to back, off schedule.
      const reason = `a backup was still running: ${busy.metadata.name}`;
      this.deps.events.record(c, 'Warning', 'ScheduledBackupSkipped', `schedule ${s.name}: the run due ${at} was skipped: ${reason}`);
      return { skipped: reason };
    }
    const type = s.type === 'pgdump' ? 'pgdump' : s.backupType;
    const backup: PgBackupResource = {
      apiVersion: API_VERSION,
      kind: 'PGBackup',
      metadata: { name: backupName, namespace, labels: { ...clusterLabels(name, c.spec.userLabels), [SCHEDULE_LABEL]: s.name }, ownerReferences: [ownerRef(c)] },
      spec: JSON.parse(JSON.stringify({ clusterName: name, type, options: s.options || undefined, database: s.database, schedule: s.name })) as PgBackupResource['spec'],
    };
    try {
      const { created } = await this.deps.backups.createIfAbsent(backup);
      if (created) this.deps.events.record(c, 'Normal', 'ScheduledBackup', `schedule ${s.name}: created pgbackup ${backupName} (${type ?? 'default'}) for the run due ${at}`);
      return { made: backupName };
    } catch (err) {
      // Refused by the API server (it will refuse again): skipped. Anything else is retried at the next pass.
      const code = httpStatus((err as { cause?: unknown }).cause);
      if (code !== 400 && code !== 422) throw err;
      const reason = `creating pgbackup ${backupName} failed: ${describeError(err)}`;
      this.deps.events.record(c, 'Warning', 'ScheduledBackupSkipped', `schedule ${s.name}: the run due ${at} was skipped: ${reason}`);
      return { skipped: reason };
    }
  }
}
