/** Pure judgement of a cluster's WAL archiving from pg_stat_archiver, pgBackRest's error and the WAL volume. */
import type { PgClusterStatus } from '../crd/pgcluster.ts';

type Condition = NonNullable<PgClusterStatus['conditions']>[number];

/** What the primary reports (pg_stat_archiver, pg_wal size) and what the volume holds. */
export interface ArchiverSample {
  lastArchivedWAL?: string;
  lastArchivedTime?: Date;
  failedCount: number;
  lastFailedWAL?: string;
  lastFailedTime?: Date;
  walBytes: number;
  /** Capacity of the volume holding pg_wal. */
  volumeBytes?: number;
  /** pgBackRest's error from the async archive-push (its spool's .error file), when there is one. */
  pushError?: string;
}

/** The verdict: the WALArchiving condition's status, reason and message, and whether the WAL volume is filling. */
export interface ArchiveVerdict {
  ok: boolean;
  reason: 'Archiving' | 'ArchiveFailing' | 'NothingArchivedYet';
  message: string;
  walPercent?: number;
  walFilling: boolean;
}

const ago = (t: Date | undefined, now: Date) => (t ? `${Math.max(0, Math.round((now.getTime() - t.getTime()) / 1000))} s ago` : 'never');

/**
 * Archiving fails when the newest attempt failed (a failure after the last success); pg_wal is filling when it
 * holds at least `warnPercent` of its volume, which is what happens while archiving fails.
 */
export function judgeArchiving(s: ArchiverSample, warnPercent: number, now = new Date()): ArchiveVerdict {
  const walPercent = s.volumeBytes ? Math.round((100 * s.walBytes) / s.volumeBytes) : undefined;
  const walFilling = walPercent !== undefined && walPercent >= warnPercent;
  const wal = walPercent !== undefined ? `; pg_wal holds ${walPercent}% of the volume${walFilling ? ` (warning at ${warnPercent}%)` : ''}` : '';
  const failing = s.lastFailedTime !== undefined && (s.lastArchivedTime === undefined || s.lastFailedTime > s.lastArchivedTime);
  if (failing) {
    return {
      ok: false,
      reason: 'ArchiveFailing',
      message: `archiving ${s.lastFailedWAL} failed ${ago(s.lastFailedTime, now)} (${s.failedCount} failures); ${s.lastArchivedWAL ? `last archived ${s.lastArchivedWAL} ${ago(s.lastArchivedTime, now)}` : 'nothing archived yet'}${s.pushError ? `: ${s.pushError}` : ''}${wal}`,
      walPercent,
      walFilling,
    };
  }
  if (!s.lastArchivedWAL) return { ok: true, reason: 'NothingArchivedYet', message: `no WAL segment archived yet${wal}`, walPercent, walFilling };
  return { ok: true, reason: 'Archiving', message: `last archived ${s.lastArchivedWAL} ${ago(s.lastArchivedTime, now)}${wal}`, walPercent, walFilling };
}

/** Type of the condition. */
export const WAL_ARCHIVING = 'WALArchiving';

/** Replaces (or adds) one condition in a list. */
export function withCondition(conditions: Condition[] | undefined, c: Condition): Condition[] {
  return [...(conditions ?? []).filter((x) => x.type !== c.type), c];
}
