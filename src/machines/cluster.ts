/**
 * The lifecycle and failover of one PostgreSQL cluster, without I/O: apply the desired objects, follow the
 * instances' readiness, and when the primary is lost (or a user asks) replace it:
 *
 *   monitoring.primaryUnready (failover delay) → failover.choosing → recording → fencing → promoting →
 *   relabeling → monitoring
 *
 * Effects are invoked promise actors provided by src/actors (`applyObjects`, `recordIntent`, `fence`,
 * `promote`, `relabel`); each is safe to run twice, because a restarted operator resumes from the intent
 * kept in status. Events carry observations; guards decide from the latest one.
 */
import { assign, fromPromise, setup } from 'xstate';
import { chooseTarget, primaryHealthy, writableOtherThan, type Choice, type FailoverIntent, type FailoverTimes } from '../cluster/failover.ts';
import { allReady, type Observation } from '../cluster/observation.ts';

/** Failover settings of a cluster (spec and operator defaults). */
export interface FailoverSettings {
  autofail: boolean;
  /** How long the primary may be unhealthy before an automatic failover. */
  failoverDelayMs: number;
  /** Synchronous replication: only promote with every replica's position known. */
  sync: boolean;
  /** Node preferred between equally advanced candidates. */
  preferredNode?: string;
}

/** Context of the cluster machine. */
export interface ClusterContext {
  /** metadata.generation of the spec to reach. */
  generation: number;
  /** Generation whose objects were last applied (0: never). */
  appliedGeneration: number;
  observation?: Observation;
  /** Consecutive failures to apply, for back-off. */
  failures: number;
  /** Something besides the spec changed (pgreplicas, fencing): apply again. */
  dirty: boolean;
  lastError?: string;
  /**
   * The primary's pod is being replaced by an apply (the pod being replaced), or restarted in place (a
   * parameter that needs a restart): failover waits longer.
   */
  primaryRolling?: { pod?: string; at: number; inPlace?: boolean; wentDown?: boolean };
  /** The spec of this generation was refused (PostgreSQL rejected a parameter, ...): not retried until it changes. */
  rejected?: { generation: number; reason: string; message: string };
  /** The instance that is the primary (status.currentPrimary). */
  primary: string;
  /** The primary has been healthy once: its loss is a failure, not a cluster still starting. */
  established: boolean;
  /** Former primaries held at zero pods until their old pod is gone. */
  fenced: string[];
  /** The failover in progress. */
  failover?: FailoverIntent;
  /** The failover just completed (for the relabel effect). */
  completed?: FailoverIntent;
  /** When the primary was seen unhealthy (entering primaryUnready), ISO time. */
  unreadySince?: string;
  settings: FailoverSettings;
}

/** A user's request to replace the primary (from a pgtask). */
export interface FailoverRequest {
  kind: 'manual' | 'switchover';
  target?: string;
  task: string;
}

/** Events of the cluster machine. */
export type ClusterEvent =
  | { type: 'SPEC'; generation: number; settings: FailoverSettings }
  | { type: 'REFRESH' }
  | { type: 'OBSERVED'; observation: Observation }
  | { type: 'FAILOVER'; request: FailoverRequest; now: string }
  | { type: 'UNFENCED'; instance: string }
  /** A restore (src/actors/restore.ts) has a checked, promoted instance `target`: make it the primary. */
  | { type: 'RESTORE'; target: string; task: string; now: string }
  /**
   * The apply just changed the primary's pod template: its pod `pod` is being replaced on purpose; or
   * (`inPlace`) the operator has just stopped the primary for a restart in the same pod.
   */
  | { type: 'PRIMARY_ROLLING'; pod?: string; at: number; inPlace?: boolean };

/** Input: where a (re)started actor begins, from the cluster's status. */
export interface ClusterInput {
  generation: number;
  appliedGeneration: number;
  primary: string;
  established: boolean;
  fenced: string[];
  failover?: FailoverIntent;
  settings: FailoverSettings;
}

// Choosing again in a failover whose promote may have reached its target: an instance already writable is
// that one (or one promoted before), and promoting another would make two primaries.
const choice = (context: ClusterContext, target?: string): Choice =>
  context.observation
    ? (context.failover && writableOtherThan(context.observation, context.failover.from)) ||
      chooseTarget(context.observation, context.failover?.from ?? context.primary, {
        sync: context.settings.sync,
        preferredNode: context.settings.preferredNode,
        target,
        catchUp: !context.failover && primaryHealthy(context.observation, context.primary),
      })
    : ({ none: 'nothing observed yet' } as const);

/**
 * Thrown by `applyObjects` when the spec itself is wrong (not a transient failure): nothing of it was
 * applied, the instances keep their last good configuration, and it is not retried until the spec changes.
 */
export class SpecRejected extends Error {
  constructor(
    readonly generation: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'SpecRejected';
  }
}

/**
 * Thrown by `fence` when a switchover's old primary does not answer (cut off, frozen, gone): it cannot be
 * stopped cleanly, so the switchover goes on as a failover of a failed primary (fenced at zero pods).
 */
export class PrimaryLost extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PrimaryLost';
  }
}

/**
 * How long a primary whose pod an apply is replacing may be unready before an automatic failover: a
 * planned restart (new resources, labels) is not a failure, but one that never comes back is.
 */
export const PLANNED_RESTART_GRACE_MS = Number(process.env.PGO_PLANNED_RESTART_GRACE_MS ?? 60_000);

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

const effect = (name: string) => fromPromise<void, { intent: FailoverIntent }>(() => Promise.reject(new Error(`${name} is provided by the cluster actor`)));

/** The cluster machine. */
export const clusterMachine = setup({
  types: { context: {} as ClusterContext, events: {} as ClusterEvent, input: {} as ClusterInput },
  actors: {
    /** Applies the objects of the spec at `generation` (fenced instances at zero pods); resolves to that generation. */
    applyObjects: fromPromise<number, { generation: number; fenced: string[] }>(() => Promise.reject(new Error('applyObjects is provided by the cluster actor'))),
    /** Writes the failover intent (and fenced instances) to status before anything is changed. */
    recordIntent: effect('recordIntent'),
    /** Takes the old primary out of the primary Service and stops it (cleanly, for a switchover). */
    fence: effect('fence'),
    /** Promotes the target and waits until it is out of recovery. */
    promote: effect('promote'),
    /** Writes the new primary to status, labels its pod for the primary Service, finishes the task. */
    relabel: effect('relabel'),
  },
  guards: {
    allReady: ({ context }) => allReady(context.observation),
    needsApply: ({ context }) => context.dirty || context.generation > context.appliedGeneration,
    primaryLost: ({ context }) => context.established && !!context.observation && !primaryHealthy(context.observation, context.primary),
    primaryHealthy: ({ context }) => primaryHealthy(context.observation, context.primary),
    canAutofail: ({ context }) => context.settings.autofail && 'target' in choice(context),
    hasTarget: ({ context }) => 'target' in choice(context),
    requestAcceptable: ({ context, event }) => {
      if (event.type !== 'FAILOVER') return false;
      if (event.request.kind === 'switchover' && !primaryHealthy(context.observation, context.primary)) return false;
      return 'target' in choice(context, event.request.target);
    },
    resumePromoted: ({ context }) => !!context.failover?.to,
    noFailover: ({ context }) => !context.failover,
    resumeChoosing: ({ context }) => !!context.failover,
  },
  delays: {
    // Capped exponential back-off: 1 s, 2 s, 4 s ... 30 s.
    retry: ({ context }) => Math.min(30_000, 1000 * 2 ** Math.max(0, context.failures - 1)),
    // Counted from the first failed check of the primary, not from when its failure was noticed (a probe's
    // timeout later): the primary is failed over only once it was unhealthy for the whole delay.
    failoverDelay: ({ context }) => {
      const delay = context.primaryRolling ? Math.max(context.settings.failoverDelayMs, PLANNED_RESTART_GRACE_MS) : context.settings.failoverDelayMs;
      const since = context.observation?.primaryUnhealthySince;
      return since === undefined ? delay : Math.max(0, delay - (Date.now() - since));
    },
  },
  actions: {
    observe: assign(({ event, context }) => {
      if (event.type !== 'OBSERVED') return {};
      const healthy = primaryHealthy(event.observation, context.primary);
      // The roll is over once the primary is healthy on a new pod, or (in place) healthy again after it went
      // down; or once the grace is over (no roll came).
      const pod = event.observation.instances.find((i) => i.name === context.primary)?.podName;
      const roll = context.primaryRolling && { ...context.primaryRolling, wentDown: context.primaryRolling.wentDown || !healthy };
      const back = roll?.inPlace ? roll.wentDown : pod !== roll?.pod;
      const rolled = roll && ((healthy && back) || Date.now() - roll.at > PLANNED_RESTART_GRACE_MS);
      return { observation: event.observation, established: context.established || healthy, primaryRolling: rolled ? undefined : roll };
    }),
    setSpec: assign(({ event, context }) =>
      event.type === 'SPEC' ? { generation: Math.max(event.generation, context.generation), settings: event.settings } : {},
    ),
    startAutomatic: assign({
      failover: ({ context }) => ({
        kind: 'automatic' as const,
        from: context.primary,
        reason: `primary ${context.primary} unhealthy for ${context.settings.failoverDelayMs / 1000} s`,
        startTime: new Date().toISOString(),
        times: { lastHealthy: iso(context.observation?.primaryHealthyAt), detected: context.unreadySince },
      }),
    }),
    startRequested: assign({
      failover: ({ context, event }) => {
        if (event.type !== 'FAILOVER') return context.failover;
        const { kind, target, task } = event.request;
        const to = 'target' in choice(context, target) ? (choice(context, target) as { target: string }).target : undefined;
        return { kind, from: context.primary, to, reason: `requested by pgtask ${task}`, task, startTime: event.now };
      },
    }),
    /** The target is decided; a failed primary (not a switchover's) stays fenced until its pod is gone. */
    setTarget: assign(({ context }) => {
      const c = choice(context);
      const failover = { ...context.failover!, to: context.failover!.to ?? ('target' in c ? c.target : undefined) };
      return { failover, fenced: failover.kind === 'switchover' || context.fenced.includes(failover.from) ? context.fenced : [...context.fenced, failover.from] };
    }),
    /** A restore's switch: its instance replaces the primary, which stays fenced until its pod is gone. */
    startRestore: assign(({ context, event }) => {
      if (event.type !== 'RESTORE') return {};
      const failover = { kind: 'restore' as const, from: context.primary, to: event.target, reason: `restored by pgtask ${event.task}`, task: event.task, startTime: event.now };
      return { failover, fenced: context.fenced.includes(failover.from) ? context.fenced : [...context.fenced, failover.from] };
    }),
    /** Records when failover step `step` finished. */
    stamp: assign(({ context }, params: { step: keyof FailoverTimes }) => ({
      failover: context.failover && { ...context.failover, times: { ...context.failover.times, [params.step]: new Date().toISOString() } },
    })),
    /** The old primary of a switchover stopped answering: fail it over instead (fenced until its pod is gone). */
    switchoverLost: assign(({ context, event }) => {
      const f = context.failover!;
      const why = event.type.startsWith('xstate.error') ? String((event as unknown as { error: Error }).error.message) : 'the old primary was lost';
      return { failover: { ...f, kind: 'manual' as const, reason: `${f.reason}; ${why}: failing over` }, fenced: context.fenced.includes(f.from) ? context.fenced : [...context.fenced, f.from] };
    }),
    /** Promotion failed, or the target lacks what another replica has: choose again, on a fresh observation. */
    clearTarget: assign({ failover: ({ context }) => ({ ...context.failover!, to: undefined }), observation: undefined }),
    // The observation predates the promotion: drop it, so the new primary is judged on a fresh one.
    complete: assign(({ context }) => ({ primary: context.failover!.to!, completed: context.failover, failover: undefined, observation: undefined, primaryRolling: undefined })),
  },
}).createMachine({
  id: 'cluster',
  context: ({ input }) => ({
    generation: input.generation,
    appliedGeneration: input.appliedGeneration,
    failures: 0,
    dirty: false,
    primary: input.primary,
    established: input.established,
    fenced: input.fenced,
    failover: input.failover,
    settings: input.settings,
  }),
  initial: 'starting',
  on: {
    OBSERVED: { actions: 'observe' },
    SPEC: { actions: 'setSpec' },
    REFRESH: { actions: assign({ dirty: true }) },
    PRIMARY_ROLLING: { actions: assign(({ event }) => ({ primaryRolling: { pod: event.pod, at: event.at, inPlace: event.inPlace } })) },
    UNFENCED: {
      actions: assign(({ context, event }) => ({ fenced: context.fenced.filter((n) => n !== event.instance), dirty: true })),
    },
  },
  states: {
    starting: {
      // A failover interrupted by an operator restart is resumed before anything else.
      always: [
        { guard: 'resumePromoted', target: 'failover.fencing' },
        { guard: 'resumeChoosing', target: 'failover.choosing' },
        { target: 'applying' },
      ],
    },
    applying: {
      meta: { description: 'server-side applying the desired objects' },
      entry: assign({ dirty: false }),
      invoke: {
        src: 'applyObjects',
        input: ({ context }) => ({ generation: context.generation, fenced: context.fenced }),
        onDone: {
          target: 'monitoring',
          actions: assign({ appliedGeneration: ({ event }) => event.output, failures: 0, lastError: undefined, rejected: undefined }),
        },
        onError: [
          {
            // A wrong spec is not retried: the cluster keeps running (and failing over) on its last good one.
            guard: ({ event }) => event.error instanceof SpecRejected,
            target: 'monitoring',
            actions: assign(({ event }) => {
              const e = event.error as SpecRejected;
              return { appliedGeneration: e.generation, failures: 0, lastError: undefined, rejected: { generation: e.generation, reason: e.reason, message: e.message } };
            }),
          },
          {
            target: 'backingOff',
            actions: assign({ failures: ({ context }) => context.failures + 1, lastError: ({ event }) => String((event.error as Error)?.message ?? event.error) }),
          },
        ],
      },
    },
    backingOff: {
      meta: { description: 'applying failed; retrying after a delay' },
      after: { retry: 'applying' },
    },
    monitoring: {
      initial: 'initializing',
      always: { guard: 'needsApply', target: 'applying' },
      on: {
        FAILOVER: { guard: 'requestAcceptable', target: 'failover.recording', actions: ['startRequested', 'setTarget'] },
        // Whatever the primary's health: restoring a cluster whose primary is lost is the common case.
        RESTORE: { guard: 'noFailover', target: 'failover.recording', actions: 'startRestore' },
      },
      states: {
        initializing: {
          meta: { description: 'waiting for every instance to become Ready' },
          always: [
            { guard: 'primaryLost', target: 'primaryUnready' },
            { guard: 'allReady', target: 'ready' },
          ],
        },
        ready: {
          meta: { description: 'healthy: every instance Ready' },
          always: [
            { guard: 'primaryLost', target: 'primaryUnready' },
            { guard: ({ context }) => !allReady(context.observation), target: 'degraded' },
          ],
        },
        degraded: {
          meta: { description: 'the primary is healthy, a replica is not Ready' },
          always: [
            { guard: 'primaryLost', target: 'primaryUnready' },
            { guard: 'allReady', target: 'ready' },
          ],
        },
        primaryUnready: {
          meta: { description: 'the primary is not Ready or does not answer; failing over after the failover delay' },
          entry: assign({ unreadySince: () => new Date().toISOString() }),
          initial: 'waiting',
          always: { guard: 'primaryHealthy', target: 'initializing' },
          states: {
            waiting: { after: { failoverDelay: 'expired' } },
            expired: {
              meta: { description: 'failover delay passed; waiting for a candidate (or autofail is off)' },
              always: { guard: 'canAutofail', target: '#cluster.failover', actions: 'startAutomatic' },
            },
          },
        },
      },
    },
    failover: {
      initial: 'choosing',
      states: {
        choosing: {
          meta: { description: 'choosing the replica to promote' },
          always: { guard: 'hasTarget', target: 'recording', actions: 'setTarget' },
        },
        recording: {
          meta: { description: 'writing the failover intent to status' },
          invoke: { src: 'recordIntent', input: ({ context }) => ({ intent: context.failover! }), onDone: { target: 'fencing', actions: { type: 'stamp', params: { step: 'recorded' } } } },
        },
        fencing: {
          meta: { description: 'taking the old primary out of the primary Service, stopping it, cutting every replica off it' },
          // A target behind another replica or the stopped old primary (synchronous replication): choose again.
          invoke: {
            src: 'fence',
            input: ({ context }) => ({ intent: context.failover! }),
            onDone: { target: 'promoting', actions: { type: 'stamp', params: { step: 'fenced' } } },
            onError: [
              { guard: ({ event }) => event.error instanceof PrimaryLost, target: 'fencing', reenter: true, actions: 'switchoverLost' },
              { target: 'choosing', actions: 'clearTarget' },
            ],
          },
        },
        promoting: {
          meta: { description: 'promoting the target' },
          invoke: {
            src: 'promote',
            input: ({ context }) => ({ intent: context.failover! }),
            onDone: { target: 'relabeling', actions: { type: 'stamp', params: { step: 'promoted' } } },
            onError: { target: 'choosing', actions: 'clearTarget' },
          },
        },
        relabeling: {
          meta: { description: 'pointing the primary Service at the new primary' },
          entry: 'complete',
          invoke: { src: 'relabel', input: ({ context }) => ({ intent: context.completed! }), onDone: '#cluster.monitoring' },
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
