/**
 * The life of one change to a PostgreSQL user (a pgtask of type user-update), without I/O:
 *
 *   checking (the request, the cluster's primary, the new password) → applying (one transaction on the
 *   primary) → recording (the user's Secret) → cleaning (the task's password Secret) → succeeded | failed
 *
 * The step reached is written to the task before its effect runs, so an operator that dies in the middle
 * resumes at that step: the database and the user's Secret end up holding the same password.
 */
import { assign, fromPromise, setup } from 'xstate';
import type { UserChangeStatus } from '../crd/user.ts';

type Step = NonNullable<UserChangeStatus['step']>;

/** Input: the step a previous operator recorded, if any. */
export interface UserInput {
  step?: Step;
}

/** Context of the machine. */
export interface UserContext {
  /** The task's own step was recorded: a role found by `applying` is this task's, not someone else's. */
  resumed: boolean;
  /** The change reached the database already: only the Secrets are left to do. */
  applied: boolean;
  error?: string;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));
const NO_INPUT: UserInput = {};
const NO_CONTEXT: UserContext = { resumed: false, applied: false };
const failed = { target: 'failed', actions: 'failedWith' } as const;

/** The user machine; effects are provided by src/actors/user.ts. */
export const userMachine = setup({
  types: { context: NO_CONTEXT, input: NO_INPUT },
  actors: {
    /** Refuses a request that cannot run (unknown cluster, no primary, a role that exists or does not). */
    check: fromPromise<void, { resumed: boolean }>(() => Promise.reject(new Error('check is provided by the user actor'))),
    /** Records the step reached in the task. */
    record: fromPromise<void, { step: Step }>(() => Promise.reject(new Error('record is provided by the user actor'))),
    /** Runs the change on the primary, in one transaction. */
    apply: fromPromise<void, { resumed: boolean }>(() => Promise.reject(new Error('apply is provided by the user actor'))),
    /** Writes (or, for a deleted user, removes) the user's Secret. */
    store: fromPromise<void>(() => Promise.reject(new Error('store is provided by the user actor'))),
    /** Deletes the task's password Secret. */
    clean: fromPromise<void>(() => Promise.reject(new Error('clean is provided by the user actor'))),
  },
  actions: {
    failedWith: assign({ error: ({ event }) => message((event as unknown as { error: unknown }).error) }),
  },
}).createMachine({
  id: 'user',
  context: ({ input }) => ({ resumed: input.step !== undefined, applied: input.step === 'recording' || input.step === 'done' }),
  initial: 'routing',
  states: {
    routing: { always: [{ guard: ({ context }) => context.applied, target: 'recording' }, { target: 'checking' }] },
    checking: {
      invoke: { src: 'check', input: ({ context }) => ({ resumed: context.resumed }), onDone: 'markApplying', onError: failed },
    },
    markApplying: { invoke: { src: 'record', input: { step: 'applying' }, onDone: 'applying', onError: failed } },
    applying: {
      invoke: { src: 'apply', input: ({ context }) => ({ resumed: context.resumed }), onDone: 'markRecording', onError: failed },
    },
    markRecording: { invoke: { src: 'record', input: { step: 'recording' }, onDone: 'recording', onError: failed } },
    recording: { invoke: { src: 'store', onDone: 'cleaning', onError: failed } },
    cleaning: { invoke: { src: 'clean', onDone: 'succeeded', onError: failed } },
    succeeded: { type: 'final' },
    failed: { type: 'final' },
  },
});
