/**
 * Policies: named SQL kept as pgpolicy resources (`pgo create|show|delete policy`), and `pgo apply`: one
 * pgtask of type apply-policy per cluster (run by src/actors/policy.ts), waited for up to WAIT_MS, each
 * cluster's result reported on its own (one failing does not stop the others).
 */
import type { z } from 'zod';
import { isApplied, policyTask } from '../../actors/policy.ts';
import { randomReplicaName } from '../../cluster/names.ts';
import { POLICY_MESSAGES } from '../../crd/policy.ts';
import { API_VERSION } from '../../crd/resources.ts';
import type { PgClusterResource } from '../../crd/types.ts';
import { httpStatus } from '../../k8s/custom.ts';
import { ApiError } from '../errors.ts';
import type * as s from '../schemas.ts';
import { awaitTasks, orNotFound, type HandlerTable, type PgPolicyResource } from './deps.ts';

/** How long `pgo apply` waits for the runs before answering that they still run. */
const WAIT_MS = 30_000;

type ApplyResult = z.infer<typeof s.policyApplyResult>['results'][number];

const info = (p: PgPolicyResource) => ({ name: p.metadata.name, namespace: p.metadata.namespace, sql: p.spec.sql, database: p.spec.database, appliedTo: p.status?.appliedTo });

/** Policy handlers. */
export const policyHandlers: HandlerTable = {
  'policy.create': async (deps, { params, body }) => {
    const b = body as z.output<typeof s.policyCreateBody>;
    const obj = { apiVersion: API_VERSION, kind: 'PGPolicy', metadata: { name: b.name, namespace: params.namespace! }, spec: { sql: b.sql, ...(b.database ? { database: b.database } : {}) } } as PgPolicyResource;
    const { created, object } = await deps.policies.createIfAbsent(obj);
    if (!created) throw new ApiError(409, `policy ${params.namespace}/${b.name} already exists`);
    return { status: 201, body: info(object) };
  },
  'policy.list': async (deps, { params }) => ({ body: { policies: (await deps.list<PgPolicyResource>('pgpolicies', params.namespace!)).map(info) } }),
  'policy.get': async (deps, { params }) => ({ body: info(await orNotFound(deps.policies.get(params.namespace!, params.name!), `policy ${params.namespace}/${params.name}`)) }),
  'policy.delete': async (deps, { params }) => {
    await orNotFound(deps.policies.get(params.namespace!, params.name!), `policy ${params.namespace}/${params.name}`);
    await deps.policies.delete(params.namespace!, params.name!);
    return { body: { message: `deleted policy ${params.name}` } };
  },
  'policy.apply': async (deps, { params, body }) => {
    const b = body as z.output<typeof s.policyApplyBody>;
    const namespace = params.namespace!;
    const policy = params.name!;
    await deps.policies.get(namespace, policy).catch((err: unknown) => {
      throw httpStatus(err) === 404 ? new ApiError(404, POLICY_MESSAGES.noPolicy(namespace, policy)) : err;
    });
    const clusters = b.clusters
      ? await Promise.all(b.clusters.map((c) => deps.cluster(namespace, c)))
      : await deps.list<PgClusterResource>('pgclusters', namespace, b.selector);
    if (!clusters.length) throw new ApiError(404, `no cluster in namespace ${namespace} matches the selector ${b.selector}`, ['body.selector']);
    const fresh = clusters.filter((c) => !isApplied(c, policy));
    const skipped: ApplyResult[] = clusters.filter((c) => !fresh.includes(c)).map((c) => ({ cluster: c.metadata.name, status: 'skipped', message: POLICY_MESSAGES.applied(policy, c.metadata.name) }));
    if (b.dryRun) return { body: { policy, dryRun: true, results: [...fresh.map((c) => ({ cluster: c.metadata.name, status: 'would apply' as const })), ...skipped] } };
    const tasks = fresh.map((c) => ({ cluster: c.metadata.name, task: `${c.metadata.name}-policy-${policy}-${randomReplicaName('x').slice(2)}` }));
    for (const { cluster, task } of tasks) {
      await deps.tasks.createIfAbsent(policyTask(namespace, cluster, policy, task));
    }
    const done = await awaitTasks(deps, namespace, tasks.map((t) => t.task), Date.now() + WAIT_MS);
    const results: ApplyResult[] = tasks.map(({ cluster, task }) => {
      const t = done.get(task)!;
      const phase = t.status?.phase;
      const status = phase === 'Succeeded' ? 'applied' : phase === 'Failed' ? 'failed' : 'running';
      const message = status === 'running' ? `still running after ${WAIT_MS / 1000} s: see pgo show workflow ${task}` : t.status?.message;
      return { cluster, status, task, ...(message ? { message } : {}), ...(t.status?.policy?.sqlstate ? { sqlstate: t.status.policy.sqlstate } : {}) };
    });
    return { body: { policy, results: [...results, ...skipped] } };
  },
};
