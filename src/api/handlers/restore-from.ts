/**
 * `pgo create cluster --restore-from`: the request is checked against the source's repository host (options,
 * target, backup set) before anything is created, and becomes the new pgcluster's spec.dataSource; the
 * operator restores. Also refuses a new cluster whose name collides with a repository kept by
 * `pgo delete cluster --keep-backups`.
 */
import { AppsV1Api, type V1Pod } from '@kubernetes/client-node';
import { z } from 'zod';
import { readInfo, repoHostPod } from '../../actors/backup.ts';
import type { StanzaInfo } from '../../backrest/info.ts';
import { OptionError } from '../../backrest/options.ts';
import { RestoreRefused, planRestore, restoreRequest, type RestorePlan } from '../../backrest/restore-plan.ts';
import { LABEL, clusterNames } from '../../cluster/names.ts';
import { backrestOf } from '../../crd/backrest.ts';
import type { PgClusterSpec } from '../../crd/pgcluster.ts';
import type { PgClusterResource } from '../../crd/types.ts';
import { describeError, httpStatus } from '../../k8s/custom.ts';
import { ApiError, issueLines } from '../errors.ts';
import type * as s from '../schemas.ts';
import type { Deps } from './deps.ts';

type CreateBody = z.output<typeof s.clusterCreateBody>;

/** A pgcluster's spec.dataSource. */
export type DataSource = NonNullable<PgClusterSpec['dataSource']>;

/** Reads what the source's repository holds, from its repository host pod (tests give pgBackRest's answer directly). */
export type SourceStanzaReader = (deps: Deps, namespace: string, pod: string) => Promise<StanzaInfo | undefined>;

const restoreFields = (b: CreateBody) => [b.restoreOpts !== undefined && 'body.restoreOpts', b.pitrTarget !== undefined && 'body.pitrTarget'].filter((f) => f !== false);

/** The flags as a restore spec; refused options and targets are 400s naming what to change. */
function requestedSpec(b: CreateBody): ReturnType<typeof restoreRequest> {
  let spec;
  try {
    spec = restoreRequest({ pitrTarget: b.pitrTarget, options: b.restoreOpts });
  } catch (err) {
    if (err instanceof OptionError || err instanceof RestoreRefused) throw new ApiError(400, `--restore-opts: ${err.message}`, restoreFields(b), { cause: err });
    if (err instanceof z.ZodError) throw new ApiError(400, `invalid restore request: ${issueLines(err, 'restore').join('; ')}`, restoreFields(b), { cause: err });
    throw err;
  }
  // Only the source's repository host (repo1) is read: an S3 repo2 of the source is not reachable from the new cluster's settings.
  if (spec.repo !== undefined) {
    throw new ApiError(400, `--restore-opts: option --repo is not allowed with --restore-from: the restore reads repo1, the repository host of ${b.restoreFrom}; drop --repo=${spec.repo}`, ['body.restoreOpts']);
  }
  return spec;
}

/** The source's repository host Deployment's owners, or undefined when there is none (a kept one has no owner). */
async function repoHostOwners(deps: Deps, namespace: string, cluster: string): Promise<unknown[] | undefined> {
  try {
    return (await deps.kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ namespace, name: clusterNames(cluster).repoHost })).metadata?.ownerReferences ?? [];
  } catch (err) {
    if (httpStatus(err) === 404) return undefined;
    throw err;
  }
}

/** Why a source has no usable repository host, for the refusal. */
async function whyNoRepoHost(deps: Deps, namespace: string, source: string, pods: V1Pod[]): Promise<string> {
  const selector = `${LABEL.cluster}=${source},${LABEL.component}=repo-host`;
  if (pods.length) return `its repository host pod ${pods.map((p) => p.metadata?.name).join(', ')} is not Ready: try again once it is`;
  let cluster: PgClusterResource | undefined;
  try {
    cluster = await deps.clusters.get(namespace, source);
  } catch (err) {
    if (httpStatus(err) !== 404) throw err;
  }
  if (cluster && !backrestOf(cluster.spec).enabled) return 'it has backups disabled (spec.backrest.enabled: false)';
  const owners = await repoHostOwners(deps, namespace, source);
  if (owners !== undefined) {
    const kept = owners.length ? '' : ' (kept by pgo delete cluster --keep-backups)';
    return `its repository host Deployment ${clusterNames(source).repoHost}${kept} has no Ready pod: try again once kubectl -n ${namespace} get pods -l ${selector} shows one`;
  }
  if (cluster) return `its repository host is not created yet: try again once pgo show cluster ${source} shows it`;
  return `no pgcluster ${source} in namespace ${namespace}, and no repository host kept by pgo delete cluster ${source} --keep-backups`;
}

/** The source's Ready repository host pod, or a 409 saying why there is none. */
async function sourceRepoHost(deps: Deps, namespace: string, source: string): Promise<string> {
  const pods = (await deps.core.listNamespacedPod({ namespace, labelSelector: `${LABEL.cluster}=${source},${LABEL.component}=repo-host` })).items;
  const pod = repoHostPod(pods);
  if (pod) return pod;
  throw new ApiError(409, `cluster ${source} has no repository host to restore from (${await whyNoRepoHost(deps, namespace, source, pods)}); nothing was created`, ['body.restoreFrom']);
}

/** pgBackRest's `info` in the repository host pod. */
export const readSourceStanza: SourceStanzaReader = (deps, namespace, pod) => readInfo(deps.kc, namespace, pod);

/**
 * For a request with restoreFrom: the new cluster's spec.dataSource and the plan the restore follows,
 * checked against the source's repository; undefined without restoreFrom. Throws ApiErrors (400 for the
 * options and the target, 409 without a repository host, 503 when pgBackRest cannot be asked).
 */
export async function planRestoreFrom(deps: Deps, namespace: string, b: CreateBody, readStanza: SourceStanzaReader = readSourceStanza): Promise<{ dataSource: DataSource; plan: RestorePlan } | undefined> {
  if (b.restoreFrom === undefined) {
    if (b.restoreOpts !== undefined || b.pitrTarget !== undefined) throw new ApiError(400, '--restore-opts and --pitr-target go with --restore-from CLUSTER', restoreFields(b));
    return undefined;
  }
  const spec = requestedSpec(b);
  const pod = await sourceRepoHost(deps, namespace, b.restoreFrom);
  let stanza;
  try {
    stanza = await readStanza(deps, namespace, pod);
  } catch (err) {
    throw new ApiError(503, `cannot check the restore against the backups of cluster ${b.restoreFrom} (pgbackrest info in ${pod}): ${describeError(err)}; nothing was created`, undefined, { cause: err, headers: { 'Retry-After': '5' } });
  }
  let plan: RestorePlan;
  try {
    plan = planRestore(spec, { stanza, repos: [1], now: new Date() });
  } catch (err) {
    if (err instanceof RestoreRefused) throw new ApiError(400, `cannot restore from cluster ${b.restoreFrom}: ${err.message}`, restoreFields(b), { cause: err });
    throw err;
  }
  const dataSource: DataSource = { clusterName: b.restoreFrom, type: spec.type };
  if (spec.target !== undefined) dataSource.target = spec.target;
  if (spec.targetExclusive !== undefined) dataSource.targetExclusive = spec.targetExclusive;
  if (spec.set !== undefined) dataSource.set = spec.set;
  return { dataSource, plan };
}

/**
 * Refuses a new cluster named like one deleted with --keep-backups whose repository host is still here
 * (a Deployment with no owner), unless it restores from it: initdb would start a new database whose
 * archive collides with the old stanza in that repository.
 */
export async function refuseKeptRepository(deps: Deps, namespace: string, b: CreateBody): Promise<void> {
  if (b.restoreFrom === b.name) return;
  const owners = await repoHostOwners(deps, namespace, b.name);
  // Owned: the repository host of a live cluster (the create then answers "already exists"), or of one being collected.
  if (owners === undefined || owners.length) return;
  throw new ApiError(
    409,
    `cluster ${b.name} was deleted with --keep-backups and its pgBackRest repository is still here (Deployment ${clusterNames(b.name).repoHost} and its volume): a new cluster ${b.name} would start a new database over the old stanza. ` +
      `Restore from it with pgo create cluster ${b.name} --restore-from ${b.name} [--restore-opts "..."], or delete the kept objects first with kubectl -n ${namespace} delete deploy,svc,pvc,cm,secret -l ${LABEL.cluster}=${b.name} (this also deletes volumes kept with --keep-data)`,
    ['body.name'],
  );
}
