/**
 * Watches a cluster's WAL archiving: pg_stat_archiver and the size of pg_wal on the primary, the volume's
 * capacity, and, when archiving fails, pgBackRest's own error from the primary's archive-push spool. Writes
 * the `WALArchiving` condition and `status.backrest`, with an Event when archiving starts or stops failing and
 * when pg_wal fills its volume past the warning threshold.
 */
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { WAL_ARCHIVING, judgeArchiving, withCondition, type ArchiverSample } from '../backrest/archive-health.ts';
import { shortBackrestError } from '../backrest/info.ts';
import { LABEL, clusterNames, instanceClaim } from '../cluster/names.ts';
import { condition } from '../cluster/status.ts';
import { backrestOf } from '../crd/backrest.ts';
import { quantityValue } from '../crd/limits.ts';
import type { PgClusterResource } from '../crd/types.ts';
import type { CustomResources } from '../k8s/custom.ts';
import type { EventRecorder } from '../k8s/events.ts';
import { execInPod } from '../k8s/exec.ts';
import { withInstance } from '../pg/instance.ts';
import { ARCHIVER } from '../pg/sql.ts';

/** What the archive watch needs. */
export interface ArchiveDeps {
  kc: KubeConfig;
  clusters: CustomResources<PgClusterResource>;
  events: EventRecorder;
  pods(namespace: string, cluster: string): readonly V1Pod[];
}

interface ArchiverRow {
  archived_count: number;
  last_archived_wal: string | null;
  last_archived_time: Date | null;
  failed_count: number;
  last_failed_wal: string | null;
  last_failed_time: Date | null;
  wal_bytes: string;
}

const secrets = new Map<string, string>();

/** The cluster's superuser password (from its Secret, cached per cluster UID). */
export async function superuserPassword(core: CoreV1Api, cluster: PgClusterResource): Promise<string> {
  const key = `${cluster.metadata.namespace}/${cluster.metadata.uid}`;
  const cached = secrets.get(key);
  if (cached) return cached;
  const s = await core.readNamespacedSecret({ namespace: cluster.metadata.namespace, name: clusterNames(cluster.metadata.name).superuserSecret });
  const password = Buffer.from(s.data?.password ?? '', 'base64').toString();
  secrets.set(key, password);
  return password;
}

/** pgBackRest's error of the primary's asynchronous archive-push (the spool's .error files), if any. */
async function pushError(kc: KubeConfig, namespace: string, pod: string): Promise<string | undefined> {
  const { output } = await execInPod(kc, namespace, pod, 'database', ['sh', '-c', 'cat /pgdata/pgbackrest/spool/archive/db/out/*.error 2>/dev/null | head -c 1500'], 10_000);
  const [code, ...lines] = output.trim().split('\n');
  if (!code || !/^\d+$/.test(code)) return undefined;
  return shortBackrestError(`ERROR [${code}]: ${lines.map((l) => l.trim()).join(' ')}`);
}

/** One look at a cluster's archiving; writes the condition and status, and the Events of a change. */
export async function checkArchiving(deps: ArchiveDeps, cluster: PgClusterResource): Promise<void> {
  const b = backrestOf(cluster.spec);
  const { namespace, name } = cluster.metadata;
  const primary = cluster.status?.instances?.find((i) => i.name === cluster.status?.currentPrimary && i.ready);
  if (!b.enabled || !primary?.podIP) return;
  const core = deps.kc.makeApiClient(CoreV1Api);
  const password = await superuserPassword(core, cluster);
  const row = await withInstance({ host: primary.podIP, port: cluster.spec.port, password }, async (client) => (await client.query<ArchiverRow>(ARCHIVER)).rows[0]!);
  const claim = await core.readNamespacedPersistentVolumeClaim({ namespace, name: instanceClaim(cluster, primary.name) }).catch(() => undefined);
  const capacity = claim?.status?.capacity?.storage ?? claim?.spec?.resources?.requests?.storage;
  const sample: ArchiverSample = {
    lastArchivedWAL: row.last_archived_wal ?? undefined,
    lastArchivedTime: row.last_archived_time ?? undefined,
    failedCount: row.failed_count,
    lastFailedWAL: row.last_failed_wal ?? undefined,
    lastFailedTime: row.last_failed_time ?? undefined,
    walBytes: Number(row.wal_bytes),
    volumeBytes: capacity ? quantityValue(capacity) : undefined,
  };
  let verdict = judgeArchiving(sample, b.walWarningPercent);
  if (!verdict.ok) {
    const pod = deps.pods(namespace, name).find((p) => p.metadata?.labels?.[LABEL.instance] === primary.name && !p.metadata?.deletionTimestamp)?.metadata?.name;
    sample.pushError = pod ? await pushError(deps.kc, namespace, pod).catch(() => undefined) : undefined;
    verdict = judgeArchiving(sample, b.walWarningPercent);
  }
  const before = cluster.status?.conditions?.find((c) => c.type === WAL_ARCHIVING);
  const now = new Date().toISOString();
  await deps.clusters.updateStatus(namespace, name, (c) => {
    const cond = condition(WAL_ARCHIVING, verdict.ok, verdict.reason, verdict.message, c.status?.conditions, c.metadata.generation ?? 1, now);
    return JSON.parse(JSON.stringify({
      ...c.status,
      conditions: withCondition(c.status?.conditions, cond),
      backrest: {
        ...c.status?.backrest,
        lastArchivedWAL: sample.lastArchivedWAL,
        lastArchivedTime: sample.lastArchivedTime?.toISOString(),
        lastFailedWAL: sample.lastFailedWAL,
        lastFailedTime: sample.lastFailedTime?.toISOString(),
        failedCount: sample.failedCount,
        walBytes: sample.walBytes,
        walPercent: verdict.walPercent,
        archiveError: verdict.ok ? undefined : sample.pushError,
      },
    })) as PgClusterResource['status'];
  });
  const wasOk = before?.status !== 'False';
  if (wasOk && !verdict.ok) deps.events.record(cluster, 'Warning', 'WALArchivingFailed', verdict.message);
  if (!wasOk && verdict.ok) deps.events.record(cluster, 'Normal', 'WALArchivingRestored', verdict.message);
  const wasFilling = (cluster.status?.backrest?.walPercent ?? 0) >= b.walWarningPercent;
  if (verdict.walFilling && !wasFilling) deps.events.record(cluster, 'Warning', 'WALVolumeFilling', verdict.message);
}
