/** The actors of one type of pgtask (user changes, policy runs): one per task that has not ended. */
import type { PgTaskResource } from '../crd/types.ts';
import type { PgTaskSpec } from '../crd/pgtask.ts';

/** An actor that carries out one pgtask. */
export interface TaskActor {
  run(): void;
  stop(): void;
  readonly done: boolean;
}

const keyOf = (t: PgTaskResource) => `${t.metadata.namespace}/${t.metadata.name}`;
const finished = (t: PgTaskResource) => t.status?.phase === 'Succeeded' || t.status?.phase === 'Failed';

/** Runs the actors of the pgtasks of one type. */
export class TaskActors<A extends TaskActor> {
  private readonly actors = new Map<string, A>();

  constructor(
    private readonly type: PgTaskSpec['type'],
    private readonly create: (task: PgTaskResource) => A,
  ) {}

  /** A pgtask appeared or changed: start (or resume, after an operator restart) its actor. */
  offer(task: PgTaskResource): void {
    if (task.spec.type !== this.type || task.metadata.deletionTimestamp) return;
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

  /** A pgtask was deleted: its actor stops where it is. */
  forget(task: PgTaskResource): void {
    this.actors.get(keyOf(task))?.stop();
    this.actors.delete(keyOf(task));
  }

  /** Stops every actor (the lease was lost); the next operator resumes them from their status. */
  stop(): void {
    for (const actor of this.actors.values()) actor.stop();
    this.actors.clear();
  }
}
