/**
 * `pgo restore` and `pgo show restore`. A restore request is checked here against the cluster's pgBackRest
 * repository (options, target, backup set) and recorded as a pgtask of type `restore`; the operator carries
 * it out. The API creates that pgtask and nothing else: no pods, no volumes.
 */
import { z } from 'zod';
import { OptionError } from '../../backrest/options.ts';
import { RestoreRefused, planRestore, restoreRequest, type RestorePlan } from '../../backrest/restore-plan.ts';
import type { StanzaInfo } from '../../backrest/info.ts';
import { LABEL } from '../../cluster/names.ts';
import { REPO_NUMBER, backrestOf, repoKinds } from '../../crd/backrest.ts';
import { restoreSpec, type RestoreSpec } from '../../crd/restore.ts';
import { API_VERSION } from '../../crd/resources.ts';
import type { PgClusterResource, PgTaskResource } from '../../crd/types.ts';
import { CoreV1Api } from '@kubernetes/client-node';
import { DumpRestoreRefused, restoreDumpOptions } from '../../actors/dump-restore.ts';
import { defaultDumpVolume } from '../../actors/pgdump.ts';
import { describeError, httpStatus } from '../../k8s/custom.ts';
import { ApiError, issueLines } from '../errors.ts';
import type * as s from '../schemas.ts';
import { stanzaInfo } from './backups.ts';
import type { Deps, HandlerTable } from './deps.ts';

/** Task phases after which a restore no longer holds its cluster. */
const FINISHED = new Set(['Succeeded', 'Failed']);

/** UTC `yyyymmddhhmmss`, the suffix of a restore task's name. */
const stamp = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(0, 14);

/** The restore pgtasks of a cluster, newest first (by spec, so tasks written with kubectl count too). */
async function restoresOf(deps: Deps, c: PgClusterResource): Promise<PgTaskResource[]> {
  return (await deps.tasks.list(c.metadata.namespace))
    .filter((t) => t.spec.type === 'restore' && t.spec.clusterName === c.metadata.name)
    .sort((a, b) => String(b.metadata.creationTimestamp ?? '').localeCompare(String(a.metadata.creationTimestamp ?? '')) || b.metadata.name.localeCompare(a.metadata.name));
}

/** A restore pgtask as the API shows it. */
export function restoreInfo(t: PgTaskResource): z.infer<typeof s.restoreInfo> {
  const st = t.status;
  return JSON.parse(JSON.stringify({
    name: t.metadata.name,
    namespace: t.metadata.namespace,
    type: t.spec.type,
    cluster: t.spec.clusterName,
    phase: st?.phase ?? 'Pending',
    message: st?.message,
    startTime: st?.startTime,
    completionTime: st?.completionTime,
    created: t.metadata.creationTimestamp ? new Date(t.metadata.creationTimestamp).toISOString() : undefined,
    restore: t.spec.restore,
    status: st?.restore,
  })) as z.infer<typeof s.restoreInfo>;
}

/** The request as a restore spec; refused options and targets are 400s naming what to change. */
function requestedSpec(req: z.output<typeof s.restoreBody>): RestoreSpec {
  if (req.nodeAffinityType && !req.nodeLabel) throw new ApiError(400, '--node-affinity-type goes with --node-label key=value', ['body.nodeAffinityType']);
  try {
    return restoreRequest({
      pitrTarget: req.pitrTarget,
      options: req.backupOpts,
      nodeAffinity: req.nodeLabel ? { nodeLabel: req.nodeLabel, type: req.nodeAffinityType ?? 'preferred' } : undefined,
    });
  } catch (err) {
    // The planner's messages name the option at fault (--pitr-target or one in --backup-opts).
    const fields = [req.pitrTarget !== undefined && 'body.pitrTarget', req.backupOpts !== undefined && 'body.backupOpts'].filter((f) => f !== false);
    if (err instanceof OptionError || err instanceof RestoreRefused) throw new ApiError(400, err.message, fields, { cause: err });
    if (err instanceof z.ZodError) throw new ApiError(400, `invalid restore request: ${issueLines(err, 'restore').join('; ')}`, fields, { cause: err });
    throw err;
  }
}

/** Reads what a cluster's pgBackRest repository holds. */
export type StanzaReader = (deps: Deps, c: PgClusterResource) => Promise<StanzaInfo | undefined>;

/** What pgBackRest's repository holds; a restore cannot be checked without it, so failing to ask is a 503. */
async function repositoryStanza(deps: Deps, c: PgClusterResource): Promise<StanzaInfo | undefined> {
  try {
    return await stanzaInfo(deps, c);
  } catch (err) {
    const why = err instanceof ApiError ? err.message : describeError(err);
    throw new ApiError(503, `cannot check the restore against the pgBackRest repository of cluster ${c.metadata.name}: ${why}; nothing was done`, undefined, { cause: err, headers: { 'Retry-After': '5' } });
  }
}

/** Restore handlers reading the repository with `readStanza` (tests give pgBackRest's answer directly). */
export const restoreHandlersUsing = (readStanza: StanzaReader): HandlerTable => ({
  restore: async (deps, { params, body }) => {
    const req = body as z.output<typeof s.restoreBody>;
    const c = await deps.cluster(params.namespace!, params.name!);
    const { namespace, name } = c.metadata;
    const b = backrestOf(c.spec);
    if (req.backupType === 'pgdump') return dumpRestore(deps, c, req);
    if (req.backupPvc || req.pgdumpDatabase) throw new ApiError(400, '--backup-pvc and --pgdump-database go with --backup-type=pgdump', ['body.backupPvc']);
    if (!b.enabled) {
      throw new ApiError(409, `cluster ${name} has backups disabled (spec.backrest.enabled: false): there is no pgBackRest repository to restore from. ` +
        `Enable them (kubectl -n ${namespace} patch pgcluster ${name} --type merge -p '{"spec":{"backrest":{"enabled":true}}}'), wait for the first full backup (pgo show backup ${name}), then restore`);
    }
    // One restore of a cluster at a time: a second one would replace the instance the first restores into.
    const running = (await restoresOf(deps, c)).filter((t) => !FINISHED.has(t.status?.phase ?? ''));
    if (running.length) {
      const t = running[0]!;
      throw new ApiError(409, `restore ${t.metadata.name} of cluster ${name} is ${t.status?.restore?.phase ?? t.status?.phase ?? 'Pending'}: one restore of a cluster runs at a time; follow it with pgo show restore ${name}`);
    }
    const spec = requestedSpec(req);
    const stanza = await readStanza(deps, c);
    let plan: RestorePlan;
    try {
      plan = planRestore(spec, { stanza, repos: repoKinds(b).map((k) => REPO_NUMBER[k]), now: new Date() });
    } catch (err) {
      if (err instanceof RestoreRefused) throw new ApiError(400, err.message, undefined, { cause: err });
      throw err;
    }
    const description = req.drill ? `drill: ${plan.description.replace(/ and promotes.*$/, '')} into a throw-away instance, then runs pgbackrest verify, checks it and removes it; the cluster is not touched` : plan.description;
    const result = { cluster: name, dryRun: req.dryRun === true, plan: description, set: plan.set, repo: plan.repo };
    if (req.dryRun) return { body: result };
    return { status: 201, body: { ...result, task: await createRestoreTask(deps, c, { ...spec, ...(req.drill ? { drill: true } : {}) }) } };
  },

  'restore.list': async (deps, { params }) => {
    const c = await deps.cluster(params.namespace!, params.name!);
    return { body: { cluster: c.metadata.name, restores: (await restoresOf(deps, c)).map(restoreInfo) } };
  },
});

/** Records a restore pgtask for the operator; a second one in the same second is a 409. */
async function createRestoreTask(deps: Deps, c: PgClusterResource, spec: RestoreSpec): Promise<string> {
  const { namespace, name } = c.metadata;
  const task: PgTaskResource = {
    apiVersion: API_VERSION,
    kind: 'PGTask',
    metadata: { name: `${name}-restore-${stamp(new Date())}`, namespace, labels: { [LABEL.cluster]: name } },
    spec: { type: 'restore', clusterName: name, restore: spec },
  };
  const { created, object } = await deps.tasks.createIfAbsent(task);
  if (!created) throw new ApiError(409, `restore ${object.metadata.name} of cluster ${name} was requested this very second; follow it with pgo show restore ${name}`);
  return object.metadata.name;
}

/**
 * `pgo restore --backup-type=pgdump --backup-pvc PVC [--pgdump-database DB] [--pitr-target STAMP]`: v4's
 * flags, where --pitr-target picks the dump by its timestamp (the newest when unset). Checked here: the
 * volume exists and the pg_restore options are allowed.
 */
async function dumpRestore(deps: Deps, c: PgClusterResource, req: z.output<typeof s.restoreBody>) {
  const { namespace, name } = c.metadata;
  if (!req.backupPvc) throw new ApiError(400, `--backup-pvc names the volume holding the dumps (e.g. ${defaultDumpVolume(name)})`, ['body.backupPvc']);
  if (req.drill || req.nodeLabel) throw new ApiError(400, '--drill and --node-label go with pgBackRest restores, not with --backup-type=pgdump', ['body.drill']);
  try {
    restoreDumpOptions(req.backupOpts);
  } catch (err) {
    if (err instanceof DumpRestoreRefused) throw new ApiError(400, err.message, ['body.backupOpts'], { cause: err });
    throw err;
  }
  const pgdump = restoreSpec.shape.pgdump.unwrap().safeParse({ pvcName: req.backupPvc, database: req.pgdumpDatabase, file: req.pitrTarget, options: req.backupOpts });
  if (!pgdump.success) throw new ApiError(400, `invalid pg_dump restore: ${issueLines(pgdump.error, 'restore').join('; ')}`, ['body.pitrTarget']);
  const core = deps.kc.makeApiClient(CoreV1Api);
  await core.readNamespacedPersistentVolumeClaim({ namespace, name: req.backupPvc }).catch((err: unknown) => {
    throw httpStatus(err) === 404 ? new ApiError(400, `PersistentVolumeClaim ${req.backupPvc} does not exist in namespace ${namespace}: name the volume the dumps were written to`, ['body.backupPvc']) : err;
  });
  const db = req.pgdumpDatabase ?? c.spec.database;
  const plan = `restores the ${req.pitrTarget ? `pg_dump matching ${req.pitrTarget}` : 'newest pg_dump'} of database ${db} from ${req.backupPvc} into the running cluster with pg_restore, in one transaction (all of it or nothing)`;
  const result = { cluster: name, dryRun: req.dryRun === true, plan };
  if (req.dryRun) return { body: result };
  return { status: 201, body: { ...result, task: await createRestoreTask(deps, c, { type: 'default', pgdump: pgdump.data }) } };
}

/** Restore handlers, asking pgBackRest in the cluster's repository host. */
export const restoreHandlers: HandlerTable = restoreHandlersUsing(repositoryStanza);
