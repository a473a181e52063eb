/**
 * `pgo backup`, `pgo show backup`, `pgo delete backup`. A backup request becomes a pgbackup that the operator
 * runs (queued behind one that runs, never cancelling it); show and delete ask pgBackRest in the cluster's
 * repository host, where the repository is.
 */
import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import { dependents, parseInfo, setsOf, type StanzaInfo } from '../../backrest/info.ts';
import { STANZA } from '../../backrest/objects.ts';
import { OptionError, checkOptionsForType, parseBackupOptions } from '../../backrest/options.ts';
import { ownerRef } from '../../cluster/builders.ts';
import { LABEL, clusterLabels } from '../../cluster/names.ts';
import { REPO_NUMBER, backrestOf, repoKinds } from '../../crd/backrest.ts';
import { API_VERSION } from '../../crd/resources.ts';
import type { PgBackupResource, PgClusterResource } from '../../crd/types.ts';
import { CustomResources, describeError } from '../../k8s/custom.ts';
import { repoExec } from '../../actors/backup.ts';
import { dumpOptions } from '../../actors/pgdump.ts';
import { BackupRefused } from '../../machines/backup.ts';
import { ApiError } from '../errors.ts';
import type * as s from '../schemas.ts';
import type { Deps, HandlerTable } from './deps.ts';

const backupsOf = (deps: Deps) => new CustomResources<PgBackupResource>(deps.kc, 'pgbackups');

/** A pgbackup as the API shows it. */
export function backupInfo(b: PgBackupResource): z.infer<typeof s.backupInfo> {
  const st = b.status;
  return JSON.parse(JSON.stringify({
    name: b.metadata.name,
    cluster: b.spec.clusterName,
    phase: st?.phase ?? 'Pending',
    type: st?.type ?? b.spec.type,
    repo: st?.repo,
    label: st?.backupLabel,
    instance: st?.instance,
    progress: st?.progress,
    message: st?.message,
    error: st?.error,
    schedule: b.spec.schedule,
    created: b.metadata.creationTimestamp ? new Date(b.metadata.creationTimestamp).toISOString() : undefined,
    startTime: st?.startTime,
    completionTime: st?.completionTime,
    databaseBytes: st?.databaseBytes,
    backupBytes: st?.backupBytes,
    repositoryBytes: st?.repositoryBytes,
    walStart: st?.walStart,
    walStop: st?.walStop,
    fileName: st?.fileName,
  })) as z.infer<typeof s.backupInfo>;
}

function requireBackrest(c: PgClusterResource) {
  const b = backrestOf(c.spec);
  if (!b.enabled) throw new ApiError(409, `cluster ${c.metadata.name} has backups disabled (spec.backrest.enabled: false); enable them with kubectl patch or pgo update`);
  return b;
}

/** Runs pgbackrest in the cluster's repository host. */
async function inRepoHost(deps: Deps, c: PgClusterResource, command: string[]): Promise<string> {
  const pods = await deps.core.listNamespacedPod({ namespace: c.metadata.namespace, labelSelector: `${LABEL.cluster}=${c.metadata.name},${LABEL.component}=repo-host` });
  const pod = pods.items.find((p) => !p.metadata?.deletionTimestamp && p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'));
  if (!pod) throw new ApiError(503, `the repository host of cluster ${c.metadata.name} is not ready; try again shortly`);
  try {
    return await repoExec(deps.kc, c.metadata.namespace, pod.metadata!.name!, command);
  } catch (err) {
    throw new ApiError(502, `pgBackRest in ${pod.metadata!.name}: ${(err as Error).message}`, undefined, { cause: err });
  }
}

/** The stanza as pgBackRest reports it in the cluster's repository host (undefined before the stanza exists); 503/502 ApiErrors when it cannot be asked. */
export async function stanzaInfo(deps: Deps, c: PgClusterResource): Promise<StanzaInfo | undefined> {
  return parseInfo(await inRepoHost(deps, c, ['pgbackrest', `--stanza=${STANZA}`, 'info', '--output=json']))[0];
}

const stamp = () => new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);

/** Backup handlers. */
export const backupHandlers: HandlerTable = {
  'backup.create': async (deps, { params, body }) => {
    const c = await deps.cluster(params.namespace!, params.name!);
    const b = requireBackrest(c);
    const req = body as z.infer<typeof s.backupBody>;
    const pgdump = req.backupType === 'pgdump';
    let typeOption: string | undefined;
    try {
      if (pgdump) dumpOptions(req.backupOpts);
      else {
        const options = parseBackupOptions(req.backupOpts);
        typeOption = options.find((o) => o.name === 'type')?.value;
        checkOptionsForType(options, req.backupType === 'pgbackrest' ? typeOption : req.backupType);
      }
    } catch (err) {
      if (err instanceof OptionError || err instanceof BackupRefused) throw new ApiError(400, `--backup-opts: ${err.message}`, ['body.backupOpts']);
      throw err;
    }
    if (!pgdump && (req.pvcName || req.dumpAll || req.database)) throw new ApiError(400, '--pvc-name, --dump-all and --database go with --backup-type=pgdump', ['body.backupType']);
    const type = req.backupType === 'pgbackrest' ? undefined : req.backupType;
    if (type && typeOption && type !== typeOption) throw new ApiError(400, `--backup-type=${type} and --backup-opts=--type=${typeOption} disagree: give the type once`, ['body.backupOpts']);
    if (req.repo && !repoKinds(b).includes(req.repo)) throw new ApiError(400, `cluster ${c.metadata.name} has no ${req.repo} repository (its storage type is ${b.storageType})`, ['body.repo']);
    const { namespace, name } = c.metadata;
    const backup: PgBackupResource = {
      apiVersion: API_VERSION,
      kind: 'PGBackup',
      metadata: { name: `${name}-backup-${stamp()}-${randomBytes(2).toString('hex')}`, namespace, labels: clusterLabels(name, c.spec.userLabels), ownerReferences: [ownerRef(c)] },
      spec: JSON.parse(JSON.stringify({ clusterName: name, type: type ?? typeOption, repo: req.repo, options: req.backupOpts || undefined, database: req.database, pvcName: req.pvcName, dumpAll: req.dumpAll })) as PgBackupResource['spec'],
    };
    const api = backupsOf(deps);
    const { object } = await api.createIfAbsent(backup);
    const running = (await api.list(namespace)).filter((x) => x.spec.clusterName === name && x.metadata.name !== object.metadata.name && x.status?.phase !== 'Succeeded' && x.status?.phase !== 'Failed');
    const info = backupInfo(object);
    if (running.length) info.message = `queued behind pgbackup ${running.map((x) => x.metadata.name).join(', ')}: one backup of a cluster runs at a time`;
    return { status: 201, body: info };
  },

  'backup.show': async (deps, { params }) => {
    const c = await deps.cluster(params.namespace!, params.name!);
    requireBackrest(c);
    const backups = (await backupsOf(deps).list(c.metadata.namespace))
      .filter((x) => x.spec.clusterName === c.metadata.name)
      .sort((a, b) => String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp)));
    let stanzas: Record<string, unknown>[] = [];
    let infoError: string | undefined;
    try {
      const info = await stanzaInfo(deps, c);
      stanzas = info ? [info] : [];
    } catch (err) {
      infoError = err instanceof ApiError ? err.message : describeError(err);
    }
    return { body: JSON.parse(JSON.stringify({ cluster: c.metadata.name, stanzas, infoError, backups: backups.map(backupInfo) })) as unknown };
  },

  'backup.delete': async (deps, { params, query }) => {
    const c = await deps.cluster(params.namespace!, params.name!);
    const b = requireBackrest(c);
    const target = (query as z.infer<typeof s.backupDeleteQuery>).target;
    const info = await stanzaInfo(deps, c);
    const sets = setsOf(info).filter((x) => x.label === target);
    if (!sets.length) throw new ApiError(404, `could not find backup ${target} in any repository of cluster ${c.metadata.name}; pgo show backup ${c.metadata.name} lists them`);
    const repos = [...new Set(sets.map((x) => x.database['repo-key']))].filter((r) => repoKinds(b).some((k) => REPO_NUMBER[k] === r));
    const expired = [target, ...dependents(info, target)];
    for (const repo of repos) await inRepoHost(deps, c, ['pgbackrest', `--stanza=${STANZA}`, `--repo=${repo}`, `--set=${target}`, 'expire']);
    return { body: { cluster: c.metadata.name, expired, repos: repos.map((r) => `repo${r}`) } };
  },
};
