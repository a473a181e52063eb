/**
 * The restore planner: reads a restore request (pgo's flags, v4's option strings), checks it against what the
 * repository holds (`pgbackrest info --output=json`) and chooses the backup set, before anything is touched.
 * Pure: the restore actor runs the plan's arguments.
 */
import { MAX_TARGET_LENGTH, restoreSpec, restoreTargetType, type RestoreSpec } from '../crd/restore.ts';
import { setsOf, type BackupSet, type StanzaInfo } from './info.ts';
import { OptionError } from './options.ts';

/** A request that cannot be restored as written; the message says what is wrong and how to fix it. */
export class RestoreRefused extends Error {}

/** What a restore will do: said to the user before anything is touched. */
export interface RestorePlan {
  set: string;
  repo: number;
  args: string[];
  description: string;
}

/** Values an option takes: a flag (no value, or y/n), one of a set, text, or text matching a pattern. */
type Kind = 'flag' | 'text' | readonly string[] | RegExp;

/** A pgBackRest backup label: a full one, or a diff/incr one after the full it is based on. */
const LABEL = /^\d{8}-\d{6}F(?:_\d{8}-\d{6}[DI])?$/;

/** Restore options a user may pass in --backup-opts (pgo restore) / --restore-opts (pgo create cluster --restore-from), v4 style. */
export const RESTORE_OPTIONS: Record<string, Kind> = {
  type: restoreTargetType.options,
  target: 'text',
  set: LABEL,
  'target-exclusive': 'flag',
  repo: ['1', '2'],
};

const isList = (kind: Kind): kind is readonly string[] => Array.isArray(kind);
const allowedList = () => Object.keys(RESTORE_OPTIONS).map((o) => `--${o}`).join(', ');
const hasControl = (s: string) => [...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
const EXAMPLE_TIME = '2026-12-01 10:00:00+00';

/** Splits on spaces outside quotes: v4 users wrote `--target="2026-12-01 10:00:00+00"` inside the option string. */
function tokenize(text: string): string[] {
  const tokens: string[] = [];
  let current: string | undefined;
  let quote: string | undefined;
  for (const ch of text) {
    if (quote !== undefined) {
      if (ch === quote) quote = undefined;
      else current = (current ?? '') + ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      current ??= '';
    } else if (/\s/.test(ch)) {
      if (current !== undefined) tokens.push(current);
      current = undefined;
    } else {
      current = (current ?? '') + ch;
    }
  }
  if (quote !== undefined) throw new OptionError(`a ${quote} quote is not closed in "${text}": close it, e.g. --target="${EXAMPLE_TIME}"`);
  if (current !== undefined) tokens.push(current);
  return tokens;
}

function checkText(flag: string, value: string): void {
  if (value.length > MAX_TARGET_LENGTH) throw new OptionError(`${flag} is longer than ${MAX_TARGET_LENGTH} characters: give a time, an LSN, a transaction ID or a restore point name`);
  if (hasControl(value)) throw new OptionError(`${flag} must not contain control characters (tabs, newlines): write it on one line`);
}

function checkValue(name: string, kind: Kind, value: string | undefined): void {
  if (kind === 'flag') {
    if (value !== undefined && value !== 'y' && value !== 'n') throw new OptionError(`--${name} takes no value (or y/n), got "${value}"`);
    return;
  }
  if (value === undefined || value === '') {
    const example = isList(kind) ? kind[0] : kind === 'text' ? `"${EXAMPLE_TIME}"` : '20261201-101500F';
    throw new OptionError(`--${name} needs a value, e.g. --${name}=${example}`);
  }
  if (isList(kind)) {
    if (!kind.includes(value)) throw new OptionError(`--${name} must be one of ${kind.join(', ')}, got "${value}"`);
  } else if (kind instanceof RegExp) {
    if (!kind.test(value)) throw new OptionError(`--${name} must be a pgBackRest backup label like 20261201-101500F or 20261201-101500F_20261201-102000I, got "${value}"`);
  } else {
    checkText(`--${name}`, value);
  }
}

/**
 * Parses restore options (e.g. `--type=time --target="2026-12-01 10:00:00+00" --set=20261201-101500F`) into a
 * partial restore spec, refusing any option not in RESTORE_OPTIONS with the option named: the stanza, paths,
 * hosts and --delta are the operator's. Values never reach a shell: the actor passes them as separate arguments.
 */
export function parseRestoreOptions(text: string | undefined): Partial<RestoreSpec> {
  const tokens = tokenize(text ?? '');
  const out: Partial<RestoreSpec> = {};
  const seen = new Set<string>();
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const m = /^--(no-)?([a-z0-9-]+)(?:=([\s\S]*))?$/.exec(token);
    if (!m) throw new OptionError(`"${token}" is not an option: write options as --name or --name=value, and quote a value with spaces, e.g. --target="${EXAMPLE_TIME}"`);
    const [, negated, name, inline] = m as unknown as [string, string | undefined, string, string | undefined];
    const kind = RESTORE_OPTIONS[name];
    if (!kind) throw new OptionError(`option --${name} is not allowed in restore options (the operator sets the stanza, paths, hosts and --delta itself); allowed: ${allowedList()}`);
    if (seen.has(name)) throw new OptionError(`option --${name} is given twice`);
    seen.add(name);
    let value = inline;
    // "--type time" (a separate value) is accepted for options that take one.
    const next = tokens[i + 1];
    if (value === undefined && kind !== 'flag' && !negated && next !== undefined && !next.startsWith('--')) value = tokens[++i];
    if (negated) {
      if (kind !== 'flag') throw new OptionError(`--no-${name}: only flags can be negated`);
      if (value !== undefined) throw new OptionError(`--no-${name} takes no value`);
    } else {
      checkValue(name, kind, value);
    }
    if (name === 'type') out.type = value as RestoreSpec['type'];
    else if (name === 'target') out.target = value;
    else if (name === 'set') out.set = value;
    else if (name === 'repo') out.repo = Number(value);
    else if (name === 'target-exclusive') out.targetExclusive = !negated && value !== 'n';
  }
  return out;
}

/** pgo's flags to a restore spec: `--pitr-target` alone means type time (v4 users type it that way); --pitr-target together with a --target in the options is refused; --pitr-target with --type=lsn|xid|name uses it as that target. */
export function restoreRequest(input: { pitrTarget?: string; options?: string; nodeAffinity?: RestoreSpec['nodeAffinity'] }): RestoreSpec {
  const options = parseRestoreOptions(input.options);
  const request: Record<string, unknown> = { ...options };
  const pitr = input.pitrTarget?.trim() || undefined;
  if (pitr !== undefined) {
    checkText('--pitr-target', pitr);
    if (options.target !== undefined) throw new OptionError(`--pitr-target "${pitr}" and --target "${options.target}" in the options both give a target: give only one of them`);
    const type = options.type ?? 'time';
    if (type === 'default' || type === 'immediate') throw new OptionError(`--pitr-target goes with --type=time, lsn, xid or name, not --type=${type}: drop one of them`);
    request.type = type;
    request.target = pitr;
  }
  if (input.nodeAffinity) request.nodeAffinity = input.nodeAffinity;
  return restoreSpec.parse(request);
}

/** A checked target, normalised as it is passed to pgBackRest. */
type Target =
  | { type: 'time'; text: string; micros: number; note: string }
  | { type: 'lsn'; text: string; value: bigint }
  | { type: 'xid' | 'name'; text: string };

/** Unix seconds as `2026-12-01 10:15:30 UTC`. */
function utc(seconds: number): string {
  return `${new Date(seconds * 1000).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

const TIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?: ?(Z|UTC|[+-]\d{2}(?::?\d{2})?))?$/i;

function parseTime(text: string): Target {
  const bad = () => new RestoreRefused(`the target "${text}" is not a time: write YYYY-MM-DD HH:MM:SS[.ffffff] with an optional zone (+00, +05:30, -0800, Z or UTC; none means UTC), e.g. ${EXAMPLE_TIME}`);
  const m = TIME.exec(text);
  if (!m) throw bad();
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const fraction = m[7] ?? '';
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || back.getUTCHours() !== h || back.getUTCMinutes() !== mi || back.getUTCSeconds() !== s) throw bad();
  const zone = m[8]?.toUpperCase();
  let offsetMinutes = 0;
  let zoneText = '+00';
  if (zone !== undefined && zone !== 'Z' && zone !== 'UTC') {
    const zh = Number(zone.slice(1, 3));
    const zm = Number(zone.slice(3).replace(':', '') || '0');
    if (zh > 15 || zm > 59) throw bad();
    offsetMinutes = (zone.startsWith('-') ? -1 : 1) * (zh * 60 + zm);
    if (offsetMinutes !== 0) zoneText = `${zone[0]}${zone.slice(1, 3)}${zm ? `:${zone.slice(-2)}` : ''}`;
  }
  const micros = ms * 1000 + Number(fraction.padEnd(6, '0')) - offsetMinutes * 60_000_000;
  const inUtc = `${new Date(Math.floor(micros / 1000)).toISOString().slice(0, 19).replace('T', ' ')}${fraction ? `.${fraction}` : ''} UTC`;
  const note = zone === undefined ? ' (no zone given: read as UTC)' : offsetMinutes !== 0 ? ` (${inUtc})` : '';
  return { type: 'time', text: `${text.slice(0, 19)}${fraction ? `.${fraction}` : ''}${zoneText}`, micros, note };
}

/** An LSN as a number: `hi/lo` is hi << 32 | lo (string comparison orders 0/A000000 before 0/6000000). */
function lsnValue(text: string): bigint {
  const [hi, lo] = text.split('/') as [string, string];
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}
const LSN = /^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/;
const UINT64_MAX = (1n << 64n) - 1n;

/** Checks that the type has a target when it needs one, and none when it takes none; parses it. */
function checkTarget(spec: RestoreSpec): Target | undefined {
  const { type, target } = spec;
  if (type === 'default' || type === 'immediate') {
    if (target !== undefined) throw new RestoreRefused(`--type=${type} takes no target, got "${target}": drop the target, or give --type=time, lsn, xid or name with it`);
    if (spec.targetExclusive) throw new RestoreRefused(`--target-exclusive needs a target: drop it, or give --type=time, lsn or xid and a target`);
    return undefined;
  }
  if (target === undefined) throw new RestoreRefused(`--type=${type} needs a target: give one with --pitr-target or --target, e.g. ${{ time: EXAMPLE_TIME, lsn: '0/3000060', xid: '1234', name: 'before-migration' }[type]}`);
  switch (type) {
    case 'time':
      return parseTime(target);
    case 'lsn': {
      if (!LSN.test(target)) throw new RestoreRefused(`the target "${target}" is not an LSN: write two hexadecimal numbers of 1 to 8 digits with a slash between, e.g. 0/3000060 (as pg_current_wal_lsn() prints it)`);
      const value = lsnValue(target);
      return { type, text: `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffffffffn).toString(16).toUpperCase()}`, value };
    }
    case 'xid':
      if (!/^\d{1,20}$/.test(target) || BigInt(target) === 0n || BigInt(target) > UINT64_MAX) throw new RestoreRefused(`the target "${target}" is not a transaction ID: write a positive whole number, e.g. 1234 (as pg_current_xact_id() prints it)`);
      return { type, text: BigInt(target).toString() };
    case 'name':
      // Restore point names are at most 63 bytes (pg_create_restore_point refuses longer ones). Quotes and
      // backslashes are refused: the name is written quoted into postgresql.auto.conf.
      if (new TextEncoder().encode(target).length > 63 || hasControl(target) || /['\\]/.test(target)) {
        throw new RestoreRefused(`the target "${target}" is not a restore point name: give the name passed to pg_create_restore_point(), at most 63 bytes, without control characters, quotes or backslashes`);
      }
      if (spec.targetExclusive) throw new RestoreRefused(`--target-exclusive does not apply to --type=name (PostgreSQL stops at the restore point): drop it`);
      return { type, text: target };
  }
}

const KIND_WORD = { full: 'full', diff: 'differential', incr: 'incremental' } as const;
const stopLsn = (b: BackupSet) => (b.lsn?.stop ? lsnValue(b.lsn.stop) : undefined);
const labels = (sets: readonly BackupSet[]) => {
  const newest = sets.slice(-5).reverse().map((b) => b.label);
  return `${newest.join(', ')}${sets.length > 5 ? ` (and ${sets.length - 5} older)` : ''}`;
};
/** Whether a set had finished by the target; undefined for targets that cannot be compared (xid, name). */
function finishedBy(b: BackupSet, t: Target | undefined): boolean | undefined {
  if (t?.type === 'time') return b.timestamp.stop * 1_000_000 <= t.micros;
  if (t?.type === 'lsn') {
    const stop = stopLsn(b);
    return stop !== undefined && stop <= t.value;
  }
  return undefined;
}

/** Validates `spec` against the repository (from `pgbackrest info --output=json`) and chooses the backup set; throws RestoreRefused. */
export function planRestore(spec: RestoreSpec, facts: { stanza: StanzaInfo | undefined; repos: readonly number[]; now: Date }): RestorePlan {
  if (facts.repos.length === 0) throw new RestoreRefused('this cluster has no pgBackRest repository configured: there is nothing to restore from');
  const repo = spec.repo ?? facts.repos[0]!;
  if (!facts.repos.includes(repo)) {
    throw new RestoreRefused(`repo${repo} is not configured for this cluster (configured: ${facts.repos.map((r) => `repo${r}`).join(', ')}): choose ${facts.repos.map((r) => `--repo=${r}`).join(' or ')}`);
  }
  const target = checkTarget(spec);
  const all = setsOf(facts.stanza, repo);
  const sets = all.filter((b) => !b.error);
  if (sets.length === 0) throw new RestoreRefused(`no backup in repo${repo} yet: take one with pgo backup CLUSTER`);

  if (target?.type === 'time') {
    if (target.micros > facts.now.getTime() * 1000) {
      throw new RestoreRefused(`the target ${target.text} is in the future (it is now ${utc(Math.floor(facts.now.getTime() / 1000))}): choose a time that has passed, or restore with --type=default to replay all archived WAL`);
    }
    const oldest = Math.min(...sets.map((b) => b.timestamp.stop));
    if (target.micros < oldest * 1_000_000) {
      throw new RestoreRefused(`the target ${target.text} is before the oldest backup in repo${repo}, which finished at ${utc(oldest)}: choose a later target or restore with --type=immediate`);
    }
  }
  if (target?.type === 'lsn') {
    const stops = sets.map(stopLsn).filter((v) => v !== undefined);
    if (stops.length === 0) throw new RestoreRefused(`no backup in repo${repo} records the LSN it ended at: restore with --type=time or --type=immediate`);
    const oldest = stops.reduce((a, b) => (b < a ? b : a));
    if (target.value < oldest) {
      const at = sets.find((b) => stopLsn(b) === oldest)!.lsn!.stop!;
      throw new RestoreRefused(`the target LSN ${target.text} is before the oldest backup in repo${repo}, which ended at LSN ${at}: choose a later target or restore with --type=immediate`);
    }
  }

  let set: BackupSet;
  if (spec.set !== undefined) {
    const given = all.find((b) => b.label === spec.set);
    if (!given) throw new RestoreRefused(`backup set ${spec.set} is not in repo${repo}: choose one of ${labels(sets)}`);
    if (given.error) throw new RestoreRefused(`backup set ${spec.set} in repo${repo} did not complete (pgBackRest marked it in error): choose one of ${labels(sets)}`);
    if (finishedBy(given, target) === false) {
      const before = sets.filter((b) => finishedBy(b, target));
      const end = target?.type === 'time' ? `finished at ${utc(given.timestamp.stop)}` : `ended at LSN ${given.lsn?.stop ?? 'unknown'}`;
      throw new RestoreRefused(`backup set ${spec.set} ${end}, after the target ${target!.text}: choose a set that finished before it (${labels(before)}) or leave --set out to use the latest such`);
    }
    set = given;
  } else {
    // Time and LSN: the latest set that finished by the target (the checks above make one exist).
    // xid and name cannot be placed without reading WAL: the latest set, which PostgreSQL refuses to restore
    // from if the target is older (recovery ends before the target is reached); the description says so.
    const candidates = target?.type === 'time' || target?.type === 'lsn' ? sets.filter((b) => finishedBy(b, target)) : sets;
    set = candidates[candidates.length - 1]!;
  }

  const args = [`--repo=${repo}`, `--set=${set.label}`];
  if (target) {
    args.push(`--type=${target.type}`, `--target=${target.text}`, '--target-action=promote');
    if (spec.targetExclusive) args.push('--target-exclusive');
  } else if (spec.type === 'immediate') {
    args.push('--type=immediate', '--target-action=promote');
  }

  const before = spec.targetExclusive ? 'just before ' : '';
  const replay = !target
    ? spec.type === 'immediate'
      ? 'replays only the WAL that makes it consistent and promotes; writes committed after the backup are not kept'
      : 'replays all archived WAL and promotes'
    : target.type === 'time'
      ? `replays WAL to ${before}${target.text}${target.note} and promotes; writes committed after that are not kept`
      : target.type === 'lsn'
        ? `replays WAL to ${before}LSN ${target.text} and promotes; writes committed after that are not kept`
        : `replays WAL ${target.type === 'xid' ? `${spec.targetExclusive ? 'to just before' : 'through'} transaction ${target.text}` : `to restore point "${target.text}"`} and promotes; writes committed after it are not kept${spec.set === undefined ? '; if the target is older than this backup the restore fails: choose an earlier set with --set' : ''}`;
  const description = `restores ${KIND_WORD[set.type]} backup ${set.label} (finished ${utc(set.timestamp.stop)}) from repo${repo}, then ${replay}`;
  return { set: set.label, repo, args, description };
}
