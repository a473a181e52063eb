/** Data operations wired to the API: restore (in restores.ts), load, apply, upgrade. Load and upgrade have no backend yet; the API answers 501 and pgo exits non-zero. */
import { readFileSync } from 'node:fs';
import type { Sade } from 'sade';
import { ROUTE } from '../../src/api/routes.ts';
import { call } from '../client.ts';
import { formatPolicyApply, formatTask } from '../format.ts';
import { action, config, confirm, print, str, type Opts } from '../run.ts';
import { restoreCommands } from './restores.ts';

/** Registers the data commands. */
export function dataCommands(prog: Sade): void {
  restoreCommands(prog);
  prog.command('upgrade <cluster>', 'Upgrade a cluster').option('--ccp-image').option('--ignore-validation').action(action(async (cluster: string, opts: Opts) => {
    await confirm(opts, `upgrading ${cluster}`);
    const t = await call(config(opts), ROUTE.upgrade, { params: { name: cluster }, body: { image: str(opts, 'ccp-image'), ignoreValidation: opts['ignore-validation'] ? true : undefined } });
    print(opts, t, () => formatTask(t));
  }));
  prog.command('load [cluster]', 'Load data into clusters').option('--load-config', 'YAML/JSON file').option('--policies')
    .action(action(async (cluster: string | undefined, opts: Opts) => {
      const file = str(opts, 'load-config');
      const loadConfig = file ? Object.fromEntries(readFileSync(file, 'utf8').split('\n').map((l) => l.split(/:\s*/)).filter((p) => p.length >= 2 && p[0]!.trim()).map((p) => [p[0]!.trim(), p.slice(1).join(':').trim()])) : undefined;
      const r = await call(config(opts), ROUTE.load, { body: { clusters: cluster ? [cluster, ...opts._] : undefined, selector: str(opts, 'selector'), loadConfig, policies: str(opts, 'policies')?.split(',') } });
      print(opts, r, () => r.message);
    }));
  prog.command('apply <policy> [clusters]', 'Run a policy on clusters (--selector, or cluster names), once each').option('--dry-run', 'list the clusters it would run on').action(action(async (policy: string, cluster: string | undefined, opts: Opts) => {
    const clusters = cluster ? [cluster, ...opts._] : undefined;
    const r = await call(config(opts), ROUTE['policy.apply'], { params: { name: policy }, body: { selector: str(opts, 'selector'), clusters, dryRun: opts['dry-run'] ? true : undefined } });
    print(opts, r, () => formatPolicyApply(r));
    if (r.results.some((x) => x.status === 'failed' || x.status === 'running')) process.exitCode = 1;
  }));
}
