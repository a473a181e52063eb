/**
 * Kubernetes sources of the event stream: Events about the operator's objects and pgtask progress, each
 * from one watch over all namespaces (started from the current resourceVersion, so history is not
 * replayed), restarted with back-off when it ends.
 */
import { CoreV1Api, Watch, type CoreV1Event, type KubeConfig } from '@kubernetes/client-node';
import { LABEL } from '../cluster/names.ts';
import type { PgTaskResource } from '../crd/types.ts';
import { CustomResources, describeError } from '../k8s/custom.ts';
import type { EventBus } from './events.ts';

const KINDS = new Set(['PGCluster', 'PGReplica', 'PGTask', 'PGPolicy', 'PGBackup', 'PGUpgrade']);

/**
 * The client's Watch gives up on a stream silent for 30 s (shorter than the API server's bookmark interval):
 * that is a normal end, resumed at once from the last version seen. (Treated as a failure, every quiet watch
 * was restarted from a fresh list after a growing back-off, missing what happened in between.)
 */
const timedOut = (err: unknown) => (err as { name?: string })?.name === 'TimeoutError';

/** A running watch loop. */
export interface Source {
  stop(): void;
}

function loop(kc: KubeConfig, path: string, list: () => Promise<string | undefined>, onEvent: (type: string, obj: unknown) => void, log: (l: string) => void): Source {
  let stopped = false;
  let abort: AbortController | undefined;
  let failures = 0;
  // Resumes from the last version seen, so a watch that timed out misses nothing; relists after errors.
  let lastSeen: string | undefined;
  const run = async () => {
    while (!stopped) {
      try {
        const resourceVersion = lastSeen ?? (await list());
        await new Promise<void>((resolve, reject) => {
          void new Watch(kc)
            .watch(path, { resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 240 }, (type, obj) => {
              failures = 0;
              lastSeen = (obj as { metadata?: { resourceVersion?: string } })?.metadata?.resourceVersion ?? lastSeen;
              if (type !== 'BOOKMARK') onEvent(type, obj);
            }, (err) => (err && !timedOut(err) ? reject(err as Error) : resolve()))
            .then((c) => (abort = c), reject);
        });
        continue; // ended normally (server timeout, or silent too long): resume at once from lastSeen
      } catch (err) {
        lastSeen = undefined;
        if (!stopped) log(`event stream watch ${path}: ${describeError(err)}; restarting`);
      }
      if (stopped) return;
      failures++;
      await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** Math.min(failures, 6))));
    }
  };
  void run();
  return { stop: () => ((stopped = true), abort?.abort()) };
}

/** Publishes Kubernetes Events about the operator's custom resources and pgtask phase changes. */
export function startSources(kc: KubeConfig, bus: EventBus, log: (l: string) => void): Source {
  const core = kc.makeApiClient(CoreV1Api);
  const tasks = new CustomResources<PgTaskResource>(kc, 'pgtasks');
  const events = loop(kc, '/api/v1/events', async () => (await core.listEventForAllNamespaces({ limit: 1 })).metadata?.resourceVersion, (type, obj) => {
    const e = obj as CoreV1Event;
    if (type !== 'ADDED' && type !== 'MODIFIED') return;
    const kind = e.involvedObject?.kind ?? '';
    if (!KINDS.has(kind) && e.source?.component !== 'pg-operator') return;
    const name = e.involvedObject?.name ?? '';
    bus.publish({
      kind: 'event',
      time: new Date().toISOString(),
      namespace: e.metadata?.namespace ?? e.involvedObject?.namespace,
      cluster: kind === 'PGCluster' ? name : undefined,
      object: `${kind}/${name}`,
      reason: e.reason,
      type: e.type,
      message: e.message,
    });
  }, log);
  const phases = new Map<string, string>();
  const taskWatch = loop(kc, '/apis/pg-operator.dev/v1/pgtasks', async () => (await tasks.listAll()).metadata.resourceVersion, (type, obj) => {
    const t = obj as PgTaskResource;
    const key = `${t.metadata?.namespace}/${t.metadata?.name}`;
    if (type === 'DELETED') return void phases.delete(key);
    if (type !== 'ADDED' && type !== 'MODIFIED') return;
    const phase = t.status?.phase ?? 'Pending';
    // A restore's progress too: the percent of files fetched while it restores.
    const r = t.status?.restore;
    const message = `${t.status?.message ?? ''}${phase === 'Running' && r?.phase === 'Restoring' && r.percent !== undefined ? ` (${r.percent}% of the files fetched)` : ''}` || undefined;
    const progress = `${phase}\u0000${message ?? ''}`;
    if (phases.get(key) === progress) return;
    phases.set(key, progress);
    bus.publish({
      kind: 'task',
      time: new Date().toISOString(),
      namespace: t.metadata.namespace,
      cluster: t.spec?.clusterName ?? t.metadata.labels?.[LABEL.cluster],
      task: t.metadata.name,
      type: t.spec?.type,
      phase,
      message,
    });
  }, log);
  return { stop: () => (events.stop(), taskWatch.stop()) };
}
