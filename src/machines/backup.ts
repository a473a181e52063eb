/**
 * The life of one pgbackup, without I/O:
 *
 *   pending → preparing (stanza, type, source instance) → starting → running → recording → succeeded
 *      ↑__________ retrying (back-off) ←_________ a transient error _______|
 *                       ↘ failed (refused, or out of attempts)
 *
 * `pending` waits for the host's READY (the cluster's primary and repository host are ready and no other
 * backup of the cluster runs: one at a time, in creation order). A refused request (BackupRefused) fails at
 * once; other errors are retried with back-off up to `maxAttempts`. An operator restarted while a backup runs
 * resumes in `running` from the job recorded in status: the backup runs detached in the repository host,
 * so it is never cancelled by a restart, and a job that vanished (its pod restarted) is retried.
 */
import { assign, fromPromise, setup } from 'xstate';

/** A request that cannot succeed as written (bad options, backups disabled): failed without retrying. */
export class BackupRefused extends Error {}

/** What preparing decided. */
export interface BackupPlan {
  type: 'full' | 'diff' | 'incr' | 'pgdump';
  repo: number;
  /** The instance the backup reads from. */
  instance: string;
  /** A backup of this pgbackup already in the repository (made before an operator restart): only recorded. */
  existing?: string;
}

/** What a finished backup produced. */
export interface BackupResult {
  /** The pgBackRest label, or the dump's file name. */
  label: string;
  /** Size of a dump file. */
  sizeBytes?: number;
}

/** A job started in the repository host. */
export interface BackupJob {
  pod: string;
  id: string;
}

/** Context of the backup machine. */
export interface BackupContext {
  attempts: number;
  maxAttempts: number;
  plan?: BackupPlan;
  job?: BackupJob;
  result?: BackupResult;
  error?: string;
  refused: boolean;
}

/** Input: a fresh backup, or one whose job was already running when the operator stopped. */
export interface BackupInput {
  attempts?: number;
  maxAttempts: number;
  plan?: BackupPlan;
  job?: BackupJob;
}

/** Events the host sends. */
export type BackupEvent = { type: 'READY' };

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Back-off before attempt n+1: 5 s, 10 s, 20 s, ... at most 2 min. */
export const backoffMs = (attempts: number) => Math.min(5000 * 2 ** Math.max(0, attempts - 1), 120_000);

/** The backup machine; effects are provided by src/actors/backup.ts. */
export const backupMachine = setup({
  types: { context: {} as BackupContext, events: {} as BackupEvent, input: {} as BackupInput },
  actors: {
    prepare: fromPromise<BackupPlan>(() => Promise.reject(new Error('prepare is provided by the backup actor'))),
    start: fromPromise<BackupJob, { plan: BackupPlan; attempt: number }>(() => Promise.reject(new Error('start is provided by the backup actor'))),
    watch: fromPromise<BackupResult, { job: BackupJob }>(() => Promise.reject(new Error('watch is provided by the backup actor'))),
    record: fromPromise<void, { result: BackupResult; plan?: BackupPlan }>(() => Promise.reject(new Error('record is provided by the backup actor'))),
  },
  actions: {
    failedWith: assign(({ event }) => {
      const error = (event as unknown as { error: unknown }).error;
      return { error: message(error), refused: error instanceof BackupRefused };
    }),
  },
  guards: {
    refused: ({ context }) => context.refused,
    exhausted: ({ context }) => context.attempts >= context.maxAttempts,
  },
  delays: {
    backoff: ({ context }) => backoffMs(context.attempts),
  },
}).createMachine({
  id: 'backup',
  context: ({ input }) => ({ attempts: input.attempts ?? 0, maxAttempts: input.maxAttempts, plan: input.plan, job: input.job, refused: false }),
  initial: 'routing',
  states: {
    routing: { always: [{ guard: ({ context }) => context.job !== undefined, target: 'running' }, { target: 'pending' }] },
    pending: { on: { READY: 'preparing' } },
    preparing: {
      entry: assign({ attempts: ({ context }) => context.attempts + 1 }),
      invoke: {
        src: 'prepare',
        onDone: [
          { guard: ({ event }) => event.output.existing !== undefined, target: 'recording', actions: assign({ plan: ({ event }) => event.output, result: ({ event }) => ({ label: event.output.existing! }), error: undefined }) },
          { target: 'starting', actions: assign({ plan: ({ event }) => event.output, error: undefined }) },
        ],
        onError: { target: 'retrying', actions: 'failedWith' },
      },
    },
    starting: {
      invoke: {
        src: 'start',
        input: ({ context }) => ({ plan: context.plan!, attempt: context.attempts }),
        onDone: { target: 'running', actions: assign({ job: ({ event }) => event.output }) },
        onError: { target: 'retrying', actions: 'failedWith' },
      },
    },
    running: {
      invoke: {
        src: 'watch',
        input: ({ context }) => ({ job: context.job! }),
        onDone: { target: 'recording', actions: assign({ result: ({ event }) => event.output, error: undefined }) },
        onError: { target: 'retrying', actions: ['failedWith', assign({ job: undefined })] },
      },
    },
    recording: {
      invoke: {
        src: 'record',
        input: ({ context }) => ({ result: context.result!, plan: context.plan }),
        onDone: 'succeeded',
        // The backup exists: only writing down what it made is retried, never the backup.
        onError: { target: 'recordingAgain', actions: 'failedWith' },
      },
    },
    recordingAgain: { after: { 5000: 'recording' } },
    retrying: {
      always: [{ guard: 'refused', target: 'failed' }, { guard: 'exhausted', target: 'failed' }],
      after: { backoff: 'pending' },
    },
    succeeded: { type: 'final' },
    failed: { type: 'final' },
  },
});

/** pgbackup phase of a machine state. */
export function backupPhase(state: string): 'Pending' | 'Running' | 'Succeeded' | 'Failed' {
  if (state === 'succeeded') return 'Succeeded';
  if (state === 'failed') return 'Failed';
  if (state === 'pending' || state === 'routing' || state === 'retrying') return 'Pending';
  return 'Running';
}
