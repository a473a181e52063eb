/**
 * The life of one restore (a pgtask of type restore), without I/O:
 *
 *   validating → preparing → restoring → replaying → verifying → switching → releasing → succeeded
 *        ↓ refused                 ↓ any failure before switching ↓
 *      failed  ←—————————————  rollingBack (the restore instance removed; the cluster never stopped)
 *
 * The restore goes into a new instance with fresh volumes while the cluster keeps running on its own data;
 * only a restored instance that reached its target, promoted and passed the checks replaces the primary
 * (`switching`, through the cluster machine), and only then are the old volumes released. Every step is
 * safe to run again: an operator restarted in any of them resumes there from the task's status.
 */
import { assign, fromPromise, setup } from 'xstate';
import { RestoreRefused } from '../backrest/restore-plan.ts';
import type { RestorePhase } from '../crd/restore.ts';


/** What validating decided. */
export interface RestoreDecision {
  /** The instance (pgreplica) restored into. */
  instance: string;
  set: string;
  args: string[];
  description: string;
}

/** Context of the restore machine. */
export interface RestoreContext {
  decision?: RestoreDecision;
  error?: string;
  /** Tries of the step that failed with a transient error. */
  attempts: number;
  /** The phase a restarted operator found in status. */
  resume?: RestorePhase;
  /** A drill: the restored instance is checked and thrown away, never switched to. */
  drill: boolean;
}

/** Input: a new restore, or one resumed at `phase` by a restarted operator. */
export interface RestoreInput {
  phase?: RestorePhase;
  decision?: RestoreDecision;
  drill?: boolean;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));
const effect = <O, I = { decision: RestoreDecision }>(name: string) => fromPromise<O, I>(() => Promise.reject(new Error(`${name} is provided by the restore actor`)));
const decided = ({ context }: { context: RestoreContext }) => ({ decision: context.decision! });

/** The state each phase resumes in (after an operator restart). */
export const RESUME_STATE: Record<RestorePhase, string> = {
  Validating: 'validating',
  Preparing: 'preparing',
  Restoring: 'restoring',
  Replaying: 'replaying',
  Verifying: 'verifying',
  Switching: 'switching',
  Releasing: 'releasing',
  Drilling: 'drilling',
  Discarding: 'discarding',
  Succeeded: 'succeeded',
  RollingBack: 'rollingBack',
  Failed: 'failed',
};

/** How many times validating is tried when the repository does not answer. */
export const VALIDATE_ATTEMPTS = 5;

const NO_INPUT: RestoreInput = {};

/** The restore machine; effects are provided by src/actors/restore.ts. */
export const restoreMachine = setup({
  types: { context: {} as RestoreContext, input: NO_INPUT },
  actors: {
    /** Reads the repository, checks the request and chooses the set; RestoreRefused when it cannot be done. */
    validate: fromPromise<RestoreDecision>(() => Promise.reject(new Error('validate is provided by the restore actor'))),
    /** Gets the primary's latest WAL into the archive (when it answers), so a target up to now can be reached. */
    prepare: effect<void>('prepare'),
    /** Creates the restore instance and waits until pgBackRest has filled its volume and PostgreSQL started. */
    restore: effect<void>('restore'),
    /** Waits until the instance has replayed to its target and promoted. */
    replay: effect<void>('replay'),
    /** Checks the restored instance (writable, the database answers) and clears the recovery settings. */
    verify: effect<void>('verify'),
    /** Makes the restored instance the primary through the cluster machine; resolves once it is. */
    switchOver: effect<void>('switchOver'),
    /** Re-creates the old instances from the new primary (their volumes released) and waits for them. */
    release: effect<void>('release'),
    /** Removes the restore instance and its volume; the cluster is as before. */
    rollback: effect<void>('rollback'),
    /** A drill's own check: `pgbackrest verify` of the repository, and the measured time recorded. */
    drill: effect<void>('drill'),
  },
  actions: {
    failedWith: assign({ error: ({ event }) => message((event as unknown as { error: unknown }).error) }),
  },
  guards: {
    refused: ({ event }) => (event as unknown as { error: unknown }).error instanceof RestoreRefused,
    exhausted: ({ context }) => context.attempts >= VALIDATE_ATTEMPTS,
  },
  delays: { retry: ({ context }) => Math.min(5000 * 2 ** context.attempts, 60_000) },
}).createMachine({
  id: 'restore',
  context: ({ input }) => ({ decision: input.decision, attempts: 0, resume: input.phase, drill: input.drill ?? false }),
  initial: 'routing',
  states: {
    routing: {
      // Resumes where a stopped operator left off; without a decision nothing was touched yet.
      always: [
        ...Object.entries(RESUME_STATE).map(([phase, target]) => ({ guard: ({ context }: { context: RestoreContext }) => !!context.decision && context.resume === phase, target })),
        { target: 'validating' },
      ],
    },
    validating: {
      meta: { phase: 'Validating' },
      invoke: {
        src: 'validate',
        onDone: { target: 'preparing', actions: assign({ decision: ({ event }) => event.output, error: undefined }) },
        onError: [
          { guard: 'refused', target: 'failed', actions: 'failedWith' },
          { target: 'validateAgain', actions: ['failedWith', assign({ attempts: ({ context }) => context.attempts + 1 })] },
        ],
      },
    },
    validateAgain: {
      meta: { phase: 'Validating' },
      always: { guard: 'exhausted', target: 'failed' },
      after: { retry: 'validating' },
    },
    preparing: { meta: { phase: 'Preparing' }, invoke: { src: 'prepare', input: decided, onDone: 'restoring', onError: { target: 'rollingBack', actions: 'failedWith' } } },
    restoring: { meta: { phase: 'Restoring' }, invoke: { src: 'restore', input: decided, onDone: 'replaying', onError: { target: 'rollingBack', actions: 'failedWith' } } },
    replaying: { meta: { phase: 'Replaying' }, invoke: { src: 'replay', input: decided, onDone: 'verifying', onError: { target: 'rollingBack', actions: 'failedWith' } } },
    verifying: {
      meta: { phase: 'Verifying' },
      invoke: { src: 'verify', input: decided, onDone: [{ guard: ({ context }) => context.drill, target: 'drilling' }, { target: 'switching' }], onError: { target: 'rollingBack', actions: 'failedWith' } },
    },
    drilling: { meta: { phase: 'Drilling' }, invoke: { src: 'drill', input: decided, onDone: 'discarding', onError: { target: 'rollingBack', actions: 'failedWith' } } },
    // The drill passed: its instance goes, as after a failure, but the drill succeeded.
    discarding: { meta: { phase: 'Discarding' }, invoke: { src: 'rollback', input: decided, onDone: 'succeeded', onError: { target: 'discardAgain' } } },
    discardAgain: { meta: { phase: 'Discarding' }, after: { 5000: 'discarding' } },
    // Past this point the restored data is proven and the cluster moves onto it: steps are retried, never undone.
    switching: { meta: { phase: 'Switching' }, invoke: { src: 'switchOver', input: decided, onDone: 'releasing', onError: { target: 'switchAgain', actions: 'failedWith' } } },
    switchAgain: { meta: { phase: 'Switching' }, after: { 5000: 'switching' } },
    releasing: { meta: { phase: 'Releasing' }, invoke: { src: 'release', input: decided, onDone: 'succeeded', onError: { target: 'releaseAgain', actions: 'failedWith' } } },
    releaseAgain: { meta: { phase: 'Releasing' }, after: { 5000: 'releasing' } },
    rollingBack: { meta: { phase: 'RollingBack' }, invoke: { src: 'rollback', input: decided, onDone: 'failed', onError: { target: 'rollbackAgain' } } },
    rollbackAgain: { meta: { phase: 'RollingBack' }, after: { 5000: 'rollingBack' } },
    succeeded: { type: 'final', meta: { phase: 'Succeeded' } },
    failed: { type: 'final', meta: { phase: 'Failed' } },
  },
});

/** The phase (status.restore.phase) of a machine state. */
export function restorePhaseOf(state: string): RestorePhase {
  const node = restoreMachine.root.states[state];
  return ((node?.meta as { phase?: RestorePhase } | undefined)?.phase ?? 'Validating');
}
