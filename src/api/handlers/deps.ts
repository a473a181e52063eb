/** What route handlers get: Kubernetes clients, the access store, the request's user and validated input. */
import { CoreV1Api, CustomObjectsApi, DiscoveryV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { PgClusterResource, PgPolicyResource, PgReplicaResource, PgTaskResource, PgUpgradeResource } from '../../crd/types.ts';
import { GROUP, VERSION, type ResourcePlural } from '../../crd/resources.ts';
import { CustomResources, describeError, httpStatus } from '../../k8s/custom.ts';
import { ApiError } from '../errors.ts';
import type { AccessStore } from '../auth/store.ts';
import type { Principal } from '../permissions.ts';
import type { RouteId } from '../routes.ts';

export type { PgPolicyResource };

/** Shared clients. */
export class Deps {
  readonly core: CoreV1Api;
  readonly discovery: DiscoveryV1Api;
  readonly custom: CustomObjectsApi;
  readonly clusters: CustomResources<PgClusterResource>;
  readonly replicas: CustomResources<PgReplicaResource>;
  readonly tasks: CustomResources<PgTaskResource>;
  readonly policies: CustomResources<PgPolicyResource>;
  readonly upgrades: CustomResources<PgUpgradeResource>;
  constructor(
    readonly kc: KubeConfig,
    readonly access: AccessStore,
    readonly log: (line: string) => void,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.discovery = kc.makeApiClient(DiscoveryV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.clusters = new CustomResources(kc, 'pgclusters');
    this.replicas = new CustomResources(kc, 'pgreplicas');
    this.tasks = new CustomResources(kc, 'pgtasks');
    this.policies = new CustomResources(kc, 'pgpolicies');
    this.upgrades = new CustomResources(kc, 'pgupgrades');
  }

  /** Lists one kind of custom resource in a namespace, optionally by label selector (a bad selector is a 400). */
  async list<R>(plural: ResourcePlural, namespace: string, labelSelector?: string): Promise<R[]> {
    try {
      const res = (await this.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, labelSelector })) as { items: R[] };
      return res.items;
    } catch (err) {
      if (httpStatus(err) === 400) throw new ApiError(400, `invalid selector: ${describeError(err)}`, ['query.selector'], { cause: err });
      throw err;
    }
  }

  /** Reads a pgcluster or answers 404. */
  async cluster(namespace: string, name: string): Promise<PgClusterResource> {
    return orNotFound(this.clusters.get(namespace, name), `cluster ${namespace}/${name}`);
  }
}

/** Polls the pgtasks `names` until each has ended or `untilMs` (epoch ms) passed; returns them as last read. */
export async function awaitTasks(deps: Deps, namespace: string, names: string[], untilMs: number): Promise<Map<string, PgTaskResource>> {
  const seen = new Map<string, PgTaskResource>();
  for (;;) {
    for (const name of names) {
      const t = seen.get(name);
      if (t?.status?.phase === 'Succeeded' || t?.status?.phase === 'Failed') continue;
      seen.set(name, await deps.tasks.get(namespace, name));
    }
    const open = [...seen.values()].some((t) => t.status?.phase !== 'Succeeded' && t.status?.phase !== 'Failed');
    if (!open || Date.now() >= untilMs) return seen;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Awaits `p`, turning a Kubernetes 404 into an API 404 naming `what`. */
export async function orNotFound<T>(p: Promise<T>, what: string): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (httpStatus(err) === 404) throw new ApiError(404, `${what} not found`, undefined, { cause: err });
    throw err;
  }
}

/** A validated request. */
export interface Request {
  user: Principal;
  params: Record<string, string>;
  query: Record<string, unknown>;
  body: Record<string, unknown>;
}

/** A handler's answer: a body, and optionally a status other than 200. */
export type Reply = { status?: number; body: unknown };

/** A route handler. */
export type Handler = (deps: Deps, req: Request) => Promise<Reply>;

/** Handlers keyed by route id. */
export type HandlerTable = Partial<Record<RouteId, Handler>>;
