/**
 * `pgo load`: one pgtask of type load per cluster (run by src/actors/load.ts, a Job next to the data),
 * waited for up to WAIT_MS; each cluster's result is the rows loaded, or the error and the line of the file
 * PostgreSQL refused. A load still running is reported as such, with its task.
 */
import type { z } from 'zod';
import { LABEL, randomReplicaName } from '../../cluster/names.ts';
import { API_VERSION } from '../../crd/resources.ts';
import type { PgClusterResource } from '../../crd/types.ts';
import { ApiError } from '../errors.ts';
import type * as s from '../schemas.ts';
import { awaitTasks, type HandlerTable } from './deps.ts';

/** How long `pgo load` waits for the loads before it answers with what is still running. */
const WAIT_MS = 30_000;

type LoadResult = z.output<typeof s.loadResult>['results'][number];

export const loadHandlers: HandlerTable = {
  load: async (deps, { params, body }) => {
    const b = body as z.output<typeof s.loadBody>;
    const namespace = params.namespace!;
    const clusters = b.clusters
      ? await Promise.all(b.clusters.map((c) => deps.cluster(namespace, c)))
      : await deps.list<PgClusterResource>('pgclusters', namespace, b.selector);
    if (!clusters.length) throw new ApiError(404, `no cluster in namespace ${namespace} matches the selector ${b.selector}`, ['body.selector']);
    const tasks = clusters.map((c) => ({ cluster: c.metadata.name, task: `${c.metadata.name}-load-${randomReplicaName('x').slice(2)}` }));
    for (const { cluster, task } of tasks) {
      await deps.tasks.createIfAbsent({
        apiVersion: API_VERSION,
        kind: 'PGTask',
        metadata: { name: task, namespace, labels: { [LABEL.cluster]: cluster } },
        spec: { type: 'load', clusterName: cluster, load: b.load },
      });
    }
    const done = await awaitTasks(deps, namespace, tasks.map((t) => t.task), Date.now() + WAIT_MS);
    const results: LoadResult[] = tasks.map(({ cluster, task }) => {
      const t = done.get(task)!;
      const phase = t.status?.phase;
      const status = phase === 'Succeeded' ? 'loaded' : phase === 'Failed' ? 'failed' : 'running';
      const message = status === 'running' ? `still running after ${WAIT_MS / 1000} s: see pgo show workflow ${task}` : t.status?.message;
      return { cluster, task, status, ...(t.status?.load ?? {}), ...(message ? { message } : {}) };
    });
    return { body: { results } };
  },
};
