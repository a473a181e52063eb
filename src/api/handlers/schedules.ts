/**
 * `pgo create schedule`, `pgo show schedule`, `pgo delete schedule`: the API edits
 * `spec.backrest.schedules` of the pgcluster (under optimistic locking) and shows what the operator wrote
 * to `status.backrest.schedules`; the operator's Schedules actor makes the backups.
 */
import type { z } from 'zod';
import { backrestOf } from '../../crd/backrest.ts';
import { MAX_SCHEDULES, backupSchedule, type BackupSchedule } from '../../crd/schedule.ts';
import type { PgClusterResource } from '../../crd/types.ts';
import { ApiError } from '../errors.ts';
import type * as s from '../schemas.ts';
import type { Deps, HandlerTable } from './deps.ts';

type ScheduleInfo = z.infer<typeof s.scheduleInfo>;

/** A schedule as the API shows it, with its status entry. */
export function scheduleInfo(c: PgClusterResource, x: BackupSchedule): ScheduleInfo {
  const st = c.status?.backrest?.schedules?.find((e) => e.name === x.name);
  return JSON.parse(JSON.stringify({
    name: x.name,
    cluster: c.metadata.name,
    schedule: x.schedule,
    timeZone: x.timeZone,
    type: x.type,
    backupType: x.backupType,
    options: x.options,
    database: x.database,
    suspended: x.suspended ?? false,
    lastRun: st?.lastRun,
    lastBackup: st?.lastBackup,
    lastSuccess: st?.lastSuccess,
    nextRun: st?.nextRun,
    missedRuns: st?.missedRuns ?? 0,
    lastSkipped: st?.lastSkipped,
  })) as ScheduleInfo;
}

/** The request field of each field of a schedule, so a refusal names what the user typed. */
const FIELD: Record<string, string> = { name: 'name', schedule: 'schedule', timeZone: 'timeZone', type: 'scheduleType', backupType: 'pgbackrestBackupType', options: 'scheduleOpts', database: 'database' };

/** The schedule a `pgo create schedule` request asks for, checked by the pgcluster's own schema. */
export function scheduleFromRequest(cluster: string, b: z.output<typeof s.scheduleCreateBody>): BackupSchedule {
  if (b.scheduleType === 'pgdump' && b.pgbackrestBackupType) throw new ApiError(400, 'invalid request: body.pgbackrestBackupType: applies to pgbackrest schedules only', ['body.pgbackrestBackupType']);
  const candidate = JSON.parse(JSON.stringify({
    // v4's name: <cluster>-<type>-<backupType>.
    name: b.name ?? [cluster, b.scheduleType, b.pgbackrestBackupType].filter(Boolean).join('-'),
    schedule: b.schedule,
    timeZone: b.timeZone,
    type: b.scheduleType,
    backupType: b.pgbackrestBackupType,
    options: b.scheduleOpts || undefined,
    database: b.database,
  })) as unknown;
  const parsed = backupSchedule.safeParse(candidate);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((i) => `body.${FIELD[String(i.path[0])] ?? i.path.join('.')}: ${i.message}`);
  throw new ApiError(400, `invalid request: ${lines.join('; ')}`, lines);
}

/** `mutate` of the pgcluster, answering with the ApiError that `change` threw (mutate wraps errors). */
async function mutateCluster(deps: Deps, namespace: string, name: string, change: (c: PgClusterResource) => void): Promise<PgClusterResource> {
  let updated: PgClusterResource | undefined;
  try {
    updated = await deps.clusters.mutate(namespace, name, change);
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    throw cause instanceof ApiError ? cause : err;
  }
  if (!updated) throw new ApiError(404, `cluster ${namespace}/${name} not found`);
  return updated;
}

/** Schedule handlers. */
export const scheduleHandlers: HandlerTable = {
  'schedule.create': async (deps, { params, body }) => {
    const { namespace, name } = params as { namespace: string; name: string };
    const c = await deps.cluster(namespace, name);
    if (!backrestOf(c.spec).enabled) throw new ApiError(409, `cluster ${name} has backups disabled (spec.backrest.enabled: false): a schedule would never run`);
    const wanted = scheduleFromRequest(name, body as z.output<typeof s.scheduleCreateBody>);
    const updated = await mutateCluster(deps, namespace, name, (x) => {
      const list = x.spec.backrest?.schedules ?? [];
      if (list.some((y) => y.name === wanted.name)) throw new ApiError(409, `schedule ${wanted.name} already exists for cluster ${name}: give another --schedule-name, or pgo delete schedule ${name} --schedule-name ${wanted.name} first`);
      if (list.length >= MAX_SCHEDULES) throw new ApiError(409, `cluster ${name} already has ${list.length} schedules, the most it may have: delete one first`);
      x.spec.backrest = { ...x.spec.backrest, schedules: [...list, wanted] } as typeof x.spec.backrest;
    });
    return { status: 201, body: scheduleInfo(updated, wanted) };
  },

  'schedule.list': async (deps, { params, query }) => {
    const q = query as z.output<typeof s.scheduleListQuery>;
    const namespace = params.namespace!;
    const clusters = q.cluster ? [await deps.cluster(namespace, q.cluster)] : await deps.list<PgClusterResource>('pgclusters', namespace);
    const schedules = clusters
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
      .flatMap((c) => (backrestOf(c.spec).schedules ?? []).filter((x) => !q.schedule || x.name === q.schedule).map((x) => scheduleInfo(c, x)));
    return { body: { schedules } };
  },

  'schedule.delete': async (deps, { params }) => {
    const { namespace, name, schedule } = params as { namespace: string; name: string; schedule: string };
    await deps.cluster(namespace, name);
    await mutateCluster(deps, namespace, name, (x) => {
      const list = x.spec.backrest?.schedules ?? [];
      if (!list.some((y) => y.name === schedule)) throw new ApiError(404, `schedule ${schedule} of cluster ${name} not found; pgo show schedule ${name} lists them`);
      x.spec.backrest = { ...x.spec.backrest, schedules: list.filter((y) => y.name !== schedule) } as typeof x.spec.backrest;
    });
    return { body: { message: `deleted schedule ${schedule} of cluster ${name}` } };
  },
};
