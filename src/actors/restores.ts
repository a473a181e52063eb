/**
 * The restores of every cluster: one actor per restore pgtask that has not ended (a RestoreActor, or a
 * DumpRestoreActor for a pg_dump), one per cluster at a time.
 */
import type { PgTaskResource } from '../crd/types.ts';
import { describeError } from '../k8s/custom.ts';
import { DumpRestoreActor } from './dump-restore.ts';
import { RestoreActor, type RestoreDeps } from './restore.ts';

const keyOf = (t: PgTaskResource) => `${t.metadata.namespace}/${t.metadata.name}`;
const finished = (t: PgTaskResource) => t.status?.phase === 'Succeeded' || t.status?.phase === 'Failed';

/** Runs the restore actors. */
export class Restores {
  private readonly actors = new Map<string, { actor: RestoreActor | DumpRestoreActor; cluster: string }>();

  constructor(private readonly deps: RestoreDeps) {}

  /** A restore pgtask appeared or changed: start (or resume, after an operator restart) its restore. */
  offer(task: PgTaskResource): void {
    if (task.spec.type !== 'restore' || task.metadata.deletionTimestamp) return;
    const key = keyOf(task);
    const running = this.actors.get(key);
    if (running) {
      if (running.actor.done && finished(task)) this.actors.delete(key);
      return;
    }
    if (finished(task)) return;
    const cluster = `${task.metadata.namespace}/${task.spec.clusterName}`;
    const other = [...this.actors.entries()].find(([, a]) => a.cluster === cluster && !a.actor.done);
    if (other) {
      const message = `restore ${other[0]} of this cluster is in progress: one restore at a time`;
      void this.deps.tasks
        .updateStatus(task.metadata.namespace, task.metadata.name, (t) => ({ ...t.status, phase: 'Failed', message, completionTime: new Date().toISOString() }))
        .catch((err: unknown) => this.deps.log(`pgtask ${key}: ${describeError(err)}`));
      return;
    }
    const actor = task.spec.restore?.pgdump ? new DumpRestoreActor(task, this.deps) : new RestoreActor(task, this.deps);
    this.actors.set(key, { actor, cluster });
    actor.run();
  }

  /** A restore pgtask was deleted: its restore stops where it is. */
  forget(task: PgTaskResource): void {
    this.actors.get(keyOf(task))?.actor.stop();
    this.actors.delete(keyOf(task));
  }

  /** Stops every restore (the lease was lost); the next operator resumes them from their status. */
  stop(): void {
    for (const { actor } of this.actors.values()) actor.stop();
    this.actors.clear();
  }
}
