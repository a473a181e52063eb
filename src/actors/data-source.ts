/**
 * A cluster created from another cluster's backups (spec.dataSource, `pgo create cluster --restore-from`):
 * before its first instance exists the restore is planned against the source's repository host (a target it
 * cannot reach refuses the spec, nothing is created), and the instance gets the source's settings with a
 * client certificate from the source's CA, so the source's repository host serves it. The instance restores,
 * replays to the target and promotes while out of every Service; once it is writable the restore's settings
 * are cleared and it becomes the primary. It archives into the new cluster's own repository from the start:
 * the source's settings are used for the restore and its archive-get only.
 */
import { CoreV1Api, type KubeConfig, type V1Pod, type V1Secret } from '@kubernetes/client-node';
import { PATHS, certificateHosts, commonNames, restoreCommandOption } from '../backrest/objects.ts';
import { signCertificate } from '../backrest/pki.ts';
import { planRestore, RestoreRefused } from '../backrest/restore-plan.ts';
import { ownerRef } from '../cluster/builders.ts';
import { clusterLabels, clusterNames } from '../cluster/names.ts';
import type { Observation } from '../cluster/observation.ts';
import type { PgClusterResource } from '../crd/types.ts';
import { describeError, httpStatus, type CustomResources } from '../k8s/custom.ts';
import type { EventRecorder } from '../k8s/events.ts';
import { SpecRejected } from '../machines/cluster.ts';
import { execInPod } from '../k8s/exec.ts';
import { passwordVerifier } from '../pg/password.ts';
import { RESET_RESTORE_SETTINGS, ident } from '../pg/sql.ts';
import { readInfo, repoHostPod } from './backup.ts';

/** The source's pgbackrest.conf inside the restoring instance. */
export const SOURCE_CONFIG = `${PATHS.source}/pgbackrest.conf`;

/** What preparing a restore from a data source needs. */
export interface DataSourceDeps {
  kc: KubeConfig;
  clusters: CustomResources<PgClusterResource>;
  pods(namespace: string, cluster: string): readonly V1Pod[];
}

/** True while a cluster made from a data source has not finished its restore: its first instance is in no Service. */
export function restoringFromSource(cluster: PgClusterResource): boolean {
  return !!cluster.spec.dataSource && !cluster.status?.dataSource?.restored;
}

/**
 * The source's database-side settings, rewritten for the restoring instance: its certificates are the
 * source's, mounted elsewhere, and only repo1 (the repository host) is kept.
 */
export function sourceConfig(dbConf: string): string {
  return `${dbConf
    .split('\n')
    .filter((l) => !/^repo[2-9]-/.test(l) && !/^tls-server-/.test(l))
    .map((l) => l.split(PATHS.certs).join(PATHS.source))
    .join('\n')
    .trimEnd()}\n`;
}

/**
 * Plans the restore once (kept in status.dataSource, so the instance's settings never change afterwards) and
 * makes the source Secret. Resolves to the cluster with that status. A plan the source cannot satisfy
 * rejects the spec (SpecRejected); a source not ready yet is an error the apply retries.
 */
export async function prepareDataSource(deps: DataSourceDeps, cluster: PgClusterResource, generation: number): Promise<PgClusterResource> {
  const source = cluster.spec.dataSource;
  if (!source) return cluster;
  const { namespace, name } = cluster.metadata;
  const core = deps.kc.makeApiClient(CoreV1Api);
  if (!cluster.status?.dataSource) {
    const repoHost = repoHostPod(deps.pods(namespace, source.clusterName));
    if (!repoHost) throw new Error(`the repository host of ${source.clusterName} (spec.dataSource) is not ready: waiting for it`);
    const stanza = await readInfo(deps.kc, namespace, repoHost);
    let plan;
    try {
      plan = planRestore({ ...source }, { stanza, repos: [1], now: new Date() });
    } catch (err) {
      if (err instanceof RestoreRefused) throw new SpecRejected(generation, 'DataSourceInvalid', `spec.dataSource: ${(err).message}`);
      throw err;
    }
    // Recovery fetches WAL from the source; pgBackRest would otherwise write its own (default) settings.
    const args = [...plan.args, restoreCommandOption(SOURCE_CONFIG)];
    cluster = (await deps.clusters.updateStatus(namespace, name, (c) => ({ ...c.status, dataSource: c.status?.dataSource ?? { args, set: plan.set, plan: plan.description } }))) ?? cluster;
  }
  await ensureSourceSecret(core, cluster, source.clusterName);
  return cluster;
}

async function ensureSourceSecret(core: CoreV1Api, cluster: PgClusterResource, source: string): Promise<void> {
  const { namespace, name } = cluster.metadata;
  const secretName = clusterNames(name).restoreSource;
  try {
    await core.readNamespacedSecret({ namespace, name: secretName });
    return;
  } catch (err) {
    if (httpStatus(err) !== 404) throw err;
  }
  const s = clusterNames(source);
  const read = async (what: string, get: () => Promise<{ data?: Record<string, string> }>) => {
    try {
      return (await get()).data ?? {};
    } catch (err) {
      throw new Error(`reading ${what} of ${source} (spec.dataSource): ${describeError(err)}`, { cause: err });
    }
  };
  const ca = await read(`Secret ${s.backrestCa}`, () => core.readNamespacedSecret({ namespace, name: s.backrestCa }));
  const conf = await read(`ConfigMap ${s.backrestConfig}`, () => core.readNamespacedConfigMap({ namespace, name: s.backrestConfig }));
  const decode = (v?: string) => Buffer.from(v ?? '', 'base64').toString();
  // The source's repository host accepts the source's instances by their common name.
  const client = signCertificate({ cert: decode(ca['ca.crt']), key: decode(ca['ca.key']) }, commonNames(source).db, certificateHosts(source, namespace).db);
  const body: V1Secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: secretName, namespace, labels: clusterLabels(name, cluster.spec.userLabels), ownerReferences: [ownerRef(cluster)] },
    type: 'Opaque',
    stringData: { 'pgbackrest.conf': sourceConfig(conf['db.conf'] ?? ''), 'ca.crt': decode(ca['ca.crt']), 'tls.crt': client.cert, 'tls.key': client.key },
  };
  await core.createNamespacedSecret({ namespace, body }).catch((err: unknown) => {
    if (httpStatus(err) !== 409) throw err;
  });
}

/**
 * Upkeep after each observation: once the restored first instance is out of recovery, clears the restore's
 * settings (a standby cloned with them would stop at the target and promote itself) and gives the restored
 * roles this cluster's passwords (the data came with the source's), then records the restore as done, which
 * makes the instance the primary in the Services. Through the pod's local socket: the operator's own
 * password does not work until then. Resolves to the cluster written, if any.
 */
export async function finishDataSource(
  deps: { kc: KubeConfig; clusters: CustomResources<PgClusterResource>; events: EventRecorder },
  cluster: PgClusterResource,
  o: Observation,
): Promise<PgClusterResource | undefined> {
  if (!restoringFromSource(cluster) || !cluster.status?.dataSource) return undefined;
  const primary = o.instances.find((i) => i.name === o.primary);
  if (!primary?.podName || !primary.ready) return undefined;
  const { namespace, name } = cluster.metadata;
  const psql = async (...commands: string[]) => {
    const { output, status } = await execInPod(deps.kc, namespace, primary.podName!, 'database',
      ['psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', PATHS.socket, '-U', 'postgres', '-d', 'postgres', ...commands.flatMap((c) => ['-c', c])]);
    if (status?.status !== 'Success') throw new Error(`finishing the restore in ${primary.podName}: ${output.trim().slice(-300) || status?.message}`);
    return output.trim();
  };
  if ((await psql('select pg_is_in_recovery()')) !== 'f') return undefined;
  const core = deps.kc.makeApiClient(CoreV1Api);
  const n = clusterNames(name);
  const secret = async (s: string) => Buffer.from((await core.readNamespacedSecret({ namespace, name: s })).data?.password ?? '', 'base64').toString();
  const { spec } = cluster;
  const roles: [string, string, string][] = [['postgres', await secret(n.superuserSecret), ''], ['replicator', await secret(n.replicationSecret), ' replication'], [spec.user, await secret(n.userSecret(spec.user)), '']];
  await psql(
    ...RESET_RESTORE_SETTINGS,
    // Verifiers, never the passwords themselves, reach the server.
    ...roles.map(([role, , extra]) => `do $$ begin if not exists (select from pg_roles where rolname = ${literal(role)}) then create role ${ident(role)} login${extra}; end if; end $$`),
    ...roles.map(([role, password]) => `alter role ${ident(role)} password ${literal(passwordVerifier(spec.passwordType, password, role))}`),
  );
  const written = await deps.clusters.updateStatus(namespace, name, (c) => ({ ...c.status, dataSource: { ...c.status!.dataSource!, restored: true } }));
  deps.events.record(cluster, 'Normal', 'RestoredFromSource', `restored from ${spec.dataSource!.clusterName}: ${cluster.status.dataSource.plan}; ${primary.name} is the primary, with this cluster's passwords`);
  return written;
}

const literal = (v: string) => `'${v.replace(/'/g, "''")}'`;
