/**
 * The event bus behind WebSocket /events: the operator's actors publish state transitions here (through
 * the Supervisor's onTransition hook), and the Kubernetes sources publish Events and task progress.
 */
import type { StreamEvent } from './schemas.ts';

/** A subscriber. */
export type Listener = (event: StreamEvent) => void;

/** In-process publish/subscribe of stream events. */
export class EventBus {
  private readonly listeners = new Set<Listener>();

  /** Delivers `event` to every subscriber; a throwing subscriber does not stop the others. */
  publish(event: StreamEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // a broken subscriber is its own problem
      }
    }
  }

  /** Subscribes; returns the unsubscribe function. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Number of subscribers. */
  get size(): number {
    return this.listeners.size;
  }

  /** Publishes an actor transition; `key` is `namespace/cluster` as the Supervisor gives it. */
  transition(key: string, state: string): void {
    const [namespace, cluster] = key.split('/');
    this.publish({ kind: 'transition', time: new Date().toISOString(), namespace, cluster, state });
  }
}

/** True when `event` is for `namespace` (and `cluster`, when given). */
export function matches(event: StreamEvent, namespace: string, cluster?: string): boolean {
  if (event.kind === 'hello' || event.kind === 'dropped') return true;
  return event.namespace === namespace && (!cluster || event.cluster === cluster);
}
