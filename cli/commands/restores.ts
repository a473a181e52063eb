/**
 * `pgo restore` and `pgo show restore`. pgo asks the API for the plan first (a dry run that checks the request
 * against the repository), shows it, asks, then records the restore; the operator carries it out.
 */
import type { Sade } from 'sade';
import type { z } from 'zod';
import { ROUTE } from '../../src/api/routes.ts';
import type * as s from '../../src/api/schemas.ts';
import { call } from '../client.ts';
import { parsePairs, table } from '../format.ts';
import { action, config, confirm, print, str, wantsJson, type Opts } from '../run.ts';

type Restore = z.infer<typeof s.restoreInfo>;

/** Seconds as `1h02m`, `3m05s` or `12s`. */
export function duration(seconds: number): string {
  const t = Math.max(0, Math.round(seconds));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  return h ? `${h}h${two(m)}m` : m ? `${m}m${two(sec)}s` : `${sec}s`;
}

/** How long a restore has run: the operator's count, else from its start to its end (or now). */
function elapsed(r: Restore, now: number): string {
  if (r.status?.elapsedSeconds !== undefined) return duration(r.status.elapsedSeconds);
  if (!r.startTime) return '';
  return duration(((r.completionTime ? Date.parse(r.completionTime) : now) - Date.parse(r.startTime)) / 1000);
}

/** What a restore replays to. */
function target(r: Restore): string {
  const type = r.restore?.type ?? 'default';
  if (type === 'default') return 'end of archive';
  if (type === 'immediate') return 'end of backup';
  return `${type} ${r.restore?.target ?? ''}${r.restore?.targetExclusive ? ' (exclusive)' : ''}`.trim();
}

/** `pgo show restore`: one row per restore pgtask, newest first. */
export function formatRestores(list: z.infer<typeof s.restoreList>, now = Date.now()): string {
  if (!list.restores.length) return `cluster: ${list.cluster}\nno restores`;
  const rows = list.restores.map((r) => [
    r.name,
    r.phase ?? 'Pending',
    r.status?.phase ?? '',
    r.status?.percent !== undefined ? `${r.status.percent}%` : '',
    r.status?.backupSet ?? r.restore?.set ?? 'latest',
    target(r),
    elapsed(r, now),
    r.status?.error ?? (r.phase === 'Failed' ? (r.message ?? '') : ''),
  ]);
  return `cluster: ${list.cluster}\n${table(['TASK', 'PHASE', 'STEP', 'PERCENT', 'SET', 'TARGET', 'ELAPSED', 'ERROR'], rows)}`;
}

function nodeLabel(opts: Opts) {
  const [key, value] = Object.entries(parsePairs(opts['node-label'], 'node-label'))[0] ?? [];
  return key ? { key, value: value! } : undefined;
}

/** Registers `pgo restore` and `pgo show restore`. */
export function restoreCommands(prog: Sade): void {
  prog.command('restore <cluster>', 'Restore a cluster from a pgBackRest backup (shows the plan and asks first)')
    .option('--backup-type', 'pgbackrest (default), or pgdump: restore a pg_dump into the running cluster')
    .option('--pitr-target', 'point in time to recover to, e.g. "2026-12-01 10:00:00+00" (pgdump: the dump\'s timestamp)')
    .option('--drill', 'restore into a throw-away instance, verify it, record the RTO and remove it; the cluster is not touched')
    .option('--backup-pvc', 'pgdump: the volume holding the dumps')
    .option('--pgdump-database', "pgdump: the database to restore into (the cluster's database by default)")
    .option('--backup-opts', 'pgBackRest restore options, e.g. "--type=time --set=20261201-010000F" (a whitelist)')
    .option('--node-label', 'put the restored instance on a node with label key=value')
    .option('--node-affinity-type', 'preferred (default) or required')
    .action(action(async (cluster: string, opts: Opts) => {
      const cfg = config(opts);
      const request = {
        backupType: str(opts, 'backup-type'),
        pitrTarget: str(opts, 'pitr-target'),
        backupOpts: str(opts, 'backup-opts'),
        nodeLabel: nodeLabel(opts),
        nodeAffinityType: str(opts, 'node-affinity-type'),
        drill: opts.drill ? true : undefined,
        backupPvc: str(opts, 'backup-pvc'),
        pgdumpDatabase: str(opts, 'pgdump-database'),
      };
      // The plan comes from the API before anything is recorded, so what is confirmed is what is checked.
      const dry = await call(cfg, ROUTE.restore, { params: { name: cluster }, body: { ...request, dryRun: true } });
      if (!wantsJson(opts)) process.stdout.write(`plan: ${dry.plan}\n`);
      const what = dry.plan.replace(/^\w/, (c) => c.toLowerCase());
      const consequence = request.drill
        ? ''
        : request.backupType === 'pgdump'
          ? ' Objects in the dump that already exist make it fail unless --backup-opts has --clean.'
          : ' The cluster keeps serving until the restored instance is ready, then switches to it and re-creates its other instances from it: their current data is discarded.';
      if (!request.drill) await confirm(opts, `Restore ${cluster}? This ${what}.${consequence}`);
      const r = await call(cfg, ROUTE.restore, { params: { name: cluster }, body: request });
      const source = r.set ? ` (backup set ${r.set}, repo${r.repo})` : '';
      print(opts, r, () => `created restore task ${r.task ?? ''}${source}${r.plan !== dry.plan ? `\nplan: ${r.plan}` : ''}\nfollow it with: pgo show restore ${cluster}`);
    }));
  prog.command('show restore <cluster>', 'Show the restores of a cluster: step, progress, backup set, target').action(action(async (cluster: string, opts: Opts) => {
    const list = await call(config(opts), ROUTE['restore.list'], { params: { name: cluster } });
    print(opts, list, () => formatRestores(list));
  }));
}
