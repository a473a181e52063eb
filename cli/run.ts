/** Shared plumbing of pgo commands: configuration, output (-o json), prompts, targets and exit codes. */
import { createInterface } from 'node:readline/promises';
import { ROUTE } from '../src/api/routes.ts';
import { call } from './client.ts';
import { CliError, loadConfig, type CliConfig, type GlobalOptions } from './config.ts';

/** Options every command gets. */
export type Opts = GlobalOptions & Record<string, unknown> & { _: string[]; output?: string; o?: string; prompt?: boolean };

/** True when -o json was asked for. */
export const wantsJson = (opts: Opts) => (opts.output ?? opts.o) === 'json';

/** Prints `data` as JSON when asked, else `human()`. */
export function print(opts: Opts, data: unknown, human: () => string): void {
  process.stdout.write(`${wantsJson(opts) ? JSON.stringify(data, null, 2) : human()}\n`);
}

/** Runs a command body, turning errors into `Error: ...` on stderr and a non-zero exit code. */
export function action<A extends unknown[]>(body: (...args: A) => Promise<void>): (...args: A) => void {
  return (...args: A) => {
    // A body that throws before its first await fails the same way as one whose promise rejects.
    new Promise<void>((resolve) => resolve(body(...args))).catch((err: unknown) => {
      process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = err instanceof CliError ? err.code : 1;
    });
  };
}

/** The configuration for this invocation. */
export const config = (opts: Opts): CliConfig => loadConfig(opts);

/** A string option (mri turns numeric-looking values into numbers). */
export function str(opts: Opts, key: string): string | undefined {
  const v = opts[key];
  if (v === undefined || v === false) return undefined;
  if (v === true) throw new CliError(`--${key} needs a value`, 2);
  return String(Array.isArray(v) ? v[v.length - 1] : v);
}

/** An integer option. */
export function int(opts: Opts, key: string, fallback?: number): number | undefined {
  const v = opts[key];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new CliError(`--${key} must be an integer, got ${JSON.stringify(v)}`, 2);
  return n;
}

/** Asks `WARNING: Are you sure? (yes/no):` unless --no-prompt; refuses without a terminal. */
export async function confirm(opts: Opts, what: string): Promise<void> {
  if (opts.prompt === false) return;
  // Destructive verbs never proceed silently: without a terminal to ask on, the caller must say
  // --no-prompt explicitly (scripts), rather than an empty stdin being taken as a yes or no.
  if (!process.stdin.isTTY) throw new CliError(`${what}: refusing to ask for confirmation without a terminal: pass --no-prompt to confirm`, 2);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(`${what}\nWARNING: Are you sure? (yes/no): `);
  rl.close();
  if (answer.trim().toLowerCase() !== 'yes') throw new CliError('aborted', 1);
}

/** Cluster names from the arguments, or from --selector / --all (v4's target sets). */
export async function targets(cfg: CliConfig, opts: Opts, first: string | undefined): Promise<string[]> {
  const names = [first, ...opts._].filter((x): x is string => typeof x === 'string' && x.length > 0);
  const selector = str(opts, 'selector');
  if (selector || opts.all) {
    if (names.length) throw new CliError('give cluster names or --selector/--all, not both', 2);
    const list = await call(cfg, ROUTE['cluster.list'], { query: { selector } });
    return list.clusters.map((c) => c.name);
  }
  if (!names.length) throw new CliError('give a cluster name, --selector or --all', 2);
  return names;
}

/** Flags whose value is itself a list of options (`--backup-opts "--type=full --start-fast"`). */
const OPTION_LISTS = ['--backup-opts', '--restore-opts', '--schedule-opts'];

/**
 * Joins `--backup-opts VALUE` into `--backup-opts=VALUE`: the value starts with `--`, which the argument
 * parser would otherwise read as a flag of pgo's own.
 */
export function joinOptionLists(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (OPTION_LISTS.includes(a) && i + 1 < argv.length) out.push(`${a}=${argv[++i]}`);
    else out.push(a);
  }
  return out;
}
