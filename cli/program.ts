/**
 * pgo: the command line of pg-operator, in v4's syntax (`pgo <verb> [type] [name] [flags]`). Every command
 * is a call to the API (routes in src/api/routes.ts); the operator does the work. This module only defines
 * the commands; cli/main.ts runs them.
 */
import sade from 'sade';
import { SERVER_VERSION } from '../src/api/handlers/meta.ts';
import { ROUTE } from '../src/api/routes.ts';
import { call } from './client.ts';
import { adminCommands } from './commands/admin.ts';
import { backupCommands } from './commands/backups.ts';
import { clusterCommands } from './commands/clusters.ts';
import { dataCommands } from './commands/data.ts';
import { scheduleCommands } from './commands/schedules.ts';
import { taskCommands } from './commands/tasks.ts';
import { watchCommands } from './commands/watch.ts';
import { bashCompletion } from './completion.ts';
import { action, config, joinOptionLists, print, type Opts } from './run.ts';

/** Version of this client. */
export const CLIENT_VERSION = SERVER_VERSION;

const prog = sade('pgo')
  .version(CLIENT_VERSION)
  .option('-n, --namespace', 'namespace (default: PGO_NAMESPACE, else default)')
  .option('-o, --output', 'output format: json')
  .option('-s, --selector', 'label selector choosing clusters')
  .option('--all', 'all clusters of the namespace')
  .option('--no-prompt', 'do not ask for confirmation')
  .option('--apiserver-url', 'API URL (default: PGO_APISERVER_URL)')
  .option('--pgo-ca-cert', 'CA certificate file (default: PGO_CA_CERT)');

prog.command('version', 'Client and server versions').option('--client', 'only the client').action(action(async (opts: Opts) => {
  if (opts.client) return print(opts, { clientVersion: CLIENT_VERSION }, () => `pgo client version ${CLIENT_VERSION}`);
  const v = await call(config(opts), ROUTE.version);
  print(opts, { clientVersion: CLIENT_VERSION, ...v }, () => `pgo client version ${CLIENT_VERSION}\npgo-apiserver version ${v.serverVersion}`);
}));

clusterCommands(prog);
adminCommands(prog);
backupCommands(prog);
scheduleCommands(prog);
dataCommands(prog);
taskCommands(prog);
watchCommands(prog);

prog.command('completion [shell]', 'Print a shell completion script (bash)').action(action((shell: string | undefined) => {
  if (shell && shell !== 'bash') throw new Error(`only bash completion is available, not ${shell}`);
  process.stdout.write(bashCompletion());
  return Promise.resolve();
}));
/** The commands defined (sade keeps them in its `tree`, with aliases as strings and its own entries as `__...`). */
const commandNames = () => Object.entries((prog as unknown as { tree: Record<string, unknown> }).tree).filter(([k, v]) => typeof v !== 'string' && !k.startsWith('__')).map(([k]) => k);

prog.command('help [command]', 'Help for a command').action(action((command: string | undefined, opts: Opts) => {
  const name = [command, ...opts._].filter(Boolean).join(' ');
  const names = commandNames();
  if (!name || names.includes(name)) return Promise.resolve(prog.help(name || undefined));
  // A verb alone (`pgo help create`): the commands it begins.
  const under = names.filter((n) => n.startsWith(`${name} `));
  if (under.length === 0) throw new Error(`there is no command "${name}": pgo help lists them`);
  process.stdout.write(`pgo ${name}: ${under.length} commands; pgo help <command> describes one\n${under.map((n) => `  pgo ${n}`).join('\n')}\n`);
  return Promise.resolve();
}));

/** Runs pgo with `argv` (as process.argv: node, the script, then the arguments). */
export function main(argv: string[]): void {
  prog.parse(joinOptionLists(argv));
}
