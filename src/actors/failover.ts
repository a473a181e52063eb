/**
 * Effects of the failover states (see src/machines/cluster.ts): fence the old primary, promote the target,
 * relabel. Each one is safe to run again after an operator restart, and retries on its own until it
 * succeeds or its state is left (the machine cancels it through `signal`).
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { lsnValue, type FailoverIntent, type Role } from '../cluster/failover.ts';
import type { Observation } from '../cluster/observation.ts';
import type { PgClusterResource } from '../crd/types.ts';
import { describeError } from '../k8s/custom.ts';
import { instanceState, promote, withInstance, type Endpoint } from '../pg/instance.ts';

/** What the failover effects need from their cluster actor. */
export interface FailoverHost {
  cluster(): PgClusterResource;
  observation(): Observation | undefined;
  /** The instance's pods now (from the informer, not the last observation): name and IP, terminating ones left out. */
  livePods(instance: string): { name: string; ip?: string }[];
  endpoint(podIP: string): Promise<Endpoint>;
  /** Sets an instance's pod role label (no-op when it has no pod). */
  setRole(instance: string, role: Role): Promise<void>;
  /** Applies an instance's Deployment as planned now (a fenced instance at zero pods). */
  applyDeployment(instance: string): Promise<void>;
  /** Stops PostgreSQL in an instance's pod (fast shutdown); its container then restarts as a standby. */
  stopInstance(podName: string): Promise<void>;
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
      if (signal.aborted || err instanceof TargetBehind) throw err;
      log(`${what} (attempt ${attempt}): ${describeError(err)}; retrying`);
      await sleep(Math.min(2000, 200 * attempt), undefined, { signal });
    }
  }
}

const instance = (host: FailoverHost, name: string | undefined) => host.observation()?.instances.find((i) => i.name === name);

/**
 * Takes the old primary out of the primary Service first: its pod is relabeled `fenced`, which the
 * API server applies even when the pod's node is down or cut off. If it still answers, it is stopped cleanly
 * and the target waits for everything it wrote. A failed primary's Deployment then goes to zero pods (so its
 * node, if it comes back, stops it); it returns as a replica only once that pod is gone. After a switchover
 * the old primary's container simply restarts as a standby in the same pod.
 */
export async function fence(host: FailoverHost, intent: FailoverIntent): Promise<void> {
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
  await stopCleanly(host, intent);
  if (intent.kind !== 'switchover') {
    await host.applyDeployment(intent.from);
    host.event('Warning', 'Fenced', `took ${intent.from} out of the primary Service and stopped its pod (${intent.reason})`);
  }
}

/**
 * Stops (fast shutdown) every pod of `instance` that answers as a primary; resolves to the last WAL position
 * any of them had. Every pod now, not only the one last observed: a replacement pod (the old one was
 * deleted) may have started as the primary since, and its clients' commits must reach the target too.
 * Each is asked for a second at most: a frozen or cut-off one is not waited for.
 */
async function stopWritablePods(host: FailoverHost, instance: string): Promise<string | undefined> {
  let finalLsn: string | undefined;
  for (const pod of host.livePods(instance)) {
    if (!pod.ip) continue;
    const state = await withInstance(await host.endpoint(pod.ip), instanceState, 1000).catch(() => undefined);
    if (state && !state.inRecovery) {
      if (lsnValue(state.currentLsn) > lsnValue(finalLsn)) finalLsn = state.currentLsn ?? undefined;
      await host.stopInstance(pod.name);
    }
  }
  return finalLsn;
}

/** Stops a still-writable old primary (fast shutdown) and waits until the target has received all it wrote. */
async function stopCleanly(host: FailoverHost, intent: FailoverIntent): Promise<void> {
  const finalLsn = await stopWritablePods(host, intent.from);
  const target = instance(host, intent.to);
  if (!finalLsn || !target?.podIP) return;
  // Fast shutdown sends the final WAL (the shutdown checkpoint) to connected standbys before it exits.
  const endpoint = await host.endpoint(target.podIP);
  for (let i = 0; i < 150; i++) {
    const state = await withInstance(endpoint, instanceState);
    if (lsnValue(state.receivedLsn) > lsnValue(finalLsn)) return;
    await sleep(200);
  }
  // A switchover, or synchronous replication, promises to lose nothing: retry (the old primary is stopped by
  // now). An asynchronous failover goes on.
  const behind = `${intent.to} did not receive the old primary's WAL up to ${finalLsn} within 30 s`;
  if (intent.kind === 'switchover') throw new Error(behind);
  if (host.cluster().spec.syncReplication) throw new TargetBehind(`${behind}: choosing again among the replicas`);
  host.log(`${intent.to} did not receive the old primary's WAL up to ${finalLsn} within 30 s; failing over anyway`);
}

/** Promotes the target (once: an instance already out of recovery is left alone). */
export async function promoteTarget(host: FailoverHost, intent: FailoverIntent): Promise<void> {
  // A restored instance promoted itself at its target, and the restore checked it before asking.
  if (intent.kind === 'restore') return;
  const target = instance(host, intent.to);
  if (!target?.podIP) throw new Error(`${intent.to} has no pod IP to promote`);
  await withInstance(await host.endpoint(target.podIP), promote, 35_000);
  host.event('Normal', 'Promoted', `promoted ${intent.to} to primary`);
}

/**
 * Makes the new primary official: status first (so a restart labels by it), then the label that puts the
 * pod behind the primary Service; then history, the Event, the task and an optional replacement replica.
 */
export async function relabel(host: FailoverHost, intent: FailoverIntent): Promise<void> {
  await host.flushStatus();
  await host.setRole(intent.to!, 'primary');
  if (intent.kind === 'switchover') await host.setRole(intent.from, 'replica');
  await host.appendHistory(intent);
  const what = intent.kind === 'switchover' ? 'switched over' : intent.kind === 'restore' ? 'switched to the restored instance' : 'failed over';
  const reason = intent.kind === 'switchover' ? 'SwitchedOver' : intent.kind === 'restore' ? 'SwitchedToRestored' : 'FailedOver';
  host.event('Normal', reason, `${what} from ${intent.from} to ${intent.to} (${intent.kind}: ${intent.reason})`);
  // A restore's task is the restore's to finish (it still releases the old volumes).
  if (intent.task && intent.kind !== 'restore') await host.finishTask(intent.task, true, `${what} from ${intent.from} to ${intent.to}`);
  if (intent.kind === 'automatic' && host.cluster().spec.autofailReplaceReplica) {
    await host.createReplacementReplica(createHash('sha256').update(`${intent.from}/${intent.startTime}`).digest('hex'));
  }
}
