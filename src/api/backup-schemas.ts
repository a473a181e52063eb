/** Request and response shapes of the backup and schedule routes (re-exported by schemas.ts). */
import { z } from 'zod';
import { dnsLabel } from '../crd/common.ts';
import { name, sqlName } from './schema-names.ts';

/** `pgo backup`: v4's --backup-type (pgbackrest, pgdump) or a pgBackRest type (full, diff, incr). */
export const backupBody = z.strictObject({
  backupType: z.enum(['pgbackrest', 'pgdump', 'full', 'diff', 'incr']).default('pgbackrest'),
  backupOpts: z.string().max(4096).optional().describe('pgBackRest backup options, or pg_dump options with pgdump (each a whitelist)'),
  repo: z.enum(['posix', 's3']).optional().describe("the repository (v4 --pgbackrest-storage-type); the cluster's first when unset"),
  database: sqlName.optional().describe('pgdump: the database (the cluster database when unset)'),
  pvcName: dnsLabel.optional().describe('pgdump: the volume for the dump (created when missing)'),
  dumpAll: z.boolean().optional().describe('pgdump: pg_dumpall, every database'),
});

/** A pgbackup as the API shows it. */
export const backupInfo = z.object({
  name: z.string(),
  cluster: z.string(),
  phase: z.string().optional(),
  type: z.string().optional(),
  repo: z.string().optional(),
  label: z.string().optional(),
  instance: z.string().optional(),
  progress: z.int().optional(),
  message: z.string().optional(),
  error: z.string().optional(),
  schedule: z.string().optional(),
  created: z.string().optional(),
  startTime: z.string().optional(),
  completionTime: z.string().optional(),
  databaseBytes: z.int().optional(),
  backupBytes: z.int().optional(),
  repositoryBytes: z.int().optional(),
  walStart: z.string().optional(),
  walStop: z.string().optional(),
  fileName: z.string().optional().describe('pgdump: the dump file in its volume'),
});

/** `pgo show backup`: pgBackRest's own view (info --output=json, per stanza) and the pgbackups. */
export const backupList = z.object({
  cluster: z.string(),
  stanzas: z.array(z.record(z.string(), z.unknown())),
  /** Why pgBackRest could not be asked (the repository host is not running, ...). */
  infoError: z.string().optional(),
  backups: z.array(backupInfo),
});

/** `pgo delete backup --target LABEL`. */
export const backupDeleteQuery = z.strictObject({ target: z.string().min(1).max(100).regex(/^[0-9]{8}-[0-9]{6}[FDI](_[0-9]{8}-[0-9]{6}[DI])?$/, "must be a pgBackRest backup label, e.g. '20261201-010000F'") });

/** Result of `pgo delete backup`. */
export const backupDeleteResult = z.object({ cluster: z.string(), expired: z.array(z.string()), repos: z.array(z.string()) });

/** `pgo create schedule` (v4's flags); checked by the pgcluster's schedule schema, so with its messages. */
export const scheduleCreateBody = z.strictObject({
  name: z.string().max(100).optional().describe('--schedule-name; <cluster>-<type>-<backupType> when unset (v4)'),
  schedule: z.string().min(1).max(100).describe('5-field cron, e.g. "0 1 * * *"'),
  timeZone: z.string().min(1).max(64).optional().describe('IANA time zone (UTC when unset)'),
  scheduleType: z.enum(['pgbackrest', 'pgdump']).default('pgbackrest'),
  pgbackrestBackupType: z.enum(['full', 'diff', 'incr']).optional(),
  scheduleOpts: z.string().max(4096).optional().describe('backup options (the --backup-opts whitelist)'),
  database: sqlName.optional().describe('pgdump: the database'),
});

/** `pgo show schedule`: one cluster's or the namespace's, optionally one by name. */
export const scheduleListQuery = z.strictObject({ cluster: name.optional(), schedule: name.optional() });

/** A schedule with what status says about it. */
export const scheduleInfo = z.object({
  name: z.string(), cluster: z.string(), schedule: z.string(), timeZone: z.string(), type: z.string(), backupType: z.string().optional(),
  options: z.string().optional(), database: z.string().optional(), suspended: z.boolean(),
  lastRun: z.string().optional(), lastBackup: z.string().optional(), lastSuccess: z.string().optional(), nextRun: z.string().optional(),
  missedRuns: z.int(), lastSkipped: z.string().optional(),
});

/** `pgo show schedule`. */
export const scheduleList = z.object({ schedules: z.array(scheduleInfo) });
