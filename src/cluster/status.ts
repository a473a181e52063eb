/** Pure computation of a pgcluster's status from its actor's state and the latest observation. */
import type { PgClusterStatus } from '../crd/pgcluster.ts';
import type { ClusterContext } from '../machines/cluster.ts';
import { stateName } from '../machines/cluster.ts';
import { chooseTarget } from './failover.ts';

type Condition = NonNullable<PgClusterStatus['conditions']>[number];
type Phase = NonNullable<PgClusterStatus['phase']>;

/** The phase shown to users for a machine state; `previous` is kept while re-applying an unchanged spec. */
export function phaseOf(state: string, context: ClusterContext, previous: Phase | undefined): Phase {
  if (state === 'applying' || state === 'backingOff') {
    if (context.appliedGeneration === 0 && previous === undefined) return 'Creating';
    if (context.generation > context.appliedGeneration) return 'Updating';
    return previous ?? 'Creating';
  }
  if (state === 'monitoring.ready') return 'Ready';
  if (state === 'monitoring.degraded' || state.startsWith('monitoring.primaryUnready')) return 'Degraded';
  if (state.startsWith('failover')) return (context.failover ?? context.completed)?.kind === 'switchover' ? 'Switchover' : 'FailingOver';
  return previous === 'Ready' || previous === 'Degraded' ? previous : 'Creating';
}

/** A condition, keeping its lastTransitionTime while its status stays the same. */
export function condition(type: string, ok: boolean, reason: string, message: string, previous: Condition[] | undefined, generation: number, now: string): Condition {
  const status = ok ? 'True' : 'False';
  const before = previous?.find((c) => c.type === type);
  const lastTransitionTime = before && before.status === status ? before.lastTransitionTime : now;
  return { type, status, reason, message, lastTransitionTime, observedGeneration: generation };
}

/** The next status: phase, actor state, conditions, instances and primary. */
export function nextStatus(current: PgClusterStatus | undefined, value: unknown, context: ClusterContext, now = new Date().toISOString()): PgClusterStatus {
  const state = stateName(value);
  const phase = phaseOf(state, context, current?.phase);
  const o = context.observation;
  const instances = (o?.instances ?? []).map((i) => ({
    name: i.name,
    role: i.name === context.primary ? ('primary' as const) : ('replica' as const),
    ready: i.ready,
    ...(i.node ? { node: i.node } : {}),
    ...(i.podIP ? { podIP: i.podIP } : {}),
    ...(i.pg ? { timeline: i.pg.timeline } : {}),
    ...(i.lagBytes !== undefined ? { lagBytes: i.lagBytes } : {}),
  }));
  const readyCount = instances.filter((i) => i.ready).length;
  const notReady = instances.filter((i) => !i.ready).map((i) => i.name);
  const problems = (o?.instances ?? []).filter((i) => i.problem).map((i) => `${i.name} ${i.problem}`);
  const progressing = phase === 'Creating' || phase === 'Updating';
  const gen = context.generation;
  const conditions = [
    condition('Ready', phase === 'Ready', phase === 'Ready' ? 'AllInstancesReady' : problems.length ? 'Unschedulable' : 'InstancesNotReady',
      problems.length ? problems.join('; ') : notReady.length ? `not ready: ${notReady.join(', ')}` : `${readyCount} of ${instances.length} instances ready`,
      current?.conditions, gen, now),
    condition('Progressing', progressing, context.lastError ? 'ApplyFailed' : progressing ? phase : 'Stable',
      context.lastError ?? (progressing ? `${phase.toLowerCase()} the cluster objects` : 'nothing to do'), current?.conditions, gen, now),
    condition('Degraded', phase === 'Degraded', phase === 'Degraded' ? 'InstanceNotReady' : 'AsExpected',
      phase === 'Degraded' ? `not ready: ${notReady.join(', ')}` : 'no instance is failing', current?.conditions, gen, now),
    primaryCondition(state, context, current?.conditions, gen, now),
    condition('SpecAccepted', !context.rejected, context.rejected?.reason ?? 'Accepted',
      context.rejected ? `generation ${context.rejected.generation} not applied (the instances keep the last good spec): ${context.rejected.message}` : 'the spec is applied',
      current?.conditions, gen, now),
  ];
  return {
    ...current,
    phase,
    state,
    observedGeneration: context.appliedGeneration || current?.observedGeneration,
    currentPrimary: context.primary,
    failover: context.failover,
    fencedInstances: context.fenced.length ? context.fenced : undefined,
    readyInstances: readyCount,
    instances,
    // Conditions of other writers (WALArchiving, from the backup side) are kept as they are.
    conditions: [...conditions, ...(current?.conditions ?? []).filter((c) => !conditions.some((own) => own.type === c.type))],
    pendingRestart: o?.instances.some((i) => i.pg?.pendingRestart) ?? false,
    message: context.lastError ?? context.rejected?.message,
  };
}

/** PrimaryAvailable: whether the primary Service has a healthy primary, and if not, why no failover (yet). */
function primaryCondition(state: string, context: ClusterContext, previous: Condition[] | undefined, gen: number, now: string): Condition {
  const { primary, failover, settings, observation } = context;
  const down = (reason: string, message: string) => condition('PrimaryAvailable', false, reason, message, previous, gen, now);
  if (failover) return down('FailingOver', `${failover.kind} failover from ${failover.from}${failover.to ? ` to ${failover.to}` : ''}: ${failover.reason}`);
  if (state === 'monitoring.primaryUnready.waiting') return down('PrimaryUnready', `primary ${primary} is not Ready or does not answer; failing over after ${settings.failoverDelayMs / 1000} s`);
  if (state === 'monitoring.primaryUnready.expired') {
    if (!settings.autofail) return down('AutofailDisabled', `primary ${primary} is down and automatic failover is disabled: run pgo failover`);
    const choice = observation ? chooseTarget(observation, primary, { sync: settings.sync }) : { none: 'nothing observed yet' };
    return down('NoFailoverCandidate', `primary ${primary} is down and cannot be replaced: ${'none' in choice ? choice.none : 'a candidate appeared'}`);
  }
  return condition('PrimaryAvailable', true, 'PrimaryHealthy', `primary ${primary}`, previous, gen, now);
}

/** The Event that entering `state` records, if any (reason, type, message). */
export function announcement(state: string, context: ClusterContext): { reason: string; type: 'Normal' | 'Warning'; message: string } | undefined {
  const f = context.failover;
  const reasons: Record<string, [string, 'Normal' | 'Warning', string]> = {
    applying: ['Applying', 'Normal', 'applying the cluster objects'],
    backingOff: ['ApplyFailed', 'Warning', context.lastError ?? 'applying failed'],
    'monitoring.initializing': ['Initializing', 'Normal', 'waiting for every instance to become Ready'],
    'monitoring.ready': ['Ready', 'Normal', 'every instance is Ready'],
    'monitoring.degraded': ['Degraded', 'Warning', 'an instance is not Ready'],
    'monitoring.primaryUnready.waiting': ['PrimaryUnready', 'Warning', `primary ${context.primary} is not Ready or does not answer; failover in ${context.settings.failoverDelayMs / 1000} s unless it recovers`],
    'monitoring.primaryUnready.expired': ['FailoverBlocked', 'Warning', context.settings.autofail ? 'no replica can take over yet' : 'automatic failover is disabled for this cluster'],
    'failover.recording': ['FailoverStarted', 'Warning', `${f?.kind} failover from ${f?.from} to ${f?.to}: ${f?.reason}`],
  };
  const entry = reasons[state];
  return entry && { reason: entry[0], type: entry[1], message: entry[2] };
}
