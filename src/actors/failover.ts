/**
 * Effects of the failover states (see src/machines/cluster.ts): fence the old primary, promote the target,
 * relabel. Each one is safe to run again after an operator restart, and retries on its own until it
 * succeeds or its state is left (the machine cancels it through `signal`).
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { SELF_FENCED_WITHIN_MS, lsnValue, type FailoverIntent, type Role } from '../cluster/failover.ts';
import type { Observation } from '../cluster/observation.ts';
import type { PgClusterResource } from '../crd/types.ts';
import { PrimaryLost } from '../machines/cluster.ts';
import { describeError } from '../k8s/custom.ts';
import type pg from 'pg';
import { attachStandby, checkpoint, detachStandby, instanceState, lastAsked, promote, standbyConninfo, stopServer, type InstanceState } from '../pg/instance.ts';

/** What the failover effects need from their cluster actor. */
export interface FailoverHost {
  cluster(): PgClusterResource;
  observation(): Observation | undefined;
  /**
   * Pods now (from the informer, not the last observation), terminating ones left out: those of `instance`,
   * or of every instance of the cluster.
   */
  livePods(instance?: string): { instance: string; name: string; ip?: string; role?: string }[];
  /** Runs `work` on the instance at `podIP` (the actor's long-lived connection), failing after `timeoutMs`. */
  query<T>(podIP: string, work: (client: pg.Client) => Promise<T>, timeoutMs: number): Promise<T>;
  /** False when the latest call to `podIP` did not answer (a frozen or cut-off server is not asked again). */
  answers(podIP: string): boolean | undefined;
  /** Sets an instance's pod role label (no-op when it has no pod). */
  setRole(instance: string, role: Role): Promise<void>;
  /** Applies an instance's Deployment as planned now (a fenced instance at zero pods). */
  applyDeployment(instance: string): Promise<void>;
  /** Stops PostgreSQL in an instance's pod (fast shutdown); its container then restarts as a standby. */
  stopInstance(podName: string): Promise<void>;
  /** The port PostgreSQL listens on. */
  port(): number;
  /** Resolves once the actor's current status is written. */
  flushStatus(): Promise<void>;
  appendHistory(intent: FailoverIntent): Promise<void>;
  finishTask(task: string, ok: boolean, message: string): Promise<void>;
  createReplacementReplica(seed: string): Promise<void>;
  event(type: 'Normal' | 'Warning', reason: string, message: string): void;
  log(line: string): void;
}

/**
 * Synchronous replication: the target did not receive all the old primary wrote before it stopped (another
 * replica may have, and acknowledged it): the machine chooses again rather than promote it.
 */
export class TargetBehind extends Error {}

/** Runs `work` until it succeeds, backing off up to 2 s between tries; gives up only when `signal` aborts. */
export async function untilDone(what: string, work: () => Promise<void>, signal: AbortSignal, log: (line: string) => void): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if (signal.aborted) throw err;
      // Decisions for the machine, not failures to retry.
      if (err instanceof TargetBehind || err instanceof PrimaryLost) {
        log(`${what}: ${describeError(err)}`);
        throw err;
      }
      log(`${what} (attempt ${attempt}): ${describeError(err)}; retrying`);
      await sleep(Math.min(2000, 200 * attempt), undefined, { signal });
    }
  }
}

/**
 * The address of instance `name`: from the latest observation, else from the informer (an operator restarted
 * in the middle of a failover resumes it before its first observation).
 */
const addressOf = (host: FailoverHost, name: string | undefined) =>
  host.observation()?.instances.find((i) => i.name === name)?.podIP ?? (name === undefined ? undefined : host.livePods(name).find((p) => p.ip)?.ip);

/** The members but `from` (not an instance being restored into), from the informer: observed or not. */
const othersThan = (host: FailoverHost, from: string) => [...new Set(host.livePods().filter((p) => p.instance !== from && p.role !== 'restore').map((p) => p.instance))];

/**
 * Takes the old primary out of the primary Service first: its pod is relabeled `fenced`, which the
 * API server applies even when the pod's node is down or cut off. If it still answers, it is stopped cleanly
 * and the target waits for everything it wrote. Then every replica is cut off it (primary_conninfo cleared):
 * an old primary that the operator cannot reach but a replica can gets no more WAL to it and no
 * acknowledgement of a synchronous commit from it. A failed primary's Deployment then goes to zero pods (so
 * its node, if it comes back, stops it); it returns as a replica only once that pod is gone. After a
 * switchover the old primary's container simply restarts as a standby in the same pod. With asynchronous
 * replication, an old primary that does not answer but that the replicas still hear is first left time to
 * stop itself (see awaitSelfFence).
 * @throws TargetBehind (synchronous replication) when the target lacks WAL another replica has, or a replica
 *   could not be cut off (it might still acknowledge the old primary's commits)
 */
export async function fence(host: FailoverHost, intent: FailoverIntent, signal?: AbortSignal): Promise<void> {
  await host.setRole(intent.from, 'fenced');
  if (intent.kind === 'restore') {
    // The restored instance does not stream from the old primary: nothing to wait for, only to stop it.
    await stopWritablePods(host, intent.from).catch((err: unknown) => host.log(`stopping ${intent.from}: ${describeError(err)}`));
    await host.applyDeployment(intent.from);
    host.event('Normal', 'Fenced', `took ${intent.from} out of the primary Service and stopped it: ${intent.reason}`);
    return;
  }
  // An old primary that still answers is stopped cleanly first, whatever the kind: its shutdown checkpoint
  // then reaches every connected standby, the target included, so no replica ends up past the fork point.
  const stopped = await stopCleanly(host, intent);
  if (intent.kind === 'switchover' && !stopped) throw new PrimaryLost(`${intent.from} did not answer to be stopped cleanly`);
  if (!stopped && !host.cluster().spec.syncReplication) await awaitSelfFence(host, intent, signal);
  await cutReplicasOff(host, intent);
  if (intent.kind !== 'switchover') {
    await host.applyDeployment(intent.from);
    host.event('Warning', 'Fenced', `took ${intent.from} out of the primary Service, stopped it and cut every replica off it (${intent.reason})`);
  }
}

/**
 * Stops (fast shutdown) every pod of `instance` that answers as a primary; resolves to the last WAL position
 * any of them had. Every pod now, not only the one last observed: a replacement pod (the old one was
 * deleted) may have started as the primary since, and its clients' commits must reach the target too.
 * A pod whose server did not answer the operator's latest call (frozen, cut off) is not asked again: it is
 * stopped through the kubelet in the background, which may never answer either.
 */
async function stopWritablePods(host: FailoverHost, instance: string): Promise<string | undefined> {
  let finalLsn: string | undefined;
  await Promise.all(
    host.livePods(instance).map(async (pod) => {
      if (!pod.ip) return;
      const state = host.answers(pod.ip) === false ? undefined : await host.query(pod.ip, instanceState, 1000).catch(() => undefined);
      if (!state) {
        host.stopInstance(pod.name).catch((err: unknown) => host.log(`stopping ${pod.name}, which does not answer: ${describeError(err)}`));
        return;
      }
      if (state.inRecovery) return;
      if (lsnValue(state.currentLsn) > lsnValue(finalLsn)) finalLsn = state.currentLsn ?? undefined;
      // From inside, over the connection that just answered; through the kubelet if that fails.
      await host.query(pod.ip, stopServer, 2000).catch(() => host.stopInstance(pod.name));
    }),
  );
  return finalLsn;
}

/**
 * Stops a still-writable old primary (fast shutdown) and waits until the target has received all it wrote;
 * false when no pod of it answered as a primary (nothing was stopped cleanly).
 */
async function stopCleanly(host: FailoverHost, intent: FailoverIntent): Promise<boolean> {
  const finalLsn = await stopWritablePods(host, intent.from);
  const targetIP = addressOf(host, intent.to);
  if (!finalLsn) return false;
  if (!targetIP) return true;
  // Fast shutdown sends the final WAL (the shutdown checkpoint, after every dirty buffer is written) to each
  // connected standby and ends its stream once that standby has flushed it: the target has everything once
  // it is past finalLsn and no longer streaming. Past finalLsn alone is not enough: the rest may be on its
  // way, and the target cut off before it arrives would be behind a replica that got it.
  for (let i = 0; i < 150; i++) {
    const state = await host.query(targetIP, instanceState, 2000);
    if (lsnValue(state.receivedLsn) > lsnValue(finalLsn) && !state.streaming) return true;
    await sleep(200);
  }
  // A switchover, or synchronous replication, promises to lose nothing: retry (the old primary is stopped by
  // now). An asynchronous failover goes on.
  const behind = `${intent.to} did not receive the old primary's WAL up to ${finalLsn} within 30 s`;
  if (intent.kind === 'switchover') throw new Error(behind);
  if (host.cluster().spec.syncReplication) throw new TargetBehind(`${behind}: choosing again among the replicas`);
  host.log(`${intent.to} did not receive the old primary's WAL up to ${finalLsn} within 30 s; failing over anyway`);
  return true;
}

/**
 * A replica that has heard nothing from the old primary for this long (ms) is no longer fed by it. Above the
 * keepalive interval of an idle primary (wal_sender_timeout / 2 = 2.5 s): an idle live one is heard of that
 * rarely, and its clients may start writing again.
 */
export const SILENT_MS = 3000;

/**
 * Whether the old primary still feeds its replicas, from `silences()`: how long (ms) each replica that streams
 * from it has heard nothing. True once a message reaches one after this call began (alive), false once every one
 * has been silent for SILENT_MS or none streams (crashed, frozen, its node stopped or cut off). Watched, not
 * sampled once: a primary that froze 2.5 s ago under load and an idle live one look alike in one sample; only
 * the live one is heard again.
 */
export async function stillFeeds(silences: () => Promise<number[]>, signal?: AbortSignal): Promise<boolean> {
  const since = Date.now();
  for (;;) {
    const asked = Date.now();
    const heard = await silences();
    if (!heard.length) return false;
    const silent = Math.min(...heard);
    // The margin covers the query's own latency and the millisecond rounding of the silence.
    if (asked - silent > since + HEARD_MARGIN_MS) return true;
    if (silent >= SILENT_MS) return false;
    await sleep(Math.min(200, SILENT_MS - silent), undefined, { signal });
  }
}
const HEARD_MARGIN_MS = 100;

/**
 * An old primary that does not answer the operator while its replicas still hear it is cut off from the
 * control plane only: its clients may well reach it, and with asynchronous replication it acknowledges their
 * commits whether or not a replica has them. Its watchdog stops it once no query of the operator has reached
 * it for a while and the API server does not answer (the image's self-fencing): wait until then before
 * cutting the replicas off it, so that they receive all it acknowledged, its shutdown checkpoint included,
 * and there is never a second writer. (Synchronous replication needs no wait: a replica cut off acknowledges
 * nothing more.) An old primary nobody hears (crashed, frozen, its node stopped or cut off) is not waited for.
 */
async function awaitSelfFence(host: FailoverHost, intent: FailoverIntent, signal?: AbortSignal): Promise<void> {
  const replicas = host.livePods().filter((p) => p.ip && p.instance !== intent.from).map((p) => p.ip!);
  const silences = async () => {
    const states = await Promise.all(replicas.map((ip) => host.query(ip, instanceState, 1000).catch(() => undefined)));
    return states.flatMap((s) => (s?.streaming && s.heardMsAgo !== undefined ? [s.heardMsAgo] : []));
  };
  if (!(await stillFeeds(silences, signal))) return;
  // A restarted operator does not know when the one before it last asked: it counts from now.
  const asked = host.livePods(intent.from).map((p) => (p.ip && lastAsked(p.ip)) || Date.now());
  const wait = Math.max(Date.now(), ...asked) + SELF_FENCED_WITHIN_MS - Date.now();
  if (wait <= 0) return;
  host.event('Warning', 'AwaitingSelfFence', `${intent.from} does not answer but its replicas still hear it: waiting ${(wait / 1000).toFixed(1)} s for it to stop itself before the replicas are cut off it`);
  await sleep(wait, undefined, { signal });
}

/**
 * Cuts every replica (the target too) off the old primary and compares what each has received, now that it
 * no longer moves. With synchronous replication a commit acknowledged by any of them must survive: a target
 * behind another replica, or a replica that could not be cut off, makes the machine choose again.
 */
async function cutReplicasOff(host: FailoverHost, intent: FailoverIntent): Promise<void> {
  const sync = host.cluster().spec.syncReplication;
  // Every member with a pod, observed or not: a replica left out would go on streaming from the old primary.
  const replicas = othersThan(host, intent.from);
  const results = await Promise.all(
    replicas.map(async (name) => {
      const ips = host.livePods(name).flatMap((p) => (p.ip ? [p.ip] : []));
      const states = await Promise.all(ips.map((ip) => host.query(ip, detachStandby, 6000)));
      return { name, received: states.map((s: InstanceState) => s.receivedLsn).sort((a, b) => Number(lsnValue(b) - lsnValue(a)))[0] };
    }).map((p, i) => p.catch((err: unknown) => ({ name: replicas[i]!, error: describeError(err) }))),
  );
  const failed = results.filter((r): r is { name: string; error: string } => 'error' in r);
  if (failed.length) {
    const what = `could not cut ${failed.map((f) => `${f.name} (${f.error})`).join(', ')} off the old primary`;
    if (sync) throw new TargetBehind(`${what}: it might still acknowledge its commits; choosing again`);
    host.log(`${what}; failing over anyway (asynchronous replication)`);
  }
  const target = results.find((r) => r.name === intent.to);
  const ahead = results.filter((r): r is { name: string; received: string | null } => 'received' in r && r.name !== intent.to && lsnValue(r.received) > lsnValue(target && 'received' in target ? target.received : undefined));
  if (!ahead.length) return;
  const what = `${intent.to} has received less than ${ahead.map((a) => `${a.name} (${a.received})`).join(', ')}`;
  if (sync) throw new TargetBehind(`${what}: choosing again among the replicas`);
  host.log(`${what}; failing over anyway (asynchronous replication)`);
}

/**
 * Points every replica cut off during fencing straight at the new primary's address: it streams at once
 * (a synchronous primary commits only once one does), without waiting for its node to learn the primary
 * Service's new endpoint, and never reaches the old primary through a stale one. The upkeep later gives a
 * replica back the Service when the primary's address changes (src/actors/instances.ts).
 */
async function attachReplicas(host: FailoverHost, intent: FailoverIntent): Promise<void> {
  // Run after `complete`, which drops the observation: the pods come from the informer.
  const primaryIP = host.livePods(intent.to).find((p) => p.ip)?.ip;
  if (!primaryIP || intent.kind === 'restore') return;
  // Replicas only: not the old primary (fenced), nor an instance being restored (it must not stream).
  const others = host.livePods().filter((p) => p.ip && p.role === 'replica' && p.instance !== intent.to);
  await Promise.all(
    others.map((pod) =>
      host.query(pod.ip!, (c) => attachStandby(c, standbyConninfo(primaryIP, host.port(), pod.name)), 3000).catch((err: unknown) => host.log(`pointing ${pod.instance} at ${intent.to}: ${describeError(err)}`)),
    ),
  );
}

/**
 * Promotes the target (once: an instance already out of recovery is left alone). On failure the target is
 * stopped before the machine chooses again: a promote request that reached it would still make it a primary
 * later, beside the next target (it restarts as a standby, the request forgotten). The next choice takes an
 * instance that became writable meanwhile (see writableOtherThan).
 */
export async function promoteTarget(host: FailoverHost, intent: FailoverIntent): Promise<void> {
  try {
    await promoteOnce(host, intent);
  } catch (err) {
    host.log(`promoting ${intent.to}: ${describeError(err)}; stopping it and choosing again`);
    await Promise.all(host.livePods(intent.to).map((pod) => host.stopInstance(pod.name).catch((e: unknown) => host.log(`stopping ${pod.name}: ${describeError(e)}`))));
    await sleep(1000);
    throw err;
  }
}

async function promoteOnce(host: FailoverHost, intent: FailoverIntent): Promise<void> {
  // A restored instance promoted itself at its target, and the restore checked it before asking.
  if (intent.kind === 'restore') return;
  const ip = addressOf(host, intent.to);
  if (!ip) throw new Error(`${intent.to} has no pod IP to promote`);
  await host.query(ip, promote, 35_000);
  host.event('Normal', 'Promoted', `promoted ${intent.to} to primary`);
}

/**
 * Makes the new primary official: status first (so a restart labels by it), then the label that puts the
 * pod behind the primary Service; then history, the Event, the task and an optional replacement replica.
 */
export async function relabel(host: FailoverHost, intent: FailoverIntent): Promise<void> {
  await host.flushStatus();
  await host.setRole(intent.to!, 'primary');
  const relabeled = { ...intent, times: { ...intent.times, relabeled: new Date().toISOString() } };
  await attachReplicas(host, intent);
  if (intent.kind === 'switchover') await host.setRole(intent.from, 'replica');
  await host.appendHistory(relabeled);
  // The control file names the new timeline only after a checkpoint; until then pg_rewind of the old primary
  // against this one would find "no rewind required" (the entrypoint asks for one too before rewinding).
  const ip = host.livePods(intent.to).find((p) => p.ip)?.ip;
  if (ip) await host.query(ip, checkpoint, 30_000).catch((err: unknown) => host.log(`checkpoint on ${intent.to}: ${describeError(err)}`));
  const what = intent.kind === 'switchover' ? 'switched over' : intent.kind === 'restore' ? 'switched to the restored instance' : 'failed over';
  const reason = intent.kind === 'switchover' ? 'SwitchedOver' : intent.kind === 'restore' ? 'SwitchedToRestored' : 'FailedOver';
  host.event('Normal', reason, `${what} from ${intent.from} to ${intent.to} (${intent.kind}: ${intent.reason})`);
  // A restore's task is the restore's to finish (it still releases the old volumes).
  if (intent.task && intent.kind !== 'restore') await host.finishTask(intent.task, true, `${what} from ${intent.from} to ${intent.to}`);
  if (intent.kind === 'automatic' && host.cluster().spec.autofailReplaceReplica) {
    await host.createReplacementReplica(createHash('sha256').update(`${intent.from}/${intent.startTime}`).digest('hex'));
  }
}
