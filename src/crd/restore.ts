/**
 * A restore request and its progress: `spec.restore` and `status.restore` of a pgtask of type `restore`
 * (what `pgo restore` writes, and what `kubectl` users may write). One definition for the CRD, the API and pgo.
 */
import { z } from 'zod';
import { nodeAffinity } from './common.ts';

/** Kinds of recovery target (pgBackRest's `--type` of restore; `default` replays the whole archive). */
export const restoreTargetType = z.enum(['default', 'immediate', 'time', 'lsn', 'xid', 'name']);

/** Longest target text (a timestamp with zone, an LSN, an XID, a restore point name). */
export const MAX_TARGET_LENGTH = 100;

/** What to restore to. */
export const restoreSpec = z.strictObject({
  type: restoreTargetType.default('default').describe('recovery target kind: default (all archived WAL), immediate (end of the backup), time, lsn, xid or name'),
  target: z.string().min(1).max(MAX_TARGET_LENGTH).optional().describe('the target: a time "2026-12-01 10:00:00+00", an LSN "0/3000060", an XID or a restore point name'),
  targetExclusive: z.boolean().optional().describe('stop just before the target instead of just after it'),
  set: z.string().min(1).max(64).optional().describe('pgBackRest backup label to restore from; the latest one before the target when unset'),
  repo: z.int().min(1).max(2).optional().describe('repository to restore from (1 posix, 2 s3); the first one configured when unset'),
  nodeAffinity: nodeAffinity.optional().describe('placement of the restored instance'),
  pgdump: z
    .strictObject({
      pvcName: z.string().min(1).max(253).describe('the volume holding the dumps (pgo backup --backup-type=pgdump)'),
      database: z.string().min(1).max(63).optional().describe("the database to restore into and whose dump to use; the cluster's database when unset"),
      file: z.string().min(1).max(200).regex(/^[A-Za-z0-9._-]+$/, 'a dump file name or part of it (its timestamp), letters, digits and . _ -').optional().describe('the dump to use: its file name or timestamp; the newest dump of the database when unset'),
      options: z.string().max(500).optional().describe('pg_restore options (a whitelist: --clean, --if-exists, --no-owner, --data-only, ...)'),
    })
    .optional()
    .describe('restore a pg_dump (custom format) into the running cluster instead of a pgBackRest backup'),
  drill: z.boolean().optional().describe('a restore drill: restore into a throw-away instance, verify the repository and the data, record the time it took, remove the instance; the cluster is not touched'),
});

/** Steps of a restore, in order (RollingBack and Failed after a failure before Switching). */
export const restorePhase = z.enum(['Validating', 'Preparing', 'Restoring', 'Replaying', 'Verifying', 'Switching', 'Releasing', 'Drilling', 'Discarding', 'Succeeded', 'RollingBack', 'Failed']);

/** The result of the latest restore drill, kept in the pgcluster's status. */
export const drillResult = z.strictObject({
  task: z.string(),
  time: z.string().describe('when the drill ended'),
  succeeded: z.boolean(),
  backupSet: z.string().optional(),
  rtoSeconds: z.number().min(0).optional().describe('measured time from the request to a restored, writable, checked instance'),
  message: z.string(),
});

/** Progress of a restore. */
export const restoreStatus = z.strictObject({
  phase: restorePhase.optional(),
  instance: z.string().optional().describe('the instance restored into (a new pgreplica with fresh volumes)'),
  backupSet: z.string().optional().describe('the backup set used'),
  plan: z.string().optional().describe('what the restore does, said before it is done'),
  args: z.array(z.string()).max(12).optional().describe('the pgbackrest restore options chosen'),
  percent: z.int().min(0).max(100).optional().describe('percent of the backup set fetched'),
  replayedLsn: z.string().optional(),
  timeline: z.int().min(0).optional().describe('timeline of the restored primary'),
  rtoSeconds: z.number().min(0).optional().describe('time from the request to a restored, checked instance'),
  replacedInstance: z.string().optional().describe('the old pgreplica whose place the restored instance took'),
  elapsedSeconds: z.number().min(0).optional(),
  error: z.string().optional().describe("pgBackRest's or PostgreSQL's error, on failure"),
});

export type RestoreSpec = z.output<typeof restoreSpec>;
export type RestoreStatus = z.output<typeof restoreStatus>;
export type RestorePhase = z.output<typeof restorePhase>;
