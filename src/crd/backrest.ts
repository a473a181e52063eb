/**
 * pgBackRest settings of a pgcluster (`spec.backrest`) and the shapes shared by backups: repositories,
 * S3 settings, retention, the archive health reported in status. Repository numbers are fixed: the
 * repository host (posix) is always repo1, S3 always repo2, so a backup label's repo never changes meaning.
 */
import { z } from 'zod';
import { quantity } from './common.ts';
import { cel } from './limits.ts';
import { MAX_SCHEDULES, backupSchedule, scheduleStatus } from './schedule.ts';

/** Repository kinds of a cluster, v4's `--pgbackrest-storage-type`. */
export const storageType = z.enum(['posix', 's3', 'posix,s3']);

/** Repository kinds. */
export type RepoKind = 'posix' | 's3';

/** pgBackRest's repository number of each kind. */
export const REPO_NUMBER: Record<RepoKind, 1 | 2> = { posix: 1, s3: 2 };

/** The messages of the backrest rules, shared by zod and CEL. */
export const BACKREST_MESSAGES = {
  s3Required: "spec.backrest.s3 (bucket, endpoint, region, credentialsSecret) is required when storageType includes 's3'",
  bucket: "must be an S3 bucket name: 3-63 lower-case letters, digits, '.' and '-'",
  endpoint: "must be a host name or address with an optional port, without a scheme, e.g. 's3.example.com' or '10.0.0.5:8333'",
} as const;

const bucketRe = '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$';
const endpointRe = '^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:[0-9]{1,5})?$';
const patterned = (re: string, message: string, max: number) =>
  cel(z.string().max(max).regex(new RegExp(re), message), [{ rule: `self.matches('${re.replaceAll('\\', '\\\\')}')`, message }]);

/** An S3-compatible repository (repo2). */
export const s3Repo = z.strictObject({
  bucket: patterned(bucketRe, BACKREST_MESSAGES.bucket, 63),
  endpoint: patterned(endpointRe, BACKREST_MESSAGES.endpoint, 261),
  region: z.string().min(1).max(64).describe('region; any name for a self-hosted S3 server'),
  uriStyle: z.enum(['host', 'path']).default('host').describe('path for most self-hosted servers'),
  credentialsSecret: z.string().min(1).max(253).describe('Secret with keys aws-s3-key and aws-s3-key-secret (v4 names)'),
  caSecret: z.string().min(1).max(253).optional().describe('Secret with key aws-s3-ca.crt: the CA that signed the endpoint certificate'),
  verifyTLS: z.boolean().default(true).describe('verify the endpoint certificate'),
  path: z.string().max(1024).regex(/^\/[A-Za-z0-9._/-]*$/, "must be an absolute path, e.g. '/backups'").optional().describe('repository path in the bucket; /<namespace>/<cluster> when unset'),
});

/** `spec.backrest` of a pgcluster: WAL archiving and backups with pgBackRest. */
export const backrestSpec = cel(
  z
    .strictObject({
      enabled: z.boolean().default(true).describe('archive WAL and take backups (a stanza and a first full backup at creation)'),
      storageType: storageType.default('posix').describe('posix: a repository host with its own volume (repo1); s3: an S3 bucket (repo2); or both'),
      s3: s3Repo.optional(),
      retentionFull: z.int().min(1).max(9999).default(2).describe('full backups kept (older ones and their WAL are expired after each backup)'),
      retentionDiff: z.int().min(1).max(9999).optional().describe('differential backups kept'),
      backupStandby: z.boolean().default(false).describe('read backups from a streaming replica (the primary when none streams)'),
      archiveTimeoutSeconds: z.int().min(1).max(3600).default(60).describe('archive_timeout: longest a committed transaction waits to reach the repository'),
      archivePushQueueMax: quantity.optional().describe("pgBackRest's archive-push-queue-max: past this much WAL waiting in pg_wal, WAL is dropped (reported archived) so the volume never fills; point-in-time recovery across the gap is lost until the next full backup. Unset: WAL is never dropped"),
      walWarningPercent: z.int().min(1).max(99).default(80).describe('warn when pg_wal holds this percent of the data volume (archiving failing)'),
      schedules: z.array(backupSchedule).max(MAX_SCHEDULES).optional().describe('backups on a cron schedule (pgo create schedule)'),
    })
    .refine((b) => !b.storageType.includes('s3') || b.s3 !== undefined, { message: BACKREST_MESSAGES.s3Required, path: ['s3'] }),
  [{ rule: "!has(self.storageType) || !self.storageType.contains('s3') || has(self.s3)", message: BACKREST_MESSAGES.s3Required }],
);

/** `spec.backrest` with its defaults. */
export type BackrestSpec = z.output<typeof backrestSpec>;

/** The effective backrest settings of a cluster spec (defaults when the field is absent). */
export function backrestOf(spec: { backrest?: z.input<typeof backrestSpec> }): BackrestSpec {
  return backrestSpec.parse(spec.backrest ?? {});
}

/** The repository kinds a cluster uses. */
export function repoKinds(b: BackrestSpec): RepoKind[] {
  return b.storageType.split(',') as RepoKind[];
}

/** The repository health a cluster reports in status (`status.backrest`). */
export const backrestStatus = z.strictObject({
  stanzaCreated: z.boolean().optional(),
  bootstrapBackup: z.string().optional().describe('the pgbackup of the first full backup'),
  lastArchivedWAL: z.string().optional(),
  lastArchivedTime: z.string().optional(),
  lastFailedWAL: z.string().optional(),
  lastFailedTime: z.string().optional(),
  failedCount: z.int().min(0).optional(),
  walBytes: z.int().min(0).optional().describe('size of pg_wal on the primary'),
  walPercent: z.int().min(0).optional().describe('pg_wal as a percentage of its volume'),
  archiveError: z.string().max(2000).optional().describe("pgBackRest's error while archiving fails (from archive-push)"),
  schedules: z.array(scheduleStatus).optional(),
});
