/** One benchmark run: a healthy target under write load, one fault, recovery, restore, and the count of lost commits. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { LocalCluster } from '../../tests/harness/cluster.ts';
import { nodes } from '../../tests/harness/cluster.ts';
import { waitFor } from '../../tests/harness/wait.ts';
import { describeError } from '../../src/k8s/custom.ts';
import { inject, type Fault, type Injected } from './faults.ts';
import { query, waitHealthy } from './health.ts';
import { readyBackends, serviceAddress, type Backend } from './k8s.ts';
import { EndpointWatch, phasesOf, type Phases } from './phases.ts';
import type { Credentials, Target } from './target.ts';
import { startWriter, type Writer } from './writer.ts';

/** Bounds of one run, in milliseconds. */
export interface Limits {
  /** From the fault to the first commit after it; past it the run is "no recovery". */
  recoveryMs: number;
  /** For the target to be healthy again after the fault is undone. */
  healthyMs: number;
}

/** What one run measured. */
export interface RunResult {
  /** Fault → first acknowledged commit after the outage, in ms; undefined: no recovery within the limit. */
  rtoMs?: number;
  /** Acknowledged commits missing on the primary afterwards; undefined when it could not be checked. */
  lost?: number;
  acked: number;
  /** The pod behind the primary Service before and after. */
  from: string;
  to?: string;
  /** Set when the target did not come back healthy (the caller redeploys it). */
  unhealthy?: string;
  /** Set when the run failed before the fault (target never healthy, writer could not commit): not measured. */
  error?: string;
  /** Where the time went (targets that record their failover steps; see phases.ts). */
  phases?: Phases;
}

const TABLE = 'failover_bench';

/**
 * The recovery point: the first acknowledgement after the first failed attempt at or after `since`.
 * Undefined while the writer has not recovered; `t0` itself when no attempt failed within `graceMs` of it.
 */
export function recoveredAt(w: Pick<Writer, 'acks' | 'errors'>, since: number, t0: number, graceMs: number): number | undefined {
  const failure = w.errors.find((e) => e.t >= since);
  if (!failure) return w.acks.some((a) => a.t > t0 + graceMs) ? t0 : undefined;
  return w.acks.find((a) => a.t > failure.t)?.t;
}

/** Runs `fault` once against `target`, which must be deployed. */
export async function runOnce(c: LocalCluster, target: Target, fault: Fault, limits: Limits): Promise<RunResult> {
  let cred: Credentials, primary: Backend, svc: { host: string; port: number };
  try {
    cred = await waitFor(`credentials of ${target.name}`, () => target.credentials(c), limits.healthyMs, 1000);
    primary = await waitHealthy(c, target, cred, limits.healthyMs);
    await query(primary.ip, cred, `CREATE TABLE IF NOT EXISTS ${TABLE} (v bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now()); TRUNCATE ${TABLE}`);
    svc = await serviceAddress(c, target.namespace, target.primaryService);
  } catch (err) {
    return { acked: 0, from: '?', error: describeError(err) };
  }
  // The client sits on a node the fault does not touch, like an application pod elsewhere in the cluster.
  const clientNode = nodes.find((n) => n !== primary.node)!;
  const writer = startWriter(`pgo-${clientNode}`, { ...svc, ...cred, table: TABLE });
  const endpoints = new EndpointWatch(c, target.namespace, target.primaryService);
  await endpoints.start();
  let injected: Injected | undefined;
  const result: RunResult = { acked: 0, from: primary.pod };
  try {
    const warm = Date.now();
    while (writer.acks.length < 20 || Date.now() - warm < 2000) {
      if (Date.now() - warm > 30_000) {
        return { ...result, error: `writer on ${clientNode} could not commit through ${svc.host}:${svc.port} (${writer.errors.at(-1)?.code ?? 'no error'})` };
      }
      await sleep(50);
    }
    const since = Date.now();
    injected = await inject(c, target, primary, fault);
    const { t0 } = injected;
    for (;;) {
      const at = recoveredAt(writer, since, t0, 10_000);
      if (at !== undefined) {
        result.rtoMs = at - t0;
        break;
      }
      if (Date.now() - t0 > limits.recoveryMs) break;
      await sleep(50);
    }
    if (result.rtoMs !== undefined) await sleep(3000);   // more commits on the new primary
  } finally {
    await writer.stop();
    await injected?.restore();
  }
  result.acked = writer.acks.length;
  try {
    const now = await waitHealthy(c, target, cred, limits.healthyMs);
    result.to = now.pod;
  } catch (err) {
    result.unhealthy = describeError(err);
  }
  endpoints.stop();
  if (injected && target.failoverTimes) {
    const { t0 } = injected;
    const record = await target.failoverTimes(c, t0).catch(() => undefined);
    const endpointAt = result.to && result.to !== result.from ? endpoints.readyAt(result.to, t0) : undefined;
    result.phases = phasesOf(t0, record, endpointAt, result.rtoMs === undefined ? undefined : t0 + result.rtoMs);
  }
  result.lost = await lostCommits(c, target, writer.acks.map((a) => a.v)).catch(() => undefined);
  return result;
}

/** Acknowledged values missing on the pod behind the primary Service. */
async function lostCommits(c: LocalCluster, target: Target, acked: number[]): Promise<number> {
  const [primary] = await readyBackends(c, target.namespace, target.primaryService);
  if (!primary) throw new Error('no primary');
  const rows = await query<{ n: number }>(primary.ip, await target.credentials(c), `SELECT count(*)::int AS n FROM ${TABLE} WHERE v = ANY($1::bigint[])`, [acked]);
  return acked.length - rows[0]!.n;
}
