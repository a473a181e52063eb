/** `pgo create schedule`, `pgo show schedule`, `pgo delete schedule`: backup schedules of clusters, v4's flags. */
import type { Sade } from 'sade';
import type { z } from 'zod';
import { ROUTE } from '../../src/api/routes.ts';
import type * as s from '../../src/api/schemas.ts';
import { call } from '../client.ts';
import { CliError } from '../config.ts';
import { table } from '../format.ts';
import { action, config, confirm, print, str, targets, type Opts } from '../run.ts';

/** A time as `2026-01-17 00:00:00Z` (or `-`). */
const when = (iso: string | undefined) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');

/** `pgo show schedule`: one line per schedule, then why runs were skipped. */
export function formatSchedules(r: z.infer<typeof s.scheduleList>): string {
  if (!r.schedules.length) return 'no schedules found';
  const rows = r.schedules.map((x) => [
    x.name, x.cluster, x.schedule, x.timeZone, x.backupType ? `${x.type}/${x.backupType}` : x.type,
    when(x.lastRun), x.suspended ? 'suspended' : when(x.nextRun), when(x.lastSuccess), String(x.missedRuns),
  ]);
  const out = [table(['NAME', 'CLUSTER', 'SCHEDULE', 'TZ', 'TYPE', 'LAST RUN', 'NEXT RUN', 'LAST SUCCESS', 'MISSED'], rows)];
  for (const x of r.schedules.filter((y) => y.lastSkipped)) out.push(`${x.name}: last skipped run: ${x.lastSkipped}`);
  return out.join('\n');
}

/** Registers the schedule commands. */
export function scheduleCommands(prog: Sade): void {
  prog.command('create schedule [cluster]', 'Back up a cluster on a cron schedule')
    .option('--schedule', '5-field cron: minute hour day-of-month month day-of-week, e.g. "0 1 * * *"')
    .option('--schedule-type', 'pgbackrest or pgdump')
    .option('--pgbackrest-backup-type', 'full, diff or incr (required for pgbackrest)')
    .option('--schedule-opts', 'backup options, e.g. "--start-fast" (the --backup-opts whitelist)')
    .option('--time-zone', 'IANA time zone of the schedule, e.g. Europe/Berlin (default UTC)')
    .option('--schedule-name', 'name (default <cluster>-<type>-<backupType>)')
    .option('-d, --database', 'pgdump: the database')
    .action(action(async (cluster: string | undefined, opts: Opts) => {
      const cfg = config(opts);
      const schedule = str(opts, 'schedule');
      if (!schedule) throw new CliError('--schedule "<cron>" is required, e.g. --schedule "0 1 * * *"', 2);
      const body = {
        name: str(opts, 'schedule-name'),
        schedule,
        timeZone: str(opts, 'time-zone'),
        scheduleType: str(opts, 'schedule-type') ?? 'pgbackrest',
        pgbackrestBackupType: str(opts, 'pgbackrest-backup-type'),
        scheduleOpts: str(opts, 'schedule-opts'),
        database: str(opts, 'database'),
      };
      for (const n of await targets(cfg, opts, cluster)) {
        const r = await call(cfg, ROUTE['schedule.create'], { params: { name: n }, body });
        print(opts, r, () => `created schedule ${r.name} for cluster ${n}`);
      }
    }));
  prog.command('show schedule [cluster]', 'Show backup schedules and their last and next runs')
    .option('--schedule-name', 'only this schedule')
    .action(action(async (cluster: string | undefined, opts: Opts) => {
      const cfg = config(opts);
      const schedule = str(opts, 'schedule-name');
      const names = cluster || str(opts, 'selector') || opts.all ? await targets(cfg, opts, cluster) : [undefined];
      const schedules: z.infer<typeof s.scheduleInfo>[] = [];
      for (const n of names) schedules.push(...(await call(cfg, ROUTE['schedule.list'], { query: { cluster: n, schedule } })).schedules);
      print(opts, { schedules }, () => formatSchedules({ schedules }));
    }));
  prog.command('delete schedule <cluster>', 'Remove a backup schedule')
    .option('--schedule-name', 'the schedule (pgo show schedule lists them)')
    .action(action(async (cluster: string, opts: Opts) => {
      const cfg = config(opts);
      const schedule = str(opts, 'schedule-name');
      if (!schedule) throw new CliError(`--schedule-name is required: pgo show schedule ${cluster} lists them`, 2);
      await confirm(opts, `This removes schedule ${schedule} of cluster ${cluster}; backups it made are kept.`);
      const r = await call(cfg, ROUTE['schedule.delete'], { params: { name: cluster, schedule } });
      print(opts, r, () => r.message);
    }));
}
