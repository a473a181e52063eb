/** Scale, scaledown, failover and tasks: replicas are pgreplicas, failovers are pgtasks the operator carries out. */
import type { z } from 'zod';
import { ownerRef } from '../../cluster/builders.ts';
import { LABEL, clusterLabels, randomReplicaName } from '../../cluster/names.ts';
import { LIMIT_MESSAGES, MAX_INSTANCES } from '../../crd/limits.ts';
import { API_VERSION } from '../../crd/resources.ts';
import type { PgClusterResource, PgReplicaResource, PgTaskResource } from '../../crd/types.ts';
import { ApiError } from '../errors.ts';
import { MESSAGES } from '../routes.ts';
import type * as s from '../schemas.ts';
import { httpStatus } from '../../k8s/custom.ts';
import { orNotFound, type HandlerTable } from './deps.ts';
import { upgradeInfo } from './upgrades.ts';

/** The replicas of a cluster from its status, as scaledown and failover list them. */
export function candidates(c: PgClusterResource): z.infer<typeof s.candidateList> {
  const instances = c.status?.instances ?? [];
  return {
    cluster: c.metadata.name,
    primary: c.status?.currentPrimary,
    replicas: instances
      .filter((i) => i.role === 'replica' && i.name !== c.status?.currentPrimary)
      .map((i) => ({ name: i.name, ready: i.ready, node: i.node, lagBytes: i.lagBytes, timeline: i.timeline })),
  };
}

/** The task as the API shows it. */
export function taskInfo(t: PgTaskResource): z.infer<typeof s.taskInfo> {
  return {
    name: t.metadata.name,
    namespace: t.metadata.namespace,
    type: t.spec.type,
    cluster: t.spec.clusterName,
    target: t.spec.target,
    phase: t.status?.phase ?? 'Pending',
    message: t.status?.message,
    startTime: t.status?.startTime,
    completionTime: t.status?.completionTime,
  };
}

const suffix = () => randomReplicaName('x').slice(2);

/** Replica and failover handlers. */
export const replicaHandlers: HandlerTable = {
  'cluster.scale': async (deps, { params, body }) => {
    const b = body as z.output<typeof s.scaleBody>;
    const { namespace, name } = params as { namespace: string; name: string };
    const cluster = await deps.cluster(namespace, name);
    const existing = (await deps.replicas.list(namespace)).filter((r) => r.spec.clusterName === name && !r.metadata.deletionTimestamp).length;
    if (1 + existing + b.replicaCount > MAX_INSTANCES) throw new ApiError(400, `${LIMIT_MESSAGES.instances} (it has ${1 + existing})`, ['body.replicaCount']);
    const created: string[] = [];
    for (let i = 0; i < b.replicaCount; i++) {
      const replicaName = randomReplicaName(name);
      const spec: Record<string, unknown> = { clusterName: name };
      if (b.pvcSize || b.storageClass) spec.storage = { size: b.pvcSize ?? cluster.spec.storage?.replica?.size ?? cluster.spec.storage?.primary?.size ?? '1Gi', ...(b.storageClass ? { storageClass: b.storageClass } : {}) };
      if (b.nodeLabel) spec.nodeAffinity = { nodeLabel: b.nodeLabel, type: b.nodeAffinityType ?? 'preferred' };
      if (b.serviceType) spec.serviceType = b.serviceType;
      const replica = {
        apiVersion: API_VERSION,
        kind: 'PGReplica',
        metadata: { name: replicaName, namespace, labels: { ...clusterLabels(name, cluster.spec.userLabels), [LABEL.instance]: replicaName }, ownerReferences: [ownerRef(cluster)] },
        spec,
      } as unknown as PgReplicaResource;
      const r = await deps.replicas.createIfAbsent(replica);
      if (r.created) created.push(replicaName);
    }
    return { status: 201, body: { cluster: name, created } };
  },

  'cluster.replicas': async (deps, { params }) => ({ body: candidates(await deps.cluster(params.namespace!, params.name!)) }),

  'cluster.scaledown': async (deps, { params, query }) => {
    const { namespace, name, replica } = params as { namespace: string; name: string; replica: string };
    // The replica's volume is owned by its pgreplica, so Kubernetes removes it with the replica; the
    // operator has no way yet to keep one replica's data. Saying so beats deleting the data anyway.
    if (query.keepData) throw new ApiError(501, MESSAGES.notImplemented('pgo scaledown --keep-data'));
    await deps.cluster(namespace, name);
    const r = await orNotFound(deps.replicas.get(namespace, replica), `replica ${namespace}/${replica}`);
    if (r.spec.clusterName !== name) throw new ApiError(400, `replica ${replica} belongs to cluster ${r.spec.clusterName}, not ${name}`, ['path.replica']);
    await deps.replicas.delete(namespace, replica);
    return { body: { message: `deleted pgreplica ${replica}` } };
  },

  'failover.query': async (deps, { params }) => ({ body: candidates(await deps.cluster(params.namespace!, params.name!)) }),

  'failover.create': async (deps, { params, body }) => {
    const b = body as z.output<typeof s.failoverBody>;
    const { namespace, name } = params as { namespace: string; name: string };
    const cluster = await deps.cluster(namespace, name);
    if (b.target) {
      if (b.target === cluster.status?.currentPrimary) throw new ApiError(400, `${b.target} is the primary of ${name} and cannot be the failover target`, ['body.target']);
      const known = candidates(cluster).replicas.some((r) => r.name === b.target);
      if (!known) throw new ApiError(400, `${b.target} is not a replica of cluster ${name}; see pgo failover ${name} --query`, ['body.target']);
    }
    const type = b.target ? 'failover' : 'switchover';
    const task = {
      apiVersion: API_VERSION,
      kind: 'PGTask',
      metadata: { name: `${name}-${type}-${suffix()}`, namespace, labels: { [LABEL.cluster]: name } },
      spec: { type, clusterName: name, ...(b.target ? { target: b.target } : {}) },
    } as PgTaskResource;
    const { object } = await deps.tasks.createIfAbsent(task);
    return { status: 202, body: taskInfo(object) };
  },

  'task.get': async (deps, { params }) => {
    const { namespace, task } = params as { namespace: string; task: string };
    // A pgupgrade is a long operation too (its name is what pgo upgrade printed).
    const t = await deps.tasks.get(namespace, task).catch((err: unknown) => {
      if (httpStatus(err) === 404) return undefined;
      throw err;
    });
    if (t) return { body: taskInfo(t) };
    return { body: upgradeInfo(await orNotFound(deps.upgrades.get(namespace, task), `task ${namespace}/${task}`)) };
  },
};
