/**
 * The pgBackRest options a user may pass with `--backup-opts` (v4's whitelist, without what the operator
 * owns: stanza, repositories, hosts, paths). Parsed once here, used by the CRD check, the API and the actor.
 */
import { z } from 'zod';

/** Values an option takes: a flag (no value, or y/n), an integer, a size, one of a set, or any text. */
type Kind = 'flag' | 'int' | 'text' | readonly string[];

/** Options that may be given more than once (pgBackRest takes every value). */
const REPEATABLE = new Set(['exclude']);

/** `pgbackrest backup` options accepted in `--backup-opts`, with the value each takes. */
export const BACKUP_OPTIONS: Record<string, Kind> = {
  type: ['full', 'diff', 'incr'],
  'start-fast': 'flag',
  'archive-copy': 'flag',
  'archive-check': 'flag',
  'archive-timeout': 'int',
  'backup-standby': 'flag',
  'checksum-page': 'flag',
  exclude: 'text',
  resume: 'flag',
  'stop-auto': 'flag',
  'buffer-size': ['16KiB', '32KiB', '64KiB', '128KiB', '256KiB', '512KiB', '1MiB', '2MiB', '4MiB', '8MiB', '16MiB'],
  'compress-level': 'int',
  'compress-level-network': 'int',
  'compress-type': ['none', 'gz', 'bz2', 'lz4', 'zst'],
  'db-timeout': 'int',
  delta: 'flag',
  'process-max': 'int',
  'protocol-timeout': 'int',
  'log-level-console': ['off', 'error', 'warn', 'info', 'detail', 'debug', 'trace'],
  'log-level-file': ['off', 'error', 'warn', 'info', 'detail', 'debug', 'trace'],
  'log-level-stderr': ['off', 'error', 'warn', 'info', 'detail', 'debug', 'trace'],
  'repo1-retention-full': 'int',
  'repo1-retention-diff': 'int',
  'repo1-retention-archive': 'int',
  'repo1-retention-archive-type': ['full', 'diff', 'incr'],
  'repo2-retention-full': 'int',
  'repo2-retention-diff': 'int',
  'repo2-retention-archive': 'int',
  'repo2-retention-archive-type': ['full', 'diff', 'incr'],
};

/** One parsed option: `--name` or `--name=value`; `no-` flags are kept as written. */
export interface BackupOption {
  name: string;
  value?: string;
}

/** Error message of a refused option list; says what to change. */
export class OptionError extends Error {}

const allowedList = () => Object.keys(BACKUP_OPTIONS).join(', ');

function checkValue(name: string, kind: Kind, value: string | undefined): void {
  if (kind === 'flag') {
    if (value !== undefined && value !== 'y' && value !== 'n') throw new OptionError(`--${name} takes no value (or y/n), got "${value}"`);
    return;
  }
  if (value === undefined || value === '') throw new OptionError(`--${name} needs a value, e.g. --${name}=${Array.isArray(kind) ? kind[0] : kind === 'text' ? 'pg_log' : '1'}`);
  if (Array.isArray(kind)) {
    if (!kind.includes(value)) throw new OptionError(`--${name} must be one of ${kind.join(', ')}, got "${value}"`);
  } else if (kind === 'int' && !/^\d{1,9}$/.test(value)) {
    throw new OptionError(`--${name} must be a whole number, got "${value}"`);
  } else if (kind === 'text' && !/^[A-Za-z0-9._/*-]{1,255}$/.test(value)) {
    throw new OptionError(`--${name} must be a path pattern of letters, digits and . _ / * -, got "${value}"`);
  }
}

/**
 * Parses `--backup-opts` (e.g. `--type=full --start-fast`) into options, refusing any option not in the
 * whitelist, with the option named. Values never reach a shell: the actor passes them as separate arguments.
 */
export function parseBackupOptions(text: string | undefined): BackupOption[] {
  const tokens = (text ?? '').trim().split(/\s+/).filter(Boolean);
  const out: BackupOption[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const m = /^--(no-)?([a-z0-9-]+)(?:=(.*))?$/.exec(token);
    if (!m) throw new OptionError(`"${token}" is not an option: write options as --name or --name=value`);
    const [, negated, name, inline] = m as unknown as [string, string | undefined, string, string | undefined];
    const kind = BACKUP_OPTIONS[name];
    if (!kind) throw new OptionError(`option --${name} is not allowed in --backup-opts; allowed: ${allowedList()}`);
    let value = inline;
    // "--type full" (a separate value) is accepted for options that take one.
    if (value === undefined && kind !== 'flag' && tokens[i + 1] && !tokens[i + 1]!.startsWith('--')) value = tokens[++i];
    if (negated) {
      if (kind !== 'flag') throw new OptionError(`--no-${name}: only flags can be negated`);
      if (value !== undefined) throw new OptionError(`--no-${name} takes no value`);
      out.push({ name: `no-${name}` });
      continue;
    }
    checkValue(name, kind, value);
    out.push(value === undefined ? { name } : { name, value });
  }
  const seen = new Set<string>();
  for (const o of out) {
    const base = o.name.replace(/^no-/, '');
    if (seen.has(base) && !REPEATABLE.has(base)) throw new OptionError(`option --${base} is given twice`);
    seen.add(base);
  }
  return out;
}

/**
 * Options that do not go with the backup type: pgBackRest keeps a full backup's compression for the diff
 * and incr sets based on it (it only warns), so compress-type is refused unless the backup is full.
 */
export function checkOptionsForType(options: readonly BackupOption[], type: string | undefined): void {
  if (options.some((o) => o.name === 'compress-type') && type !== 'full') {
    throw new OptionError('--compress-type only changes a full backup (diff and incr sets keep their full backup\'s compression): add --backup-type=full');
  }
}

/** Options as pgbackrest command-line arguments. */
export function optionArgs(options: readonly BackupOption[]): string[] {
  return options.map((o) => (o.value === undefined ? `--${o.name}` : `--${o.name}=${o.value}`));
}

/** A zod check of a `--backup-opts` string: the same parser, the same message. */
export const backupOptionsText = z
  .string()
  .max(4096)
  .superRefine((text, ctx) => {
    try {
      parseBackupOptions(text);
    } catch (err) {
      if (!(err instanceof OptionError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message });
    }
  });
