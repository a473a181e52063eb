/**
 * Running one pgpolicy on one cluster (a pgtask of type apply-policy), without I/O:
 *
 *   checking (the policy, the cluster, its primary, not applied yet) → applying (one transaction on the
 *   primary, its id recorded in the task before the SQL runs) → recording (label, cluster and policy
 *   status) → succeeded | failed
 *
 * An operator that dies while applying resumes at `resolving`: the recorded transaction committed (record
 * it) or not (run the policy again), so a policy never runs twice and is never recorded without running.
 * A primary that is not there or does not answer is tried again (every 5 s, 12 times); an error PostgreSQL
 * gives for the SQL itself is final.
 */
import { assign, fromPromise, setup } from 'xstate';
import type { PolicyApplyStatus } from '../crd/policy.ts';

/** PostgreSQL refused the policy's SQL, or the policy cannot run at all (no policy, no cluster): no retry. */
export class PolicyRefused extends Error {}

/** Input: the step a previous operator recorded, if any. */
export interface PolicyInput {
  step?: PolicyApplyStatus['step'];
}

/** Context of the machine. */
export interface PolicyContext {
  step?: PolicyApplyStatus['step'];
  /** Transient errors so far. */
  attempts: number;
  error?: string;
}

export const POLICY_RETRY_MS = 5000;
export const POLICY_ATTEMPTS = 12;

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));
const NO_INPUT: PolicyInput = {};
const NO_CONTEXT: PolicyContext = { attempts: 0 };
const errorOf = (event: unknown) => (event as { error: unknown }).error;

/** A refusal ends the task; any other error is tried again after POLICY_RETRY_MS, then `next`. */
const onError = <T extends string>(next: T) =>
  [
    { guard: 'refused', target: 'failed', actions: 'failedWith' },
    { guard: 'tooMany', target: 'failed', actions: 'failedWith' },
    { target: next, actions: 'retried' },
  ] as const;

/** The policy machine; effects are provided by src/actors/policy.ts. */
export const policyMachine = setup({
  types: { context: NO_CONTEXT, input: NO_INPUT },
  actors: {
    /** Refuses what cannot run (PolicyRefused); other errors (no ready primary yet) are tried again. */
    check: fromPromise<void>(() => Promise.reject(new Error('check is provided by the policy actor'))),
    /** Runs the SQL in one transaction, its id recorded in the task (step applying) before the SQL runs. */
    apply: fromPromise<void>(() => Promise.reject(new Error('apply is provided by the policy actor'))),
    /** Whether the transaction recorded in the task committed (true), or never will (false; none recorded). */
    resolve: fromPromise<boolean>(() => Promise.reject(new Error('resolve is provided by the policy actor'))),
    /** Records the applied policy: step recording, the cluster's label and status, the policy's appliedTo. */
    store: fromPromise<void>(() => Promise.reject(new Error('store is provided by the policy actor'))),
  },
  guards: {
    refused: ({ event }) => errorOf(event) instanceof PolicyRefused,
    tooMany: ({ context }) => context.attempts + 1 >= POLICY_ATTEMPTS,
  },
  actions: {
    failedWith: assign({ error: ({ event }) => message(errorOf(event)) }),
    retried: assign({ attempts: ({ context }) => context.attempts + 1, error: ({ event }) => message(errorOf(event)) }),
  },
  delays: { retry: POLICY_RETRY_MS },
}).createMachine({
  id: 'policy',
  context: ({ input }) => ({ step: input.step, attempts: 0 }),
  initial: 'routing',
  states: {
    routing: {
      always: [
        { guard: ({ context }) => context.step === 'recording' || context.step === 'done', target: 'recording' },
        { guard: ({ context }) => context.step === 'applying', target: 'resolving' },
        { target: 'checking' },
      ],
    },
    checking: { invoke: { src: 'check', onDone: 'applying', onError: onError('waitingToCheck') } },
    waitingToCheck: { after: { retry: 'checking' } },
    // A lost connection may have lost the answer to a COMMIT that went through: ask before running it again.
    applying: { invoke: { src: 'apply', onDone: 'recording', onError: onError('waitingToResolve') } },
    resolving: {
      invoke: {
        src: 'resolve',
        onDone: [{ guard: ({ event }) => event.output, target: 'recording' }, { target: 'checking' }],
        onError: onError('waitingToResolve'),
      },
    },
    waitingToResolve: { after: { retry: 'resolving' } },
    recording: { invoke: { src: 'store', onDone: 'succeeded', onError: onError('waitingToStore') } },
    waitingToStore: { after: { retry: 'recording' } },
    succeeded: { type: 'final' },
    failed: { type: 'final' },
  },
});
