/**
 * The lifecycle of one PostgreSQL cluster, without I/O: apply the desired objects, wait for the instances,
 * then follow their readiness (ready ⇄ degraded) and re-apply when the spec changes. Effects are the
 * `applyObjects` actor, provided by src/actors. Events carry observations; guards decide from the latest one.
 */
import { assign, fromPromise, setup } from 'xstate';
import { allReady, type Observation } from '../cluster/observation.ts';

/** Context of the cluster machine. */
export interface ClusterContext {
  /** metadata.generation of the spec to reach. */
  generation: number;
  /** Generation whose objects were last applied (0: never). */
  appliedGeneration: number;
  observation?: Observation;
  /** Consecutive failures to apply, for back-off. */
  failures: number;
  /** Something besides the spec changed (pgreplicas): apply again. */
  dirty: boolean;
  lastError?: string;
}

/** Events of the cluster machine. */
export type ClusterEvent =
  | { type: 'SPEC'; generation: number }
  | { type: 'REFRESH' }
  | { type: 'OBSERVED'; observation: Observation };

/** Input: where a (re)started actor begins; `appliedGeneration` comes from status.observedGeneration. */
export interface ClusterInput {
  generation: number;
  appliedGeneration: number;
}

/** The cluster machine. */
export const clusterMachine = setup({
  types: { context: {} as ClusterContext, events: {} as ClusterEvent, input: {} as ClusterInput },
  actors: {
    /** Applies the objects of the spec at `generation`; resolves to that generation. */
    applyObjects: fromPromise<number, { generation: number }>(() => Promise.reject(new Error('applyObjects is provided by the cluster actor'))),
  },
  guards: {
    allReady: ({ context }) => allReady(context.observation),
    needsApply: ({ context }) => context.dirty || context.generation > context.appliedGeneration,
  },
  delays: {
    // Capped exponential back-off: 1 s, 2 s, 4 s ... 30 s.
    retry: ({ context }) => Math.min(30_000, 1000 * 2 ** Math.max(0, context.failures - 1)),
  },
  actions: {
    observe: assign({ observation: ({ event }) => (event.type === 'OBSERVED' ? event.observation : undefined) }),
    setGeneration: assign({ generation: ({ event, context }) => (event.type === 'SPEC' ? Math.max(event.generation, context.generation) : context.generation) }),
  },
}).createMachine({
  id: 'cluster',
  context: ({ input }) => ({ generation: input.generation, appliedGeneration: input.appliedGeneration, failures: 0, dirty: false }),
  initial: 'applying',
  on: {
    OBSERVED: { actions: 'observe' },
    SPEC: { actions: 'setGeneration' },
    REFRESH: { actions: assign({ dirty: true }) },
  },
  states: {
    applying: {
      meta: { description: 'server-side applying the desired objects' },
      entry: assign({ dirty: false }),
      invoke: {
        src: 'applyObjects',
        input: ({ context }) => ({ generation: context.generation }),
        onDone: {
          target: 'monitoring',
          actions: assign({ appliedGeneration: ({ event }) => event.output, failures: 0, lastError: undefined }),
        },
        onError: {
          target: 'backingOff',
          actions: assign({ failures: ({ context }) => context.failures + 1, lastError: ({ event }) => String((event.error as Error)?.message ?? event.error) }),
        },
      },
    },
    backingOff: {
      meta: { description: 'applying failed; retrying after a delay' },
      after: { retry: 'applying' },
    },
    monitoring: {
      initial: 'initializing',
      always: { guard: 'needsApply', target: 'applying' },
      states: {
        initializing: {
          meta: { description: 'waiting for every instance to become Ready' },
          always: { guard: 'allReady', target: 'ready' },
        },
        ready: {
          meta: { description: 'every instance Ready' },
          always: { guard: ({ context }) => !allReady(context.observation), target: 'degraded' },
        },
        degraded: {
          meta: { description: 'an instance is not Ready' },
          always: { guard: 'allReady', target: 'ready' },
        },
      },
    },
  },
});

/** A state value of the cluster machine as a dotted string (`monitoring.ready`). */
export function stateName(value: unknown): string {
  if (typeof value === 'string') return value;
  const [key, sub] = Object.entries(value as Record<string, unknown>)[0] ?? ['unknown', undefined];
  return sub === undefined ? key : `${key}.${stateName(sub)}`;
}
