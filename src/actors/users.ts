/** The user changes of every cluster: one UserActor per user-update pgtask that has not ended. */
import type { PgTaskResource } from '../crd/types.ts';
import { UserActor, type UserDeps } from './user.ts';

const keyOf = (t: PgTaskResource) => `${t.metadata.namespace}/${t.metadata.name}`;
const finished = (t: PgTaskResource) => t.status?.phase === 'Succeeded' || t.status?.phase === 'Failed';

/** Runs the user actors. */
export class Users {
  private readonly actors = new Map<string, UserActor>();

  constructor(private readonly deps: UserDeps) {}

  /** A user-update pgtask appeared or changed: start (or resume, after an operator restart) its change. */
  offer(task: PgTaskResource): void {
    if (task.spec.type !== 'user-update' || task.metadata.deletionTimestamp) return;
    const key = keyOf(task);
    const running = this.actors.get(key);
    if (running) {
      if (running.done && finished(task)) this.actors.delete(key);
      return;
    }
    if (finished(task)) return;
    const actor = new UserActor(task, this.deps);
    this.actors.set(key, actor);
    actor.run();
  }

  /** A user-update pgtask was deleted: its change stops where it is. */
  forget(task: PgTaskResource): void {
    this.actors.get(keyOf(task))?.stop();
    this.actors.delete(keyOf(task));
  }

  /** Stops every change (the lease was lost); the next operator resumes them from their status. */
  stop(): void {
    for (const actor of this.actors.values()) actor.stop();
    this.actors.clear();
  }
}
