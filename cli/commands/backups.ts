/** `pgo backup`, `pgo show backup`, `pgo delete backup`: pgBackRest backups as pgbackups, v4's text layout. */
import type { Sade } from 'sade';
import type { z } from 'zod';
import { dependents, parseInfo, type StanzaInfo } from '../../src/backrest/info.ts';
import { ROUTE } from '../../src/api/routes.ts';
import type * as s from '../../src/api/schemas.ts';
import { call } from '../client.ts';
import { bytes, table } from '../format.ts';
import { action, config, confirm, print, str, targets, type Opts } from '../run.ts';

const when = (epoch: number) => new Date(epoch * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' +0000 UTC');

/** v4's `pgo show backup` text: the stanza, its WAL archive range, and every set with times, sizes and references. */
export function formatBackups(r: z.infer<typeof s.backupList>): string {
  const out = [`cluster: ${r.cluster}`];
  if (r.infoError) out.push(`pgBackRest info unavailable: ${r.infoError}`);
  for (const raw of r.stanzas) {
    const st = parseInfo(JSON.stringify([raw]))[0] as StanzaInfo;
    out.push('', `stanza: ${st.name}`, `    status: ${st.status.message}${st.status.lock?.backup.held ? ` (backup running${st.status.lock.backup['pct-cplt'] !== undefined ? `, ${st.status.lock.backup['pct-cplt']}% complete` : ''})` : ''}`, `    cipher: ${st.cipher ?? 'none'}`);
    for (const db of st.db) {
      out.push('', `    db (${db.id === st.db[st.db.length - 1]!.id ? 'current' : 'prior'})`);
      for (const a of st.archive.filter((x) => x.id.endsWith(`-${db.id}`))) out.push(`        wal archive min/max (${a.id}): ${a.min ?? ''}/${a.max ?? ''}`);
      for (const b of st.backup.filter((x) => x.database.id === db.id)) {
        out.push(
          '',
          `        ${b.type} backup: ${b.label}`,
          `            repo${b.database['repo-key']}`,
          `            timestamp start/stop: ${when(b.timestamp.start)} / ${when(b.timestamp.stop)}`,
          `            wal start/stop: ${b.archive?.start ?? ''} / ${b.archive?.stop ?? ''}`,
          `            database size: ${bytes(b.info.size)}, backup size: ${bytes(b.info.delta)}`,
          `            repository size: ${bytes(b.info.repository.size)}, repository backup size: ${bytes(b.info.repository.delta)}`,
          `            backup reference list: ${(b.reference ?? []).join(', ')}`,
        );
      }
    }
  }
  if (r.backups.length) {
    out.push('', table(['PGBACKUP', 'PHASE', 'TYPE', 'REPO', 'LABEL', 'PROGRESS', 'MESSAGE'],
      r.backups.map((b) => [b.name, b.phase ?? '', b.type ?? '', b.repo ?? '', b.label ?? b.fileName ?? '', b.progress !== undefined ? `${b.progress}%` : '', b.error ?? b.message ?? ''])));
  }
  return out.join('\n');
}

/** Registers the backup commands. */
export function backupCommands(prog: Sade): void {
  prog.command('backup [cluster]', 'Take a pgBackRest backup (incr once a full one exists)')
    .option('--backup-type', 'full, diff, incr (or v4\'s pgbackrest)')
    .option('--backup-opts', 'pgBackRest backup options, e.g. "--start-fast" (a whitelist)')
    .option('--pgbackrest-storage-type', 'posix or s3: the repository')
    .option('-d, --database', 'pgdump: the database')
    .option('--pvc-name', 'pgdump: the volume for the dump (created when missing)')
    .option('--dump-all', 'pgdump: every database (pg_dumpall)')
    .action(action(async (cluster: string | undefined, opts: Opts) => {
      const cfg = config(opts);
      for (const n of await targets(cfg, opts, cluster)) {
        const b = await call(cfg, ROUTE['backup.create'], {
          params: { name: n },
          body: { backupType: str(opts, 'backup-type'), backupOpts: str(opts, 'backup-opts'), repo: str(opts, 'pgbackrest-storage-type'), database: str(opts, 'database'), pvcName: str(opts, 'pvc-name'), dumpAll: opts['dump-all'] ? true : undefined },
        });
        print(opts, b, () => `created pgbackup ${b.name}${b.type ? ` (${b.type})` : ''}${b.message ? `: ${b.message}` : ''}`);
      }
    }));
  prog.command('show backup <cluster>', 'Show the backups of a cluster (pgBackRest info and the pgbackups)').action(action(async (cluster: string, opts: Opts) => {
    const r = await call(config(opts), ROUTE['backup.show'], { params: { name: cluster } });
    print(opts, r, () => formatBackups(r));
  }));
  prog.command('delete backup <cluster>', 'Expire a backup set (and the sets that depend on it)').option('--target', 'the backup label').action(action(async (cluster: string, opts: Opts) => {
    const cfg = config(opts);
    const target = str(opts, 'target');
    if (!target) throw new Error('--target LABEL is required: pgo show backup lists the labels');
    const shown = await call(cfg, ROUTE['backup.show'], { params: { name: cluster } });
    const stanza = shown.stanzas[0] ? parseInfo(JSON.stringify([shown.stanzas[0]]))[0] : undefined;
    const deps = dependents(stanza, target);
    await confirm(opts, `This expires backup ${target} of cluster ${cluster}${deps.length ? ` and the sets that depend on it: ${deps.join(', ')}` : ''}.`);
    const r = await call(cfg, ROUTE['backup.delete'], { params: { name: cluster }, query: { target } });
    print(opts, r, () => `expired ${r.expired.join(', ')} from ${r.repos.join(', ')}`);
  }));
}
