/** The pgbackups resource: one backup of a cluster (pgBackRest or pg_dump), with what it produced. */
import { z } from 'zod';
import { clusterName } from './limits.ts';
import { workStatus } from './common.ts';

/** Backup kinds: pgBackRest full, differential, incremental, or a logical dump (pg_dump). */
export const backupType = z.enum(['full', 'diff', 'incr', 'pgdump']);

/** Desired state of a pgbackup. */
export const pgBackupSpec = z.strictObject({
  clusterName: clusterName.describe('the pgcluster to back up'),
  type: backupType.optional().describe('incr once a full backup exists, else full (v4); pgdump for a logical dump'),
  repo: z.enum(['posix', 's3']).optional().describe("the repository (posix is repo1, s3 repo2); the cluster's first when unset"),
  options: z.string().max(4096).optional().describe('extra pgBackRest backup options or pg_dump options, each from a whitelist (a refused one fails the backup, naming it)'),
  database: z.string().min(1).max(63).optional().describe('pgdump: the database (the cluster database when unset)'),
  dumpAll: z.boolean().optional().describe('pgdump: every database with pg_dumpall'),
  pvcName: z.string().min(1).max(253).optional().describe('pgdump: the volume the dump is written to (created when missing)'),
  schedule: z.string().optional().describe('the schedule that made this backup'),
});

/** Observed state of a pgbackup. */
export const pgBackupStatus = workStatus.extend({
  type: backupType.optional().describe('the type that ran'),
  repo: z.string().optional().describe('repo1 or repo2'),
  backupLabel: z.string().optional().describe('pgBackRest backup label'),
  instance: z.string().optional().describe('the instance the backup read from'),
  databaseBytes: z.int().min(0).optional(),
  backupBytes: z.int().min(0).optional().describe('bytes copied by this backup (the delta)'),
  repositoryBytes: z.int().min(0).optional().describe('bytes stored in the repository (compressed)'),
  walStart: z.string().optional(),
  walStop: z.string().optional(),
  lsnStart: z.string().optional(),
  lsnStop: z.string().optional(),
  fileName: z.string().optional().describe('pgdump: the dump file in the volume'),
  error: z.string().max(4096).optional().describe("pgBackRest's (or pg_dump's) error"),
  attempts: z.int().min(0).optional(),
  job: z.string().optional().describe('where the backup runs (pod) and its job id, so a restarted operator finds it'),
});

export type PgBackupSpec = z.output<typeof pgBackupSpec>;
export type PgBackupStatus = z.output<typeof pgBackupStatus>;
