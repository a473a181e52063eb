/**
 * The life of a task carried out by one Kubernetes Job next to the data (a pg_dump restore, a load), without I/O:
 *
 *   starting (the request is checked, what must come first is done, the Job is created) → running → succeeded | failed
 *
 * The Job is named after the task and `start` is safe to run again (a Job that exists is taken as it is), so an
 * operator restarted at any point starts over at `starting` and finds the Job instead of running it twice.
 */
import { assign, fromPromise, setup } from 'xstate';

/** Context of the machine. */
export interface JobTaskContext {
  job?: string;
  /** What the Job reported, once it succeeded. */
  result?: string;
  error?: string;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));
const NO_CONTEXT: JobTaskContext = {};

/** A Job task machine with the id `id`; its effects are provided by the task's actor. */
export function jobTaskMachine(id: string) {
  return setup({
    types: { context: NO_CONTEXT },
    actors: {
      /** Checks the request and creates the Job (or finds it); resolves to its name. */
      start: fromPromise<string>(() => Promise.reject(new Error(`start is provided by the ${id} actor`))),
      /** Waits for the Job; resolves to what it reported. */
      watch: fromPromise<string, { job: string }>(() => Promise.reject(new Error(`watch is provided by the ${id} actor`))),
    },
    actions: {
      failedWith: assign({ error: ({ event }) => message((event as unknown as { error: unknown }).error) }),
    },
  }).createMachine({
    id,
    context: {},
    initial: 'starting',
    states: {
      starting: {
        invoke: { src: 'start', onDone: { target: 'running', actions: assign({ job: ({ event }) => event.output }) }, onError: { target: 'failed', actions: 'failedWith' } },
      },
      running: {
        invoke: {
          src: 'watch',
          input: ({ context }) => ({ job: context.job! }),
          onDone: { target: 'succeeded', actions: assign({ result: ({ event }) => event.output }) },
          onError: { target: 'failed', actions: 'failedWith' },
        },
      },
      succeeded: { type: 'final' },
      failed: { type: 'final' },
    },
  });
}

export type JobTaskMachine = ReturnType<typeof jobTaskMachine>;
