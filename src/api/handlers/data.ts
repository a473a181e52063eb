/**
 * Routes that talk to PostgreSQL itself (`pgo test`, `df`, `reload`). The API runs
 * the SQL with node-postgres against each instance's pod IP as the superuser; the CLI never connects.
 * (`pgo show user` is in users.ts.)
 */
import type pg from 'pg';
import { clusterNames, instanceClaim } from '../../cluster/names.ts';
import type { PgClusterResource } from '../../crd/types.ts';
import { secretValue } from '../../actors/user.ts';
import { withInstance } from '../../pg/instance.ts';
import { ApiError } from '../errors.ts';
import { DATABASE_BYTES, PING, RELOAD_CONF } from '../sql.ts';
import { claimBytes } from './clusters.ts';
import type { Deps, HandlerTable } from './deps.ts';

async function superuserPassword(deps: Deps, c: PgClusterResource): Promise<string> {
  const password = await secretValue(deps.core, c.metadata.namespace, clusterNames(c.metadata.name).superuserSecret, 'password');
  if (password === undefined) throw new ApiError(409, `cluster ${c.metadata.name} has no superuser Secret yet; is it still being created?`);
  return password;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Runs `work` on every instance that has a pod IP, in parallel; per-instance errors are returned, not thrown. */
async function onInstances<T>(deps: Deps, c: PgClusterResource, work: (client: pg.Client) => Promise<T>) {
  const password = await superuserPassword(deps, c);
  const port = c.spec.port ?? 5432;
  return Promise.all(
    (c.status?.instances ?? []).map(async (i) => {
      if (!i.podIP) return { instance: i, error: 'no pod IP (not running)' };
      try {
        return { instance: i, value: await withInstance({ host: i.podIP, port, password }, work) };
      } catch (err) {
        return { instance: i, error: message(err) };
      }
    }),
  );
}

/** Data-plane handlers. */
export const dataHandlers: HandlerTable = {
  'cluster.test': async (deps, { params }) => {
    const c = await deps.cluster(params.namespace!, params.name!);
    const names = clusterNames(c.metadata.name);
    const services = await Promise.all(
      [
        { name: names.primaryService, role: 'primary' },
        { name: names.replicaService, role: 'replica' },
      ].map(async (svc) => {
        const service = await deps.core.readNamespacedService({ namespace: c.metadata.namespace, name: svc.name }).catch(() => undefined);
        if (!service) return undefined;
        const slices = await deps.discovery.listNamespacedEndpointSlice({ namespace: c.metadata.namespace, labelSelector: `kubernetes.io/service-name=${svc.name}` });
        const up = slices.items.some((s) => s.endpoints?.some((e) => e.conditions?.ready));
        const address = service.spec?.clusterIP ? `${service.spec.clusterIP}:${service.spec.ports?.[0]?.port ?? 5432}` : undefined;
        return { ...svc, address, up };
      }),
    );
    const results = await onInstances(deps, c, (client) => client.query(PING));
    return {
      body: {
        cluster: c.metadata.name,
        services: services.filter((s) => s !== undefined),
        instances: results.map((r) => ({ name: r.instance.name, role: r.instance.role, up: r.error === undefined, ...(r.error ? { error: r.error } : {}) })),
      },
    };
  },

  'cluster.df': async (deps, { params }) => {
    const c = await deps.cluster(params.namespace!, params.name!);
    const results = await onInstances(deps, c, async (client) => Number((await client.query<{ bytes: string }>(DATABASE_BYTES)).rows[0]?.bytes ?? 0));
    const claims = await Promise.all(
      results.map((r) => deps.core.readNamespacedPersistentVolumeClaim({ namespace: c.metadata.namespace, name: instanceClaim(c, r.instance.name) }).catch(() => undefined)),
    );
    return {
      body: {
        cluster: c.metadata.name,
        instances: results.map((r, i) => ({
          name: r.instance.name,
          role: r.instance.role,
          up: r.error === undefined,
          ...(r.value !== undefined ? { databaseBytes: r.value } : {}),
          ...(claims[i] ? { capacityBytes: claimBytes(claims[i]) } : {}),
          ...(r.error ? { error: r.error } : {}),
        })),
      },
    };
  },

  'cluster.reload': async (deps, { params }) => {
    const c = await deps.cluster(params.namespace!, params.name!);
    const results = await onInstances(deps, c, (client) => client.query(RELOAD_CONF));
    return {
      body: {
        cluster: c.metadata.name,
        reloaded: results.filter((r) => r.error === undefined).map((r) => r.instance.name),
        failed: results.filter((r) => r.error !== undefined).map((r) => ({ name: r.instance.name, error: r.error })),
      },
    };
  },
};
