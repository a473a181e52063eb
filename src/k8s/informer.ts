/**
 * Shared list+watch informers. client-node's informer relists on 410 Gone and reconnects after its
 * inactivity timeout, but stops on any other error: this wrapper restarts it with capped exponential
 * back-off, and `resync` periodically replays the cache so handlers stay level-triggered.
 */
import { makeInformer, type Informer, type KubeConfig, type KubernetesListObject, type KubernetesObject, type ObjectCache } from '@kubernetes/client-node';

/** Handlers of one informer; each gets the object as the cache holds it. */
export interface InformerHandlers<T> {
  add?(obj: T): void;
  update?(obj: T): void;
  delete?(obj: T): void;
  /** Called on every (re)connection, before the list (client-node's order). */
  connect?(): void;
}

/** A running informer with its cache. */
export interface SharedInformer<T> {
  list(namespace?: string): readonly T[];
  get(name: string, namespace?: string): T | undefined;
  /** Resolves once the first list is in the cache (and its `add` handlers have run). */
  synced: Promise<void>;
  stop(): void;
}

/**
 * Drops what the operator never reads from an object the cache holds (client-node's cache keeps the very
 * object it hands to the handlers): the server-side-apply bookkeeping, often larger than the object itself.
 * An update written from a cached object leaves the server's managedFields as they are (omitted, not empty).
 * Annotations stay: one written back without kubectl's last-applied copy would break `kubectl apply`.
 */
export function slim<T extends KubernetesObject>(obj: T): T {
  if (obj.metadata?.managedFields) delete obj.metadata.managedFields;
  return obj;
}

/** Starts an informer on `path` (e.g. `/api/v1/pods`), optionally filtered by a label selector. */
export function startInformer<T extends KubernetesObject>(
  kc: KubeConfig,
  path: string,
  list: () => Promise<KubernetesListObject<T>>,
  handlers: InformerHandlers<T>,
  options: { labelSelector?: string; resyncMs?: number; onError?: (err: unknown) => void } = {},
): SharedInformer<T> {
  let markSynced: () => void = () => undefined;
  const synced = new Promise<void>((resolve) => (markSynced = resolve));
  // client-node emits 'connect' before it lists, so 'connect' does not mean the cache holds anything: a
  // restarted operator judged a pgcluster "does not exist" from an empty cache. The list's items are added
  // in the continuation of this promise (a microtask); setImmediate runs after it.
  const listed = async () => {
    const result = await list();
    setImmediate(markSynced);
    return result;
  };
  const informer: Informer<T> & ObjectCache<T> = makeInformer(kc, path, listed, options.labelSelector);
  let stopped = false;
  let failures = 0;
  informer.on('add', (obj) => handlers.add?.(slim(obj)));
  informer.on('update', (obj) => handlers.update?.(slim(obj)));
  informer.on('delete', (obj) => handlers.delete?.(obj));
  informer.on('connect', () => {
    failures = 0;
    handlers.connect?.();
  });
  informer.on('error', (err) => {
    if (stopped) return;
    options.onError?.(err);
    const delay = Math.min(30_000, 250 * 2 ** failures++);
    setTimeout(() => void start(), delay);
  });
  const start = () =>
    informer.start().catch((err: unknown) => {
      if (stopped) return;
      options.onError?.(err);
      setTimeout(() => void start(), Math.min(30_000, 250 * 2 ** failures++));
    });
  void start();
  const resync = setInterval(() => {
    for (const obj of informer.list()) handlers.update?.(obj);
  }, options.resyncMs ?? 30_000);
  return {
    list: (namespace) => informer.list(namespace),
    get: (name, namespace) => informer.get(name, namespace),
    synced,
    stop() {
      stopped = true;
      clearInterval(resync);
      void informer.stop();
    },
  };
}
