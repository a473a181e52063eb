/**
 * The life of one minor upgrade (a pgupgrade), without I/O:
 *
 *   checking (the image runs; every pgreplica pinned to the old image) → rolling ⟲ (one replica at a time:
 *   moved to the new image, back and streaming) → switching (a switchover to an upgraded replica) → rolling
 *   (the old primary) → finishing (the cluster's image is the new one, the pins removed) → succeeded | failed
 *
 * `rollNext` says what is left: `rolled` (it moved one instance; again), `primary` (only the primary runs the
 * old image) or `done`. Every effect starts from what the instances run, so an operator restarted at any point
 * starts over at `checking` and goes on where the upgrade was.
 */
import { assign, fromPromise, setup } from 'xstate';

/** What is left after one rolling step. */
export type RollOutcome = 'rolled' | 'primary' | 'done';

/** Context of the machine. */
export interface UpgradeContext {
  error?: string;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));
const NO_CONTEXT: UpgradeContext = {};
const provided = (name: string) => () => Promise.reject(new Error(`${name} is provided by the upgrade actor`));

/** The minor upgrade machine; effects are provided by src/actors/upgrade.ts. */
export const upgradeMachine = setup({
  types: { context: NO_CONTEXT },
  actors: {
    /** Checks the request and the image, pins every pgreplica to the image it runs. */
    check: fromPromise<void>(provided('check')),
    /** Moves the next instance that is not the primary to the new image and waits until it streams. */
    rollNext: fromPromise<RollOutcome>(provided('rollNext')),
    /** Switches over to an upgraded replica (or, with none, restarts the primary on the new image). */
    switchover: fromPromise<void>(provided('switchover')),
    /** Makes the new image the cluster's and removes the pins. */
    finish: fromPromise<void>(provided('finish')),
  },
  actions: {
    failedWith: assign({ error: ({ event }) => message((event as unknown as { error: unknown }).error) }),
  },
}).createMachine({
  id: 'upgrade',
  context: {},
  initial: 'checking',
  states: {
    checking: { invoke: { src: 'check', onDone: 'rolling', onError: { target: 'failed', actions: 'failedWith' } } },
    rolling: {
      invoke: {
        src: 'rollNext',
        onDone: [
          { guard: ({ event }) => event.output === 'rolled', target: 'rolling', reenter: true },
          { guard: ({ event }) => event.output === 'primary', target: 'switching' },
          { target: 'finishing' },
        ],
        onError: { target: 'failed', actions: 'failedWith' },
      },
    },
    switching: { invoke: { src: 'switchover', onDone: 'rolling', onError: { target: 'failed', actions: 'failedWith' } } },
    finishing: { invoke: { src: 'finish', onDone: 'succeeded', onError: { target: 'failed', actions: 'failedWith' } } },
    succeeded: { type: 'final' },
    failed: { type: 'final' },
  },
});
