/**
 * Backup schedules of a pgcluster (`spec.backrest.schedules`, `pgo create schedule`): standard 5-field cron
 * with an explicit time zone (UTC by default), parsed by croner, and what status says about each.
 */
import { Cron } from 'croner';
import { z } from 'zod';
import { backupOptionsText } from '../backrest/options.ts';

/** The most schedules one cluster may have. */
export const MAX_SCHEDULES = 20;

/** The messages of the schedule checks. */
export const SCHEDULE_MESSAGES = {
  cron: "must be a 5-field cron expression 'minute hour day-of-month month day-of-week', e.g. '0 1 * * *' (01:00 every day)",
  timeZone: "must be an IANA time zone, e.g. 'UTC' or 'Europe/Berlin'",
  backupType: 'a pgbackrest schedule needs backupType full, diff or incr (v4: --pgbackrest-backup-type)',
} as const;

/** True when `expr` is a valid 5-field cron expression. */
export function validCron(expr: string): boolean {
  if (expr.trim().split(/\s+/).length !== 5) return false;
  try {
    new Cron(expr, { paused: true });
    return true;
  } catch {
    return false;
  }
}

/** True when `tz` is a time zone this runtime knows. */
export function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** One schedule. */
export const backupSchedule = z
  .strictObject({
    name: z.string().max(63).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a DNS label, e.g. 'nightly'"),
    schedule: z.string().max(100).refine(validCron, SCHEDULE_MESSAGES.cron),
    timeZone: z.string().max(64).refine(validTimeZone, SCHEDULE_MESSAGES.timeZone).default('UTC'),
    type: z.enum(['pgbackrest', 'pgdump']).default('pgbackrest'),
    backupType: z.enum(['full', 'diff', 'incr']).optional(),
    options: backupOptionsText.optional().describe('extra pgBackRest backup options (the --backup-opts whitelist) or pg_dump options'),
    database: z.string().min(1).max(63).optional().describe('pgdump: the database'),
    suspended: z.boolean().optional(),
  })
  .refine((s) => s.type !== 'pgbackrest' || s.backupType !== undefined, { message: SCHEDULE_MESSAGES.backupType, path: ['backupType'] });

/** A schedule with its defaults. */
export type BackupSchedule = z.output<typeof backupSchedule>;

/** What status says about one schedule. */
export const scheduleStatus = z.strictObject({
  name: z.string(),
  lastRun: z.string().optional().describe('when the last run was due'),
  lastBackup: z.string().optional().describe('the pgbackup of the last run'),
  lastSuccess: z.string().optional(),
  nextRun: z.string().optional(),
  missedRuns: z.int().min(0).optional().describe('runs not made (the operator was down, or a backup was still running)'),
  lastSkipped: z.string().optional().describe('why the last run was skipped'),
});
