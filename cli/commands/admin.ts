/** pgouser, pgorole, policy and PostgreSQL user commands. */
import { readFileSync } from 'node:fs';
import type { Sade } from 'sade';
import type { z } from 'zod';
import type * as s from '../../src/api/schemas.ts';
import { PASSWORD_LENGTH } from '../../src/crd/user.ts';
import { ROUTE } from '../../src/api/routes.ts';
import { call } from '../client.ts';
import { CliError } from '../config.ts';
import { formatPgorole, formatPgouser, formatPolicy, formatUserResults, formatUsers } from '../format.ts';
import { action, config, confirm, int, print, str, targets, type Opts } from '../run.ts';

const list = (opts: Opts, key: string) => str(opts, key)?.split(',').map((x) => x.trim()).filter(Boolean);

/** Registers the pgouser and pgorole commands. */
function accessCommands(prog: Sade): void {
  prog
    .command('create pgouser <name>', 'Create an API user')
    .option('--pgouser-password').option('--pgouser-roles', 'comma-separated pgoroles').option('--pgouser-namespaces', 'comma-separated').option('--all-namespaces')
    .action(action(async (name: string, opts: Opts) => {
      const u = await call(config(opts), ROUTE['pgouser.create'], {
        body: { name, password: str(opts, 'pgouser-password'), roles: list(opts, 'pgouser-roles') ?? [], namespaces: list(opts, 'pgouser-namespaces') ?? [], allNamespaces: !!opts['all-namespaces'] },
      });
      print(opts, u, () => `pgouser ${u.name} created`);
    }));
  prog
    .command('update pgouser <name>', 'Change an API user')
    .option('--pgouser-password').option('--pgouser-roles').option('--pgouser-namespaces').option('--all-namespaces')
    .action(action(async (name: string, opts: Opts) => {
      const body = Object.fromEntries(Object.entries({ password: str(opts, 'pgouser-password'), roles: list(opts, 'pgouser-roles'), namespaces: list(opts, 'pgouser-namespaces'), allNamespaces: opts['all-namespaces'] ? true : undefined }).filter(([, v]) => v !== undefined));
      const u = await call(config(opts), ROUTE['pgouser.update'], { params: { name }, body });
      print(opts, u, () => `pgouser ${u.name} updated`);
    }));
  prog.command('show pgouser [name]', 'Show API users (--all)').action(action(async (name: string | undefined, opts: Opts) => {
    const cfg = config(opts);
    const users = name ? [await call(cfg, ROUTE['pgouser.get'], { params: { name } })] : (await call(cfg, ROUTE['pgouser.list'])).pgousers;
    print(opts, { pgousers: users }, () => users.map(formatPgouser).join('\n\n'));
  }));
  prog.command('delete pgouser <name>', 'Delete an API user').action(action(async (name: string, opts: Opts) => {
    await confirm(opts, `deleting pgouser ${name}`);
    const r = await call(config(opts), ROUTE['pgouser.delete'], { params: { name } });
    print(opts, r, () => r.message);
  }));

  prog.command('create pgorole <name>', 'Create a role').option('--permissions', 'comma-separated, or *').action(action(async (name: string, opts: Opts) => {
    const r = await call(config(opts), ROUTE['pgorole.create'], { body: { name, permissions: list(opts, 'permissions') ?? [] } });
    print(opts, r, () => `pgorole ${r.name} created`);
  }));
  prog.command('update pgorole <name>', 'Replace the permissions of a role').option('--permissions').action(action(async (name: string, opts: Opts) => {
    const r = await call(config(opts), ROUTE['pgorole.update'], { params: { name }, body: { permissions: list(opts, 'permissions') ?? [] } });
    print(opts, r, () => `pgorole ${r.name} updated`);
  }));
  prog.command('show pgorole [name]', 'Show roles (--all)').action(action(async (name: string | undefined, opts: Opts) => {
    const cfg = config(opts);
    const roles = name ? [await call(cfg, ROUTE['pgorole.get'], { params: { name } })] : (await call(cfg, ROUTE['pgorole.list'])).pgoroles;
    print(opts, { pgoroles: roles }, () => roles.map(formatPgorole).join('\n\n'));
  }));
  prog.command('delete pgorole <name>', 'Delete a role').action(action(async (name: string, opts: Opts) => {
    await confirm(opts, `deleting pgorole ${name}`);
    const r = await call(config(opts), ROUTE['pgorole.delete'], { params: { name } });
    print(opts, r, () => r.message);
  }));
}

/** Registers the policy and user commands. */
function sqlCommands(prog: Sade): void {
  prog.command('create policy <name>', 'Store SQL as a policy').option('-i, --in-file', 'file with the SQL').option('-d, --database').action(action(async (name: string, opts: Opts) => {
    const file = str(opts, 'in-file');
    if (!file) throw new CliError('give --in-file=<file.sql>', 2);
    const p = await call(config(opts), ROUTE['policy.create'], { body: { name, sql: readFileSync(file, 'utf8'), database: str(opts, 'database') } });
    print(opts, p, () => `created policy ${p.name}`);
  }));
  prog.command('show policy [name]', 'Show policies (--all)').action(action(async (name: string | undefined, opts: Opts) => {
    const cfg = config(opts);
    const policies = name ? [await call(cfg, ROUTE['policy.get'], { params: { name } })] : (await call(cfg, ROUTE['policy.list'])).policies;
    print(opts, { policies }, () => (policies.length ? policies.map(formatPolicy).join('\n\n') : 'no policies'));
  }));
  prog.command('delete policy <name>', 'Delete a policy').action(action(async (name: string, opts: Opts) => {
    await confirm(opts, `deleting policy ${name}`);
    const r = await call(config(opts), ROUTE['policy.delete'], { params: { name } });
    print(opts, r, () => r.message);
  }));

  const flag = (opts: Opts, name: string) => (opts[name] ? true : undefined);
  prog
    .command('show user [cluster]', 'PostgreSQL users: expiry, login, Secret (passwords only with --show-secrets and the ShowSecrets permission)')
    .option('--show-secrets', 'include the passwords kept in Secrets').option('--show-system-accounts', 'include postgres and replicator (needs ShowSystemAccounts)')
    .option('--expired', 'only users whose password expires within N days')
    .action(action(async (cluster: string | undefined, opts: Opts) => {
      const cfg = config(opts);
      const query = { showSecrets: flag(opts, 'show-secrets'), showSystemAccounts: flag(opts, 'show-system-accounts'), expired: str(opts, 'expired') };
      const results = await Promise.all((await targets(cfg, opts, cluster)).map((n) => call(cfg, ROUTE['user.show'], { params: { name: n }, query })));
      print(opts, results, () => results.map(formatUsers).join('\n'));
    }));
  const passwordFlags = (opts: Opts) => ({
    password: str(opts, 'password'), passwordLength: int(opts, 'password-length'), validDays: int(opts, 'valid-days'),
    validAlways: flag(opts, 'valid-always'), passwordType: str(opts, 'password-type'),
  });
  prog.command('create user [cluster]', 'Create a PostgreSQL user (--selector/--all for many clusters)')
    .option('--username').option('--password').option('--password-length', `length of a generated password (${PASSWORD_LENGTH.default})`).option('--valid-days').option('--valid-always')
    .option('--managed', 'keep the password in the Secret <cluster>-<user>-secret').option('--password-type', 'scram-sha-256 or md5')
    .action(action(async (cluster: string | undefined, opts: Opts) => {
      const cfg = config(opts);
      const body = { username: str(opts, 'username'), ...passwordFlags(opts), managed: flag(opts, 'managed') };
      const results = [];
      for (const n of await targets(cfg, opts, cluster)) results.push(await call(cfg, ROUTE['user.create'], { params: { name: n }, body }));
      printUserResults(opts, results);
    }));
  prog.command('update user [cluster]', 'Change a PostgreSQL user (--username), or every user expiring within --expired N days')
    .option('--username').option('--expired', 'every user whose password expires within N days').option('--password').option('--rotate-password').option('--password-length')
    .option('--valid-days').option('--valid-always').option('--expire-user').option('--disable-login').option('--enable-login').option('--password-type')
    .action(action(async (cluster: string | undefined, opts: Opts) => {
      const cfg = config(opts);
      const body = {
        username: str(opts, 'username'), expired: int(opts, 'expired'), ...passwordFlags(opts), rotatePassword: flag(opts, 'rotate-password'),
        expireUser: flag(opts, 'expire-user'), disableLogin: flag(opts, 'disable-login'), enableLogin: flag(opts, 'enable-login'),
      };
      const results = [];
      for (const n of await targets(cfg, opts, cluster)) results.push(await call(cfg, ROUTE['user.update'], { params: { name: n }, body }));
      printUserResults(opts, results);
    }));
  prog.command('delete user [cluster]', 'Delete a PostgreSQL user (and its Secret)').option('--username').action(action(async (cluster: string | undefined, opts: Opts) => {
    const cfg = config(opts);
    const names = await targets(cfg, opts, cluster);
    await confirm(opts, `deleting user ${str(opts, 'username')} from ${names.join(', ')}`);
    const results = [];
    for (const n of names) results.push(await call(cfg, ROUTE['user.delete'], { params: { name: n }, query: { username: str(opts, 'username') } }));
    printUserResults(opts, results);
  }));
  // v4.0: pgo user --selector ... --update-passwords --expired N
  prog.command('user [cluster]', 'v4.0: with --update-passwords --expired N, rotate every password expiring within N days')
    .option('--update-passwords').option('--expired').option('--password-length').option('--valid-days')
    .action(action(async (cluster: string | undefined, opts: Opts) => {
      if (!opts['update-passwords'] || int(opts, 'expired') === undefined) throw new CliError('pgo user needs --update-passwords --expired N (or use pgo update user)', 2);
      const cfg = config(opts);
      const body = { expired: int(opts, 'expired'), rotatePassword: true, passwordLength: int(opts, 'password-length'), validDays: int(opts, 'valid-days') };
      const results = [];
      for (const n of await targets(cfg, opts, cluster)) results.push(await call(cfg, ROUTE['user.update'], { params: { name: n }, body }));
      printUserResults(opts, results);
    }));
}

/** Prints user command results; exits non-zero when any user change failed. */
function printUserResults(opts: Opts, results: z.infer<typeof s.userResult>[]): void {
  print(opts, results, () => formatUserResults(results));
  if (results.some((r) => r.users.some((u) => u.status === 'error'))) process.exitCode = 1;
}

/** Registers the admin commands. */
export function adminCommands(prog: Sade): void {
  accessCommands(prog);
  sqlCommands(prog);
}
