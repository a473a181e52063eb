/** Policies: named SQL kept as pgpolicy resources (`pgo create|show|delete policy`). */
import type { z } from 'zod';
import { API_VERSION } from '../../crd/resources.ts';
import { ApiError } from '../errors.ts';
import type * as s from '../schemas.ts';
import { orNotFound, type HandlerTable, type PgPolicyResource } from './deps.ts';

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
};
