/**
 * The life of one pg_dump restore (a restore pgtask with spec.restore.pgdump), without I/O:
 *
 *   starting (the volume exists, the options are allowed, the Job is created) → running → succeeded | failed
 *
 * pg_restore runs in one transaction, in a Job next to the data: it applies all of the dump or nothing. The
 * Job is named after the task, so an operator restarted in `running` finds it instead of restoring twice.
 */
import { assign, fromPromise, setup } from 'xstate';

/** Input: a new restore, or one whose Job already runs. */
export interface DumpRestoreInput {
  job?: string;
}

/** Context of the machine. */
export interface DumpRestoreContext {
  job?: string;
  /** The dump restored, once done. */
  file?: string;
  error?: string;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));
const NO_INPUT: DumpRestoreInput = {};
const NO_CONTEXT: DumpRestoreContext = {};

/** The pg_dump restore machine; effects are provided by src/actors/dump-restore.ts. */
export const dumpRestoreMachine = setup({
  types: { context: NO_CONTEXT, input: NO_INPUT },
  actors: {
    /** Checks the request and creates the Job; resolves to its name. */
    start: fromPromise<string>(() => Promise.reject(new Error('start is provided by the dump restore actor'))),
    /** Waits for the Job; resolves to the dump file it restored. */
    watch: fromPromise<string, { job: string }>(() => Promise.reject(new Error('watch is provided by the dump restore actor'))),
  },
  actions: {
    failedWith: assign({ error: ({ event }) => message((event as unknown as { error: unknown }).error) }),
  },
}).createMachine({
  id: 'dumpRestore',
  context: ({ input }) => ({ job: input.job }),
  initial: 'routing',
  states: {
    routing: { always: [{ guard: ({ context }) => context.job !== undefined, target: 'running' }, { target: 'starting' }] },
    starting: {
      invoke: { src: 'start', onDone: { target: 'running', actions: assign({ job: ({ event }) => event.output }) }, onError: { target: 'failed', actions: 'failedWith' } },
    },
    running: {
      invoke: {
        src: 'watch',
        input: ({ context }) => ({ job: context.job! }),
        onDone: { target: 'succeeded', actions: assign({ file: ({ event }) => event.output }) },
        onError: { target: 'failed', actions: 'failedWith' },
      },
    },
    succeeded: { type: 'final' },
    failed: { type: 'final' },
  },
});
