/**
 * Pure failover decisions: is the primary healthy, which replicas could replace it and which one is best.
 * The cluster machine's guards and the `pgo failover --query` listing both use these, so what the
 * operator would do and what it shows are the same thing.
 */
import type { InstanceObservation, Observation } from './observation.ts';

/**
 * A primary stops itself once no query of the operator has reached it for this long and the API server does
 * not answer either (the image's self-fencing watchdog, given this through PGO_SELF_FENCE_SECONDS).
 */
export const SELF_FENCE_SECONDS = Number(process.env.PGO_SELF_FENCE_SECONDS ?? 2);

/**
 * By when such a primary has surely stopped, counted from the last query the operator may have had reach it:
 * the watchdog looks every 0.5 s, asks the API server for up to 1 s, and the fast shutdown takes a moment.
 */
export const SELF_FENCED_WITHIN_MS = SELF_FENCE_SECONDS * 1000 + 2000;

/** A failover or switchover in progress; kept in status so a restarted operator finishes it. */
export interface FailoverIntent {
  kind: 'automatic' | 'manual' | 'switchover' | 'restore';
  /** The primary being replaced. */
  from: string;
  /** The instance to promote (unset while choosing). */
  to?: string;
  reason: string;
  /** The pgtask that asked for it (manual failover, switchover). */
  task?: string;
  startTime: string;
  /** When each step happened (see failoverTimes in src/crd/pgcluster.ts). */
  times?: FailoverTimes;
}

/** When each step of a failover happened (ISO times). */
export interface FailoverTimes {
  lastHealthy?: string;
  detected?: string;
  recorded?: string;
  fenced?: string;
  promoted?: string;
  relabeled?: string;
}

/** A replica as a failover candidate, with why it is or is not eligible. */
export interface Candidate {
  name: string;
  ready: boolean;
  node?: string;
  timeline?: number;
  receivedLsn?: string;
  replayedLsn?: string;
  lagBytes?: number;
  eligible: boolean;
  /** Why the candidate cannot be promoted (when not eligible). */
  why?: string;
}

/** Parses a pg_lsn (`16/B374D848`) into a number that orders like the LSN; a missing LSN is lowest. */
export function lsnValue(lsn: string | null | undefined): bigint {
  if (!lsn) return -1n;
  const [hi, lo] = lsn.split('/');
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}

/** The primary instance is Ready, answers SQL and is writable. */
export function primaryHealthy(o: Observation | undefined, primary: string): boolean {
  const p = o?.instances.find((i) => i.name === primary);
  return !!p && p.ready && !!p.pg && !p.pg.inRecovery;
}

function eligibility(i: InstanceObservation): string | undefined {
  if (!i.podName) return 'has no pod';
  if (!i.ready) return 'is not Ready';
  if (!i.pg) return 'does not answer SQL';
  if (!i.pg.inRecovery) return 'is not a standby';
  return undefined;
}

/**
 * Every instance but `failed`, best first: eligible ones (Ready, answering, in recovery) by highest
 * received LSN, then highest replayed LSN, then those on `preferredNode`, then by name (deterministic).
 */
export function rankCandidates(o: Observation, failed: string, preferredNode?: string): Candidate[] {
  const candidates = o.instances
    .filter((i) => i.name !== failed)
    .map((i): Candidate => {
      const why = eligibility(i);
      return {
        name: i.name,
        ready: i.ready,
        node: i.node,
        timeline: i.pg?.timeline,
        receivedLsn: i.pg?.receivedLsn ?? undefined,
        replayedLsn: i.pg?.replayedLsn ?? undefined,
        lagBytes: i.lagBytes,
        eligible: why === undefined,
        ...(why ? { why } : {}),
      };
    });
  const cmp = (a: bigint, b: bigint) => (a === b ? 0 : a > b ? -1 : 1);
  return candidates.sort(
    (a, b) =>
      Number(b.eligible) - Number(a.eligible) ||
      cmp(lsnValue(a.receivedLsn), lsnValue(b.receivedLsn)) ||
      cmp(lsnValue(a.replayedLsn), lsnValue(b.replayedLsn)) ||
      Number(b.node === preferredNode && !!preferredNode) - Number(a.node === preferredNode && !!preferredNode) ||
      a.name.localeCompare(b.name),
  );
}

/** The outcome of choosing a failover target. */
export type Choice = { target: string } | { none: string };

/**
 * Chooses the instance to promote in place of `failed`. With synchronous replication an acknowledged
 * commit is on at least one standby, but not necessarily on a given one: every replica that has a pod
 * must have reported its LSN, otherwise the best-looking candidate might lack a commit and none is chosen.
 */
export function chooseTarget(
  o: Observation,
  failed: string,
  options: { sync?: boolean; preferredNode?: string; target?: string; /** the old primary answers: fencing makes the target catch up */ catchUp?: boolean } = {},
): Choice {
  const ranked = rankCandidates(o, failed, options.preferredNode);
  if (options.target) {
    const c = ranked.find((x) => x.name === options.target);
    if (!c) return { none: `${options.target} is not an instance of this cluster (or is the primary)` };
    if (!c.eligible) return { none: `${options.target} ${c.why}` };
  }
  if (options.sync) {
    const unknown = ranked.filter((c) => c.why === 'does not answer SQL' || c.why === 'is not Ready').filter((c) => o.instances.find((i) => i.name === c.name)?.podName);
    if (unknown.length) return { none: `synchronous replication: cannot tell which replica has every acknowledged commit while ${unknown.map((c) => c.name).join(', ')} cannot be asked` };
  }
  const best = ranked[0];
  if (!best?.eligible) return { none: ranked.length ? `no replica is Ready to take over (${ranked.map((c) => `${c.name} ${c.why}`).join('; ')})` : 'the cluster has no replica' };
  if (options.target) {
    // A manual target behind the best candidate would lose what only the best one received.
    const t = ranked.find((x) => x.name === options.target)!;
    if (lsnValue(t.receivedLsn) < lsnValue(best.receivedLsn) && options.sync && !options.catchUp) return { none: `${t.name} is behind ${best.name}; synchronous replication forbids losing what ${best.name} received` };
    return { target: t.name };
  }
  return { target: best.name };
}

/** An instance other than `failed` that answers as a primary, as a choice (undefined when none does). */
export function writableOtherThan(o: Observation, failed: string): Choice | undefined {
  const writable = o.instances.find((i) => i.name !== failed && i.podName && i.pg && !i.pg.inRecovery);
  return writable ? { target: writable.name } : undefined;
}

/** A role label value: primary and replica select the Services; fenced selects neither. */
export type Role = 'primary' | 'replica' | 'fenced' | 'restore';

/**
 * The role label an instance's pod should carry: the old primary of a failover in progress and fenced
 * instances are out of both Services; the primary is labelled primary only when no failover is replacing it.
 */
export function roleOf(instance: string, c: { primary: string; fenced: readonly string[]; failover?: FailoverIntent; restoring?: readonly string[]; primaryRestoring?: boolean }): Role {
  if (c.fenced.includes(instance) || c.failover?.from === instance) return 'fenced';
  if (instance === c.primary && c.primaryRestoring) return 'restore';
  if (instance !== c.primary && c.restoring?.includes(instance)) return 'restore';
  return instance === c.primary ? 'primary' : 'replica';
}
