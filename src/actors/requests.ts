/**
 * Failover and switchover requests (pgtasks written by the API) for one cluster actor: accepted (task
 * Running, later Succeeded by the relabel step) or refused (task Failed, with the reason and an Event).
 */
import { chooseTarget, primaryHealthy } from '../cluster/failover.ts';
import type { PgClusterResource, PgTaskResource } from '../crd/types.ts';
import type { CustomResources } from '../k8s/custom.ts';
import type { EventRecorder } from '../k8s/events.ts';
import type { ClusterContext, ClusterEvent, FailoverRequest } from '../machines/cluster.ts';

/** What request handling needs from its cluster actor. */
export interface RequestHost {
  cluster(): PgClusterResource;
  context(): ClusterContext;
  state(): string;
  /** Whether the machine would take `event` now (its guards included). */
  can(event: ClusterEvent): boolean;
  send(event: ClusterEvent): void;
  tasks: CustomResources<PgTaskResource>;
  events: EventRecorder;
}

/** Why the machine would not take `request` now, for the task's message. */
export function refusal(context: ClusterContext, state: string, request: FailoverRequest): string {
  if (context.failover) return `a ${context.failover.kind} failover from ${context.failover.from} is already in progress`;
  if (!state.startsWith('monitoring')) return `the cluster is ${state}; try again when it is monitoring its instances`;
  if (!context.observation) return 'the cluster has not been observed yet; try again in a few seconds';
  const healthy = primaryHealthy(context.observation, context.primary);
  if (request.kind === 'switchover' && !healthy) return `the primary ${context.primary} is not healthy: use a failover, not a switchover`;
  const c = chooseTarget(context.observation, context.primary, { sync: context.settings.sync, target: request.target, catchUp: healthy });
  return 'none' in c ? c.none : 'refused';
}

/** The requests of one cluster: each task is handled once; while the actor is (re)applying, they wait. */
export class FailoverRequests {
  private readonly handled = new Set<string>();
  private waiting: PgTaskResource[] = [];

  constructor(private readonly host: RequestHost) {}

  /** A failover or switchover pgtask arrived (or changed). */
  async request(task: PgTaskResource): Promise<void> {
    const { name } = task.metadata;
    if (this.handled.has(name) || task.status?.phase) return;
    // While (re)applying or before the first observation, a request waits instead of being refused: an
    // operator that just started is briefly in `applying`.
    const context = this.host.context();
    if (!context.failover && (!this.host.state().startsWith('monitoring') || !context.observation)) {
      if (!this.waiting.some((t) => t.metadata.name === name)) this.waiting.push(task);
      return;
    }
    this.handled.add(name);
    const kind = task.spec.type === 'switchover' ? 'switchover' : 'manual';
    const request: FailoverRequest = { kind, target: task.spec.target, task: name };
    const event = { type: 'FAILOVER', request, now: new Date().toISOString() } as const;
    if (!this.host.can(event)) {
      await this.finish(name, false, refusal(context, this.host.state(), request));
      return;
    }
    await this.set(name, { phase: 'Running', message: `${kind === 'switchover' ? 'switchover' : 'failover'} started`, startTime: event.now });
    this.host.send(event);
  }

  /** Offers the waiting requests again (after an observation). */
  async retryWaiting(): Promise<void> {
    for (const task of this.waiting.splice(0)) await this.request(task);
  }

  /** Ends a task: Succeeded, or Failed with a Warning Event. */
  async finish(task: string, ok: boolean, message: string): Promise<void> {
    await this.set(task, { phase: ok ? 'Succeeded' : 'Failed', message, completionTime: new Date().toISOString() });
    if (!ok) this.host.events.record(this.host.cluster(), 'Warning', 'FailoverRefused', `pgtask ${task}: ${message}`);
  }

  private async set(task: string, status: NonNullable<PgTaskResource['status']>): Promise<void> {
    await this.host.tasks.updateStatus(this.host.cluster().metadata.namespace, task, (t) => ({ ...t.status, ...status }));
  }
}
