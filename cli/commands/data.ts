/** Data operations wired to the API: restore (in restores.ts), load, apply, upgrade. */
import { readFileSync } from 'node:fs';
import type { Sade } from 'sade';
import { parse as parseYaml } from 'yaml';
import { ROUTE } from '../../src/api/routes.ts';
import { loadConfigFields, type LoadSpec } from '../../src/crd/load.ts';
import { call } from '../client.ts';
import { formatLoad, formatPolicyApply, formatTask } from '../format.ts';
import { CliError } from '../config.ts';
import { action, config, confirm, print, str, wantsJson, type Opts } from '../run.ts';
import { followTask } from './tasks.ts';
import { restoreCommands } from './restores.ts';

/** How long `pgo upgrade` follows the upgrade (it goes on after pgo stops). */
const UPGRADE_WAIT_SECONDS = 1800;

/** Registers the data commands. */
export function dataCommands(prog: Sade): void {
  restoreCommands(prog);
  prog.command('upgrade <cluster>', 'Minor upgrade: move every instance to another image (replicas first, one at a time, then a switchover, then the old primary)')
    .option('--ccp-image-tag', 'the same image with another tag, e.g. 15.10-2')
    .option('--ccp-image', 'another image (same PostgreSQL major version)')
    .option('--ignore-validation', "accepted for v4's scripts; the new image is always checked first")
    .option('--no-wait', 'print the pgupgrade and return; follow it with pgo show workflow NAME')
    .action(action(async (cluster: string, opts: Opts) => {
      await confirm(opts, `upgrading ${cluster} (one switchover)`);
      const cfg = config(opts);
      const t = await call(cfg, ROUTE.upgrade, { params: { name: cluster }, body: { image: str(opts, 'ccp-image'), ccpImageTag: str(opts, 'ccp-image-tag'), ignoreValidation: opts['ignore-validation'] ? true : undefined } });
      if (!wantsJson(opts)) process.stdout.write(`created pgupgrade ${t.name}: ${cluster} to ${t.target}\n`);
      if (opts.wait === false) return void (wantsJson(opts) && print(opts, t, () => ''));
      const done = await followTask(cfg, opts, t.name, UPGRADE_WAIT_SECONDS);
      if (wantsJson(opts)) print(opts, done, () => formatTask(done));
    }));
  prog.command('load [clusters]', 'Load a CSV or JSON Lines file from a volume into a table of each cluster (--selector, or cluster names)')
    .option('--load-config', "YAML file: v4's keys (DbDatabase, DbUser, TableToLoad, FilePath, FileType, PVCName) or spec.load's")
    .option('--policies', 'pgpolicies to apply first, comma-separated (e.g. one that creates the table)')
    .action(action(async (cluster: string | undefined, opts: Opts) => {
      const file = str(opts, 'load-config');
      if (!file) throw new CliError('--load-config is required: a YAML file naming the volume, the file and the table (see pgo help load)', 2);
      const load = { ...readLoadConfig(file), ...(str(opts, 'policies') ? { policies: str(opts, 'policies')!.split(',').filter(Boolean) } : {}) };
      const r = await call(config(opts), ROUTE.load, { body: { clusters: cluster ? [cluster, ...opts._] : undefined, selector: str(opts, 'selector'), load: load as LoadSpec } });
      print(opts, r, () => formatLoad(r));
      if (r.results.some((x) => x.status !== 'loaded')) process.exitCode = 1;
    }));
  prog.command('apply <policy> [clusters]', 'Run a policy on clusters (--selector, or cluster names), once each').option('--dry-run', 'list the clusters it would run on').action(action(async (policy: string, cluster: string | undefined, opts: Opts) => {
    const clusters = cluster ? [cluster, ...opts._] : undefined;
    const r = await call(config(opts), ROUTE['policy.apply'], { params: { name: policy }, body: { selector: str(opts, 'selector'), clusters, dryRun: opts['dry-run'] ? true : undefined } });
    print(opts, r, () => formatPolicyApply(r));
    if (r.results.some((x) => x.status === 'failed' || x.status === 'running')) process.exitCode = 1;
  }));
}

/** The load settings of a YAML file, v4's keys mapped (the API checks the values). */
function readLoadConfig(file: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CliError(`--load-config ${file}: ${err instanceof Error ? err.message : String(err)}`, 2);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new CliError(`--load-config ${file}: must be a YAML mapping of settings (e.g. TableToLoad: orders)`, 2);
  try {
    return loadConfigFields(doc as Record<string, unknown>);
  } catch (err) {
    throw new CliError(`--load-config ${file}: ${(err as Error).message}`, 2);
  }
}
