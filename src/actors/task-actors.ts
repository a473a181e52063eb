/** The actors of one type of pgtask (user changes, policy runs): one per task that has not ended. */
import type { Actor, AnyStateMachine } from 'xstate';
import type { PgTaskResource } from '../crd/types.ts';
import type { PgTaskSpec } from '../crd/pgtask.ts';

/** An actor that carries out one pgtask. */
export interface TaskActor {
  run(): void;
  stop(): void;
  readonly done: boolean;
}

/** A TaskActor driven by one state machine, whose effects stop once the actor is stopped. */
export abstract class MachineTaskActor<M extends AnyStateMachine> implements TaskActor {
  protected abstract readonly actor: Actor<M>;
  /** Aborted by stop(): the task or its cluster was deleted, or the Lease lost. */
  protected readonly abort = new AbortController();

  /** Starts (or resumes, from the task's status) the machine. */
  run(): void {
    this.actor.start();
  }

  /** Stops the machine where it is; the next operator resumes it from the task's status. */
  stop(): void {
    this.abort.abort(new Error('stopped'));
    this.actor.stop();
  }

  /** True once the machine ended. */
  get done(): boolean {
    return (this.actor.getSnapshot() as { status: string }).status === 'done';
  }

  /**
   * Runs one effect unless the actor was stopped: each effect is short and safe to run again, so a stopped
   * task is left where it is for the next operator to resume.
   */
  protected unlessStopped<T>(signal: AbortSignal, effect: () => Promise<T>): Promise<T> {
    const stopped = AbortSignal.any([signal, this.abort.signal]);
    return stopped.aborted ? Promise.reject(stopped.reason as Error) : effect();
  }
}

/** A pgtask's status once it ended: Succeeded or Failed with `message`, its start and completion times. */
export function endedStatus<S extends WorkStatus>(status: S | undefined, ok: boolean, message: string): S {
  const now = new Date().toISOString();
  return { ...status, phase: ok ? 'Succeeded' : 'Failed', message, startTime: status?.startTime ?? now, completionTime: now } as S;
}

/** The status fields every work resource (pgtask, pgupgrade) has. */
interface WorkStatus {
  phase?: string;
  message?: string;
  startTime?: string;
  completionTime?: string;
}
/** A work resource: a pgtask, or a pgupgrade. */
type Work = { metadata: { namespace: string; name: string; deletionTimestamp?: Date }; status?: WorkStatus };

const keyOf = (t: Work) => `${t.metadata.namespace}/${t.metadata.name}`;
const finished = (t: Work) => t.status?.phase === 'Succeeded' || t.status?.phase === 'Failed';

/** Runs the actors of one kind of work: the pgtasks of one type (`type`), or every resource offered (pgupgrades). */
export class TaskActors<A extends TaskActor, R extends Work = PgTaskResource> {
  private readonly actors = new Map<string, A>();

  constructor(
    private readonly type: PgTaskSpec['type'] | undefined,
    private readonly create: (task: R) => A,
  ) {}

  /** A work resource appeared or changed: start (or resume, after an operator restart) its actor. */
  offer(task: R): void {
    if ((this.type && (task as unknown as PgTaskResource).spec.type !== this.type) || task.metadata.deletionTimestamp) return;
    const key = keyOf(task);
    const running = this.actors.get(key);
    if (running) {
      if (running.done && finished(task)) this.actors.delete(key);
      return;
    }
    if (finished(task)) return;
    const actor = this.create(task);
    this.actors.set(key, actor);
    actor.run();
  }

  /** A work resource was deleted: its actor stops where it is. */
  forget(task: R): void {
    this.actors.get(keyOf(task))?.stop();
    this.actors.delete(keyOf(task));
  }

  /** Stops every actor (the lease was lost); the next operator resumes them from their status. */
  stop(): void {
    for (const actor of this.actors.values()) actor.stop();
    this.actors.clear();
  }
}
