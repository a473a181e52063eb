/** Cluster routes: create, show, update, delete, label, status. The API records intent; the operator acts. */
import { quantityValue } from '../../crd/limits.ts';
import type { V1PersistentVolumeClaim, V1Service } from '@kubernetes/client-node';
import type { z } from 'zod';
import { backrestOf } from '../../crd/backrest.ts';
import { DATA_CLAIM_ANNOTATION, KEEP_BACKUPS_ANNOTATION, KEEP_DATA_ANNOTATION, KEPT_PRIMARY_ANNOTATION, LABEL, MANAGED_BY, clusterNames } from '../../cluster/names.ts';
import { pgClusterSpec } from '../../crd/pgcluster.ts';
import { API_VERSION } from '../../crd/resources.ts';
import { httpStatus } from '../../k8s/custom.ts';
import type { PgClusterResource, PgReplicaResource } from '../../crd/types.ts';
import { ApiError, validate } from '../errors.ts';
import type * as s from '../schemas.ts';
import { labelKey } from '../schemas.ts';
import type { Deps, Handler, HandlerTable } from './deps.ts';
import { planRestoreFrom, readSourceStanza, refuseKeptRepository, type SourceStanzaReader } from './restore-from.ts';

type ClusterInfo = z.infer<typeof s.clusterInfo>;

/** The summary `pgo show cluster` prints, from the cluster, its Services and its pgreplicas. */
export function clusterInfo(c: PgClusterResource, services: V1Service[], replicas: PgReplicaResource[]): ClusterInfo {
  const name = c.metadata.name;
  const spec = c.spec;
  const res = spec.resources;
  return {
    name,
    namespace: c.metadata.namespace,
    phase: c.status?.phase,
    state: c.status?.state,
    message: c.status?.message,
    currentPrimary: c.status?.currentPrimary,
    image: spec.image ?? '',
    replicas: replicas.filter((r) => r.spec.clusterName === name).map((r) => r.metadata.name).sort(),
    readyInstances: c.status?.readyInstances,
    instances: (c.status?.instances ?? []).map((i) => ({ ...i })),
    services: services
      .filter((x) => x.metadata?.labels?.[LABEL.cluster] === name)
      .map((x) => ({ name: x.metadata!.name!, type: x.spec?.type ?? 'ClusterIP', clusterIP: x.spec?.clusterIP }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    storage: { primary: spec.storage?.primary?.size ?? '', replica: spec.storage?.replica?.size ?? spec.storage?.primary?.size ?? '' },
    resources: { cpu: res?.requests?.cpu, memory: res?.requests?.memory, cpuLimit: res?.limits?.cpu, memoryLimit: res?.limits?.memory },
    labels: c.metadata.labels ?? {},
    disableAutofail: spec.disableAutofail ?? false,
    shutdown: spec.shutdown ?? false,
    created: c.metadata.creationTimestamp ? new Date(c.metadata.creationTimestamp).toISOString() : undefined,
    backrest: backrestSummary(c),
    restore: c.status?.restore,
    lastDrill: c.status?.lastDrill,
  };
}

function backrestSummary(c: PgClusterResource): ClusterInfo['backrest'] {
  const b = backrestOf(c.spec);
  if (!b.enabled) return undefined;
  const archiving = c.status?.conditions?.find((x) => x.type === 'WALArchiving');
  return { storageType: b.storageType, archiving: archiving?.status, archivingMessage: archiving?.message };
}

const managed = `${LABEL.managedBy}=${MANAGED_BY}`;

async function servicesOf(deps: Deps, namespace: string, cluster?: string): Promise<V1Service[]> {
  const labelSelector = cluster ? `${LABEL.cluster}=${cluster}` : managed;
  return (await deps.core.listNamespacedService({ namespace, labelSelector })).items;
}

async function infoOf(deps: Deps, c: PgClusterResource): Promise<ClusterInfo> {
  const [services, replicas] = await Promise.all([servicesOf(deps, c.metadata.namespace, c.metadata.name), deps.list<PgReplicaResource>('pgreplicas', c.metadata.namespace)]);
  return clusterInfo(c, services, replicas);
}

type Resources = { requests?: { cpu?: string; memory?: string }; limits?: { cpu?: string; memory?: string } };
function resourcesFrom(b: { cpu?: string; memory?: string; cpuLimit?: string; memoryLimit?: string }, current?: Resources): Resources | undefined {
  const requests = { ...current?.requests, ...(b.cpu ? { cpu: b.cpu } : {}), ...(b.memory ? { memory: b.memory } : {}) };
  const limits = { ...current?.limits, ...(b.cpuLimit ? { cpu: b.cpuLimit } : {}), ...(b.memoryLimit ? { memory: b.memoryLimit } : {}) };
  const out: Resources = {};
  if (Object.keys(requests).length) out.requests = requests;
  if (Object.keys(limits).length) out.limits = limits;
  return Object.keys(out).length ? out : undefined;
}

/** The pgcluster spec for a `pgo create cluster` request (only what was given; the CRD fills defaults). */
export function specFromCreate(b: z.output<typeof s.clusterCreateBody>): Record<string, unknown> {
  const storage = (size: string | undefined) => (size || b.storageClass ? { size: size ?? '1Gi', ...(b.storageClass ? { storageClass: b.storageClass } : {}) } : undefined);
  const primary = storage(b.pvcSize);
  const replica = b.replicaPvcSize ? storage(b.replicaPvcSize) : undefined;
  const spec: Record<string, unknown> = {
    replicas: b.replicaCount,
    image: b.image,
    storage: primary || replica ? { primary: primary ?? { size: '1Gi' }, ...(replica ? { replica } : {}) } : undefined,
    resources: resourcesFrom(b),
    nodeAffinity: b.nodeLabel ? { nodeLabel: b.nodeLabel, type: b.nodeAffinityType ?? 'preferred' } : undefined,
    podAntiAffinity: b.podAntiAffinity,
    serviceType: b.serviceType,
    userLabels: b.labels,
    database: b.database,
    user: b.username,
    disableAutofail: b.disableAutofail,
    syncReplication: b.syncReplication,
    shutdown: b.shutdown,
    policies: b.policies,
    parameters: b.parameters,
  };
  for (const k of Object.keys(spec)) if (spec[k] === undefined) delete spec[k];
  return spec;
}

/** The volume claims a cluster of this name deleted with --keep-data left (no owner), and the one that held its primary. */
async function keptData(deps: Deps, namespace: string, name: string): Promise<{ primary?: string; claims: string[] }> {
  const claims = (await deps.core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector: `${LABEL.cluster}=${name}` })).items
    .filter((c) => !c.metadata?.ownerReferences?.length && !c.metadata?.deletionTimestamp);
  const primary = claims.find((c) => c.metadata?.annotations?.[KEPT_PRIMARY_ANNOTATION])?.metadata?.name;
  return { primary, claims: claims.map((c) => c.metadata!.name!).sort() };
}

async function exists(deps: Deps, namespace: string, name: string): Promise<boolean> {
  try {
    await deps.clusters.get(namespace, name);
    return true;
  } catch (err) {
    if (httpStatus(err) === 404) return false;
    throw err;
  }
}

/**
 * `pgo create cluster`, reading a --restore-from source's repository with `readStanza` (tests give
 * pgBackRest's answer directly). Everything is checked before the pgcluster is created; nothing else is.
 */
export function createClusterUsing(readStanza: SourceStanzaReader): Handler {
  return async (deps, { params, body }) => {
    const b = body as z.output<typeof s.clusterCreateBody>;
    const namespace = params.namespace!;
    const spec = specFromCreate(b);
    validate(pgClusterSpec, spec, 'spec');
    // Before reading the source's repository: a name taken needs no pgBackRest call to refuse.
    if (b.restoreFrom !== undefined && (await exists(deps, namespace, b.name))) throw new ApiError(409, `cluster ${namespace}/${b.name} already exists`);
    await refuseKeptRepository(deps, namespace, b);
    const kept = await keptData(deps, namespace, b.name);
    if (kept.primary && b.restoreFrom !== undefined) {
      throw new ApiError(409, `the data of a cluster ${b.name} deleted with --keep-data is still here (volume claims ${kept.claims.join(', ')}): create it without --restore-from to start on that data, or delete the claims first (kubectl -n ${namespace} delete pvc -l ${LABEL.cluster}=${b.name})`, ['body.restoreFrom']);
    }
    const restore = await planRestoreFrom(deps, namespace, b, readStanza);
    if (restore) spec.dataSource = restore.dataSource;
    const obj = {
      apiVersion: API_VERSION,
      kind: 'PGCluster',
      metadata: { name: b.name, namespace, labels: b.labels ?? {}, ...(kept.primary ? { annotations: { [DATA_CLAIM_ANNOTATION]: kept.primary } } : {}) },
      spec,
    } as unknown as PgClusterResource;
    const { created, object } = await deps.clusters.createIfAbsent(obj);
    if (!created) throw new ApiError(409, `cluster ${namespace}/${b.name} already exists`);
    const info = clusterInfo(object, [], []);
    if (restore) info.message = `restoring from cluster ${b.restoreFrom}: ${restore.plan.description}`;
    if (kept.primary) {
      const unused = kept.claims.filter((c) => c !== kept.primary && c !== clusterNames(b.name).repoVolume);
      info.message = `starting on the data kept in volume claim ${kept.primary} (the primary when ${b.name} was deleted with --keep-data); the replicas are copied from it` +
        (unused.length ? `; kept claims not used: ${unused.join(', ')} (delete them once you no longer need them)` : '');
    }
    return { status: 201, body: info };
  };
}

/** Cluster handlers. */
export const clusterHandlers: HandlerTable = {
  'cluster.create': createClusterUsing(readSourceStanza),

  'cluster.list': async (deps, { params, query }) => {
    const namespace = params.namespace!;
    const [clusters, services, replicas] = await Promise.all([
      deps.list<PgClusterResource>('pgclusters', namespace, query.selector as string | undefined),
      servicesOf(deps, namespace),
      deps.list<PgReplicaResource>('pgreplicas', namespace),
    ]);
    clusters.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    return { body: { clusters: clusters.map((c) => clusterInfo(c, services, replicas)) } };
  },

  'cluster.get': async (deps, { params }) => ({ body: await infoOf(deps, await deps.cluster(params.namespace!, params.name!)) }),

  'cluster.update': async (deps, { params, body }) => {
    const b = body as z.output<typeof s.clusterUpdateBody>;
    await deps.cluster(params.namespace!, params.name!);
    const updated = await deps.clusters.mutate(params.namespace!, params.name!, (c) => {
      if (b.disableAutofail !== undefined) c.spec.disableAutofail = b.disableAutofail;
      if (b.shutdown !== undefined) c.spec.shutdown = b.shutdown;
      if (b.serviceType) c.spec.serviceType = b.serviceType;
      if (b.parameters) c.spec.parameters = { ...c.spec.parameters, ...b.parameters };
      const r = resourcesFrom(b, c.spec.resources);
      if (r) c.spec.resources = r;
      validate(pgClusterSpec, c.spec, 'spec');
    });
    if (!updated) throw new ApiError(404, `cluster ${params.namespace}/${params.name} not found`);
    return { body: await infoOf(deps, updated) };
  },

  'cluster.delete': async (deps, { params, query }) => {
    const { namespace, name } = params as { namespace: string; name: string };
    const q = query as z.output<typeof s.clusterDeleteQuery>;
    await deps.cluster(namespace, name);
    const keep = { ...(q.keepData ? { [KEEP_DATA_ANNOTATION]: 'true' } : {}), ...(q.keepBackups ? { [KEEP_BACKUPS_ANNOTATION]: 'true' } : {}) };
    if (Object.keys(keep).length) {
      // The annotations are read by the operator's finalizer before Kubernetes collects the volumes and the repository.
      await deps.clusters.mutate(namespace, name, (c) => {
        c.metadata.annotations = { ...c.metadata.annotations, ...keep };
      });
    }
    await deps.clusters.delete(namespace, name);
    const kept = [q.keepData && 'data kept', q.keepBackups && `backups kept: restore them with pgo create cluster NAME --restore-from ${name}`].filter(Boolean);
    return { body: { message: `deleted pgcluster ${name}${kept.length ? ` (${kept.join('; ')})` : ''}` } };
  },

  'cluster.label': async (deps, { params, body }) => {
    const b = body as z.output<typeof s.labelBody>;
    const { namespace, name } = params as { namespace: string; name: string };
    const current = await deps.cluster(namespace, name);
    if (b.dryRun) return { body: { cluster: name, labels: { ...current.metadata.labels, ...b.labels }, dryRun: true } };
    // Labels go on the pgcluster (for --selector) and into spec.userLabels, which the operator puts on
    // every object of the cluster (v4 labelled the cluster's Deployments too).
    const updated = await deps.clusters.mutate(namespace, name, (c) => {
      c.metadata.labels = { ...c.metadata.labels, ...b.labels };
      c.spec.userLabels = { ...c.spec.userLabels, ...b.labels };
    });
    return { body: { cluster: name, labels: updated?.metadata.labels ?? {}, dryRun: false } };
  },

  'cluster.unlabel': async (deps, { params, query }) => {
    const { namespace, name } = params as { namespace: string; name: string };
    const keys = String(query.keys).split(',').map((k) => k.trim()).filter(Boolean);
    keys.forEach((k, i) => validate(labelKey, k, `query.keys[${i}]`));
    await deps.cluster(namespace, name);
    const updated = await deps.clusters.mutate(namespace, name, (c) => {
      for (const k of keys) {
        delete c.metadata.labels?.[k];
        delete c.spec.userLabels?.[k];
      }
    });
    return { body: { cluster: name, labels: updated?.metadata.labels ?? {}, dryRun: false } };
  },

  status: async (deps, { params }) => {
    const namespace = params.namespace!;
    const [clusters, claims] = await Promise.all([
      deps.list<PgClusterResource>('pgclusters', namespace),
      deps.core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector: managed }).then((l) => l.items),
    ]);
    const images: Record<string, number> = {};
    const labelCounts = new Map<string, number>();
    for (const c of clusters) {
      const image = c.spec.image ?? 'default';
      images[image] = (images[image] ?? 0) + 1;
      for (const [k, v] of Object.entries(c.metadata.labels ?? {})) labelCounts.set(`${k}=${v}`, (labelCounts.get(`${k}=${v}`) ?? 0) + 1);
    }
    return {
      body: {
        namespace,
        databases: clusters.length,
        claims: claims.length,
        totalVolumeSize: formatBytes(claims.reduce((sum, c) => sum + claimBytes(c), 0)),
        images,
        notReady: clusters.filter((c) => c.status?.phase !== 'Ready').map((c) => c.metadata.name).sort(),
        labels: [...labelCounts].filter(([, n]) => n > 1).map(([label, count]) => ({ label, count })),
      },
    };
  },
};

/** Bytes of a quantity such as `1Gi`; 0 when unknown. */
export function quantityBytes(q: string | undefined): number {
  return quantityValue(q ?? '') || 0;
}

/** Requested (or provisioned) size of a claim, in bytes. */
export function claimBytes(c: V1PersistentVolumeClaim): number {
  return quantityBytes(String(c.status?.capacity?.storage ?? c.spec?.resources?.requests?.storage ?? ''));
}

/** `1.5Gi`-style size. */
export function formatBytes(n: number): string {
  const steps = ['B', 'Ki', 'Mi', 'Gi', 'Ti'];
  let i = 0;
  while (n >= 1024 && i < steps.length - 1) {
    n /= 1024;
    i++;
  }
  return `${Number.isInteger(n) ? n : n.toFixed(1)}${steps[i]}`;
}

