/** `pgbackrest info --output=json` (2.45) parsed with zod, and what the operator reads from it. */
import { z } from 'zod';

const backupSet = z.looseObject({
  label: z.string(),
  type: z.enum(['full', 'diff', 'incr']),
  prior: z.string().nullable().optional(),
  reference: z.array(z.string()).nullable().optional(),
  timestamp: z.looseObject({ start: z.number(), stop: z.number() }),
  archive: z.looseObject({ start: z.string().nullable().optional(), stop: z.string().nullable().optional() }).optional(),
  lsn: z.looseObject({ start: z.string().nullable().optional(), stop: z.string().nullable().optional() }).optional(),
  info: z.looseObject({ size: z.number(), delta: z.number(), repository: z.looseObject({ size: z.number().optional(), delta: z.number() }) }),
  database: z.looseObject({ id: z.number(), 'repo-key': z.number() }),
  error: z.boolean().optional(),
  annotation: z.record(z.string(), z.string()).optional(),
});

/** One stanza of `info --output=json`. */
export const stanzaInfo = z.looseObject({
  name: z.string(),
  status: z.looseObject({
    code: z.number(),
    message: z.string(),
    lock: z.looseObject({ backup: z.looseObject({ held: z.boolean(), 'pct-cplt': z.number().optional() }) }).optional(),
  }),
  cipher: z.string().optional(),
  db: z.array(z.looseObject({ id: z.number(), 'system-id': z.string(), version: z.string(), 'repo-key': z.number() })).default([]),
  archive: z.array(z.looseObject({ id: z.string(), min: z.string().nullable(), max: z.string().nullable(), database: z.looseObject({ 'repo-key': z.number() }) })).default([]),
  backup: z.array(backupSet).default([]),
  repo: z.array(z.looseObject({ key: z.number(), cipher: z.string().optional(), status: z.looseObject({ code: z.number(), message: z.string() }) })).default([]),
});

/** One stanza. */
export type StanzaInfo = z.output<typeof stanzaInfo>;
/** One backup set. */
export type BackupSet = z.output<typeof backupSet>;

/**
 * Parses pgBackRest's JSON. The system identifier is a 64-bit integer that a JavaScript number cannot hold,
 * so it is quoted before parsing and kept as a string.
 */
export function parseInfo(json: string): StanzaInfo[] {
  const quoted = json.replace(/"system-id":(\d+)/g, '"system-id":"$1"');
  let data: unknown;
  try {
    data = JSON.parse(quoted);
  } catch (err) {
    throw new Error(`pgbackrest info printed something that is not JSON: ${json.slice(0, 200)}`, { cause: err });
  }
  return z.array(stanzaInfo).parse(data);
}

/** The backup sets of one repository, oldest first. */
export function setsOf(stanza: StanzaInfo | undefined, repo?: number): BackupSet[] {
  return (stanza?.backup ?? []).filter((b) => repo === undefined || b.database['repo-key'] === repo).sort((a, b) => a.timestamp.start - b.timestamp.start);
}

/** The sets that depend on `label` (diff and incr sets referencing it), which expiring it also removes. */
export function dependents(stanza: StanzaInfo | undefined, label: string): string[] {
  return setsOf(stanza).filter((b) => b.label !== label && (b.reference ?? []).includes(label)).map((b) => b.label);
}

/** v4's default type: incr once a full backup exists in the repository, else full. */
export function defaultType(stanza: StanzaInfo | undefined, repo: number): 'full' | 'incr' {
  return setsOf(stanza, repo).some((b) => b.type === 'full' && !b.error) ? 'incr' : 'full';
}

/** The label pgBackRest printed for a new backup ("new backup label = ..."). */
export function newBackupLabel(log: string): string | undefined {
  return /new backup label = (\S+)/.exec(log)?.[1];
}

/** pgBackRest's error from a log: the last ERROR line and the lines that continue it (HINTs). */
export function backrestError(log: string): string | undefined {
  const lines = log.split('\n');
  let at = -1;
  lines.forEach((l, i) => {
    if (/\bERROR: \[\d+\]/.test(l)) at = i;
  });
  if (at < 0) return undefined;
  const out = [lines[at]!.replace(/^.*?(ERROR: )/, '$1')];
  for (const l of lines.slice(at + 1)) {
    if (!/^\s+\S/.test(l)) break;
    out.push(l.trim());
  }
  // "unable to find primary cluster" [056]: the cause is in the warnings before it (pg1 did not answer, ...).
  const causes = /\[056\]/.test(lines[at]!) ? lines.slice(0, at).filter((l) => /WARN: unable to check pg\d+/.test(l)).map((l) => l.replace(/^.*?(WARN: )/, '$1').trim()) : [];
  return [...out, ...causes].join(' ').slice(0, 4000);
}

/**
 * pgBackRest's error text without the HTTP dump it appends for S3 (request and response headers): the error
 * itself, and the S3 error code and message from the response body.
 */
export function shortBackrestError(text: string): string {
  const head = text.split(' *** ')[0]!.replace(/:\s*$/, '').trim();
  const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1];
  const message = /<Message>([^<]+)<\/Message>/.exec(text)?.[1];
  return code ? `${head} (S3: ${code}${message ? `: ${message}` : ''})` : head;
}
