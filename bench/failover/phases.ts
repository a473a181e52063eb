/**
 * Where a failover's time went, from the operator's own timestamps (the history entry's `times` in the
 * pgcluster's status) and two the benchmark sees itself: the primary Service's endpoint becoming the new
 * primary (an EndpointSlice watch) and the writer's first commit.
 */
import { Watch, type V1EndpointSlice } from '@kubernetes/client-node';
import type { LocalCluster } from '../../tests/harness/cluster.ts';

/** The phases of one failover, in order, in milliseconds. */
export const PHASES = ['detection', 'delay', 'recording', 'fencing', 'promoting', 'relabel+endpoint', 'first commit'] as const;
export type Phase = (typeof PHASES)[number];
export type Phases = Partial<Record<Phase, number>>;

/** The operator's times of one failover (ISO strings; `time` is the decision). */
export interface OperatorTimes {
  time: string;
  times?: { lastHealthy?: string; detected?: string; recorded?: string; fenced?: string; promoted?: string; relabeled?: string };
}

/**
 * Phase durations from the fault `t0`, the operator's times, the moment the Service's endpoint was the new
 * primary and the first commit after the outage (epoch ms). A phase whose ends are unknown is left out.
 */
export function phasesOf(t0: number, record: OperatorTimes | undefined, endpointAt: number | undefined, recoveredAt: number | undefined): Phases {
  const ms = (iso?: string) => (iso ? Date.parse(iso) : undefined);
  const r = record?.times;
  const points: [Phase, number | undefined, number | undefined][] = [
    ['detection', t0, ms(r?.detected)],
    ['delay', ms(r?.detected), ms(record?.time)],
    ['recording', ms(record?.time), ms(r?.recorded)],
    ['fencing', ms(r?.recorded), ms(r?.fenced)],
    ['promoting', ms(r?.fenced), ms(r?.promoted)],
    // The Service's endpoint changes as the label is applied, often before the operator hears back from its
    // own patch (its `relabeled` time): one phase from the promotion to the endpoint.
    ['relabel+endpoint', ms(r?.promoted) ?? t0, endpointAt],
    ['first commit', endpointAt, recoveredAt],
  ];
  const out: Phases = {};
  for (const [phase, from, to] of points) if (from !== undefined && to !== undefined) out[phase] = to - from;
  return out;
}

/** Watches the ready endpoints of a Service; `readyAt(pod, after)` is when `pod` first was one after `after`. */
export class EndpointWatch {
  private readonly seen: { t: number; pods: string[] }[] = [];
  private abort?: AbortController;

  constructor(private readonly c: LocalCluster, private readonly namespace: string, private readonly service: string) {}

  async start(): Promise<void> {
    this.abort = await new Watch(this.c.kubeconfig).watch(
      `/apis/discovery.k8s.io/v1/namespaces/${this.namespace}/endpointslices`,
      { labelSelector: `kubernetes.io/service-name=${this.service}` },
      (_type: string, slice: V1EndpointSlice) => {
        const pods = (slice.endpoints ?? []).filter((e) => e.conditions?.ready !== false && e.targetRef?.name).map((e) => e.targetRef!.name!);
        this.seen.push({ t: Date.now(), pods });
      },
      () => undefined,
    );
  }

  stop(): void {
    this.abort?.abort();
  }

  readyAt(pod: string, after: number): number | undefined {
    return this.seen.find((s) => s.t >= after && s.pods.includes(pod))?.t;
  }
}
