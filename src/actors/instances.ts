/**
 * Upkeep of a healthy cluster's instances, run after each observation while the machine is in
 * `monitoring`: restarts for parameters that need one, promotion of a primary that restarted as a standby,
 * and stopping any second writable instance.
 */
import type { Observation } from '../cluster/observation.ts';
import type { PgClusterResource } from '../crd/types.ts';
import type pg from 'pg';
import { promote, resetRestoreCommand, resetUpstream, withInstance, type Endpoint } from '../pg/instance.ts';

/** What the upkeep needs from its cluster actor. */
export interface InstanceHost {
  cluster(): PgClusterResource;
  /** The primary instance (the machine's context). */
  primary(): string;
  /** The machine's state name (`monitoring.ready`). */
  state(): string;
  endpoint(podIP: string): Promise<Endpoint>;
  /** Runs `work` on the instance at `podIP` (the actor's long-lived connection). */
  query<T>(podIP: string, work: (client: pg.Client) => Promise<T>, timeoutMs: number): Promise<T>;
  stopInstance(podName: string): Promise<void>;
  /** The primary is about to be stopped for a restart in place: a failover waits the planned-restart grace. */
  primaryRestarting(): void;
  event(type: 'Normal' | 'Warning', reason: string, message: string): void;
  log(line: string): void;
}

/**
 * Parameters that need a restart: restarts one instance at a time, replicas before the primary, by
 * stopping PostgreSQL in its container. The kubelet starts the container again in the same pod, so it
 * keeps its role label and the primary stays the primary. `restarted` remembers when each one was.
 */
export async function restartIfPending(host: InstanceHost, o: Observation, restarted: Map<string, number>): Promise<void> {
  if (host.state() !== 'monitoring.ready') return;
  // Give the kubelet a moment to notice the one just stopped before looking for the next.
  const now = Date.now();
  if ([...restarted.values()].some((t) => now - t < 15_000)) return;
  const pending = o.instances.filter((i) => i.pg?.pendingRestart && i.podName);
  const primary = host.primary();
  const next = pending.find((i) => i.name !== primary) ?? pending.find((i) => i.name === primary);
  if (!next) return;
  restarted.set(next.name, now);
  if (next.name === primary) host.primaryRestarting();
  await host.stopInstance(next.podName!);
  host.event('Normal', 'Restarted', `restarted ${next.name} to apply parameters that need a restart`);
}

/**
 * The primary's pod came back as a standby (its container started before the operator labelled it):
 * promote it, but only when no other instance is writable, so there is never a second primary.
 */
export async function promoteIfNeeded(host: InstanceHost, o: Observation): Promise<void> {
  if (!host.state().startsWith('monitoring')) return;
  const name = host.primary();
  const primary = o.instances.find((i) => i.name === name);
  if (!primary?.pg?.inRecovery || primary.roleLabel !== 'primary' || !primary.podIP) return;
  if (o.instances.some((i) => i.name !== name && i.pg && !i.pg.inRecovery)) {
    host.log(`not promoting ${name}: another instance is writable`);
    return;
  }
  await withInstance(await host.endpoint(primary.podIP), promote, 35_000);
  host.event('Normal', 'Promoted', `promoted ${name}, which had restarted as a standby`);
}

/**
 * Any writable instance but the primary (a former primary that came back before its pod was stopped) is
 * stopped at once; its container restarts as a standby and rewinds onto the primary's history.
 */
export async function demoteExtraPrimaries(host: InstanceHost, o: Observation): Promise<void> {
  if (!host.state().startsWith('monitoring')) return;
  const primary = host.primary();
  for (const i of o.instances) {
    if (i.name === primary || !i.pg || i.pg.inRecovery || !i.podName) continue;
    await host.stopInstance(i.podName);
    host.event('Warning', 'Demoted', `stopped ${i.name}: it was writable but ${primary} is the primary; it restarts as a standby`);
  }
}

/** How long a replica may sit on an older timeline without streaming before it is restarted (to rewind). */
const STUCK_MS = 20_000;

/**
 * A replica on an older timeline than the primary's that is not streaming holds WAL past the fork point (it
 * received an old primary's last records): it cannot follow by itself. Restarting it makes the entrypoint
 * rewind it onto the primary's history. `since` remembers when each one was first seen stuck.
 */
export async function restartStuckReplicas(host: InstanceHost, o: Observation, since: Map<string, number>): Promise<void> {
  if (!host.state().startsWith('monitoring')) return;
  const primary = o.instances.find((i) => i.name === host.primary());
  const timeline = primary?.pg && !primary.pg.inRecovery ? primary.pg.timeline : undefined;
  const now = Date.now();
  for (const i of o.instances) {
    const stuck = timeline !== undefined && i.name !== primary?.name && i.podName && i.pg?.inRecovery && i.pg.timeline < timeline && i.lagBytes === undefined;
    if (!stuck) {
      since.delete(i.name);
      continue;
    }
    const first = since.get(i.name) ?? now;
    since.set(i.name, first);
    if (now - first < STUCK_MS) continue;
    since.delete(i.name);
    host.event('Warning', 'Rewinding', `${i.name} is on timeline ${i.pg!.timeline}, behind the primary's ${timeline}, and not streaming: restarting it to rewind`);
    await host.stopInstance(i.podName!);
  }
}

/**
 * A replica pointed straight at the new primary's address by a failover (src/actors/failover.ts) keeps it
 * while that is the primary's address; once the primary's pod changes (a restart elsewhere, another
 * failover), or when a failover left it cut off (the operator stopped in between), it gets the primary
 * Service back. One that streams from the primary gets its restore_command back (the failover left it
 * cleared, so that no archive-get held up streaming).
 */
export async function resetStaleUpstreams(host: InstanceHost, o: Observation): Promise<void> {
  if (!host.state().startsWith('monitoring')) return;
  const primary = o.instances.find((i) => i.name === host.primary());
  if (!primary?.pg || primary.pg.inRecovery) return;
  for (const i of o.instances) {
    if (i === primary || !i.podIP || !i.pg?.inRecovery || i.pg.upstream === undefined) continue;
    if (i.pg.upstream === primary.podIP) {
      if (i.pg.streaming && i.pg.archiveOff) await host.query(i.podIP, resetRestoreCommand, 3000);
      continue;
    }
    await host.query(i.podIP, resetUpstream, 3000);
    host.log(`${i.name} followed ${i.pg.upstream || 'nothing'}, not the primary's address ${primary.podIP}: it follows the primary Service again`);
  }
}
