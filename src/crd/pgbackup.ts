/** The pgbackups resource: one backup of a cluster. */
import { z } from 'zod';
import { clusterName } from './limits.ts';
import { storageSpec, workStatus } from './common.ts';

/** pgBackRest backup types; pgdump makes a logical dump. */
export const backupType = z.enum(['full', 'diff', 'incr', 'pgdump']);

/** Desired state of a pgbackup. */
export const pgBackupSpec = z.strictObject({
  clusterName: clusterName.describe('the pgcluster to back up'),
  type: backupType.default('full'),
  repoType: z.enum(['posix', 's3', 'gcs']).default('posix'),
  storage: storageSpec.optional().describe('volume for pgdump output'),
  options: z.string().max(4096).optional().describe('extra pgBackRest or pg_dump options'),
});

/** Observed state of a pgbackup. */
export const pgBackupStatus = workStatus.extend({
  backupLabel: z.string().optional().describe('pgBackRest backup label'),
  sizeBytes: z.int().min(0).optional(),
});

export type PgBackupSpec = z.output<typeof pgBackupSpec>;
