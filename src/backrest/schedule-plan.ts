/**
 * When a backup schedule runs (pure, no I/O): from a schedule, its status entry and the time now, the due
 * time to run (at most one per look, however many passed), how many due times were missed, and the next
 * one. Due times come from croner in the schedule's time zone; pgbackup names are in UTC, so a repeated
 * local hour (the autumn DST change) still gives two names, and a restarted operator finds the one it made.
 */
import { Cron } from 'croner';
import type { z } from 'zod';
import type { BackupSchedule, scheduleStatus } from '../crd/schedule.ts';

/** What status says about one schedule. */
export type ScheduleStatus = z.output<typeof scheduleStatus>;

/** Label on the pgbackups a schedule made: the schedule's name. */
export const SCHEDULE_LABEL = 'pg-operator.dev/schedule';

/**
 * Due times counted in one look at most: croner takes about 75 µs per due time, so counting stops after
 * ~150 ms (33 hours of a per-minute schedule, 83 days of an hourly one) and the rest are not counted.
 */
export const MAX_COUNTED_RUNS = 2_000;

/** What to do for a schedule now. */
export interface SchedulePlan {
  /** The due time to run now: the most recent one at or before now not yet looked at. */
  due?: Date;
  /** Due times before `due` that will not run (the operator was not running then). */
  missed: number;
  /** The first due time after now; none while suspended (or when the expression never matches). */
  nextRun?: Date;
}

/** The schedule's cron in its time zone (paused: only asked for times, never run). */
export function cronOf(s: Pick<BackupSchedule, 'schedule' | 'timeZone'>): Cron {
  return new Cron(s.schedule, { paused: true, timezone: s.timeZone, mode: '5-part' });
}

const time = (iso: string | undefined): number | undefined => {
  const t = iso === undefined ? NaN : Date.parse(iso);
  return Number.isNaN(t) ? undefined : t;
};
const nextAfter = (cron: Cron, t: number) => cron.nextRun(new Date(t))?.getTime();

/**
 * The first due time not yet looked at: status's `nextRun`, if it is still a due time of this schedule
 * (`nextRun` is the first due time after the previous look). Undefined on first sight, after a change of
 * the expression or time zone, after a suspension, or for a status that does not fit: counting then starts
 * at now, so no run is backfilled for times when the schedule was not in force.
 */
function anchorOf(cron: Cron, status: ScheduleStatus | undefined, now: number): number | undefined {
  const next = time(status?.nextRun);
  if (next === undefined) return undefined;
  const last = time(status?.lastRun);
  if (last !== undefined && next <= last) return undefined;
  // In the future: it must be the first due time after now. Passed: it must be a due time (due times are whole minutes).
  const expected = next > now ? nextAfter(cron, now) : nextAfter(cron, next - 1000);
  return expected === next ? next : undefined;
}

/** What to do for `schedule` at `now`, given its status entry. */
export function planSchedule(schedule: BackupSchedule, status: ScheduleStatus | undefined, now: Date): SchedulePlan {
  if (schedule.suspended) return { missed: 0 };
  const cron = cronOf(schedule);
  const t = now.getTime();
  const next = nextAfter(cron, t);
  const nextRun = next === undefined ? undefined : new Date(next);
  const anchor = anchorOf(cron, status, t);
  if (anchor === undefined || anchor > t) return { missed: 0, nextRun };
  let due = anchor;
  let count = 1;
  for (let d = nextAfter(cron, anchor); d !== undefined && d <= t; d = nextAfter(cron, d)) {
    due = d;
    if (++count >= MAX_COUNTED_RUNS) {
      // Stop counting; still run for the latest due time (the reference is exclusive, due times are whole seconds).
      due = cron.previousRuns(1, new Date(t + 1))[0]?.getTime() ?? d;
      break;
    }
  }
  return { due: new Date(due), missed: count - 1, nextRun };
}

/** `yyyymmddhhmm` of a time in UTC. */
export function utcMinute(d: Date): string {
  return d.toISOString().slice(0, 16).replace(/[-T:]/g, '');
}

/**
 * The pgbackup of a schedule's run due at `due`: `<cluster>-<schedule>-<yyyymmddhhmm>` (UTC). Fixed per due
 * time, so creating it twice (an operator restarted before writing status) finds the first one. At most
 * 42 + 63 + 14 characters, well within an object name's 253.
 */
export function scheduledBackupName(cluster: string, schedule: string, due: Date): string {
  return `${cluster}-${schedule}-${utcMinute(due)}`;
}

/** What happened to a due run: a pgbackup made (or found made), or skipped with the reason (a missed run). */
export type RunOutcome = { made: string } | { skipped: string };

/** The status entry after a look: the plan, what happened to its due run, and the newest success. */
export function nextStatus(name: string, prev: ScheduleStatus | undefined, plan: SchedulePlan, outcome?: RunOutcome, lastSuccess?: string): ScheduleStatus {
  const made = outcome && 'made' in outcome ? outcome.made : undefined;
  const skipped = outcome && 'skipped' in outcome ? outcome.skipped : undefined;
  const entry: ScheduleStatus = {
    name,
    lastRun: made && plan.due ? plan.due.toISOString() : prev?.lastRun,
    lastBackup: made ?? prev?.lastBackup,
    lastSuccess: lastSuccess ?? prev?.lastSuccess,
    nextRun: plan.nextRun?.toISOString(),
    missedRuns: (prev?.missedRuns ?? 0) + plan.missed + (plan.due && !made ? 1 : 0),
    lastSkipped: skipped ?? prev?.lastSkipped,
  };
  // No undefined fields: the entry is compared with what the API server stored.
  for (const k of Object.keys(entry) as (keyof ScheduleStatus)[]) if (entry[k] === undefined) delete entry[k];
  return entry;
}
