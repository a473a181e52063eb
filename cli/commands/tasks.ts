/** Following long operations (pgtasks): progress lines until the task ends; `pgo show workflow <task>`. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Sade } from 'sade';
import type { z } from 'zod';
import { ROUTE } from '../../src/api/routes.ts';
import type { taskInfo } from '../../src/api/schemas.ts';
import { call } from '../client.ts';
import { CliError, type CliConfig } from '../config.ts';
import { formatTask } from '../format.ts';
import { action, config, print, wantsJson, type Opts } from '../run.ts';

/** Polls the task every second, printing each change, until Succeeded (returns) or Failed (throws). */
export async function followTask(cfg: CliConfig, opts: Opts, name: string, timeoutSeconds: number): Promise<z.infer<typeof taskInfo>> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  let last = '';
  for (;;) {
    const t = await call(cfg, ROUTE['task.get'], { params: { task: name } });
    const line = formatTask(t);
    if (line !== last && !wantsJson(opts)) process.stdout.write(`${line}\n`);
    last = line;
    if (t.phase === 'Succeeded') return t;
    if (t.phase === 'Failed') throw new CliError(`${t.type} of ${t.cluster} failed${t.message ? `: ${t.message}` : ''}`);
    if (Date.now() > deadline) throw new CliError(`task ${name} is still ${t.phase ?? 'Pending'} after ${timeoutSeconds} s; follow it with: pgo show workflow ${name}`);
    await sleep(1000);
  }
}

/** Registers `pgo show workflow`. */
export function taskCommands(prog: Sade): void {
  prog.command('show workflow <task>', 'Progress of a long operation (task id)').action(action(async (task: string, opts: Opts) => {
    const t = await call(config(opts), ROUTE['task.get'], { params: { task } });
    print(opts, t, () => formatTask(t));
  }));
}
