/**
 * Loading a file into a table (a pgtask of type load, from `pgo load` or kubectl). The file is on a volume
 * (a PersistentVolumeClaim of the cluster's namespace); a Job next to the data reads it and loads it in one
 * transaction, so a table gets every row of the file or none. Limits and messages are defined here once; the
 * CRD, the API and `pgo` take them from here.
 *
 * - csv: PostgreSQL's CSV format, into the table's columns in order (`header: true` skips a first line).
 * - json: JSON Lines, one object per line; each key fills the column of that name, keys that are no column
 *   are ignored, a column no object has keeps its default, and an object without a key that others have
 *   leaves that column NULL. (Not a JSON array, and not one jsonb column.)
 */
import { z } from 'zod';
import { dnsLabel } from './common.ts';

export const LOAD_LIMITS = { maxPolicies: 20, pathMax: 1024 } as const;

export const LOAD_MESSAGES = {
  table: "must be a table name, optionally with its schema: letters, digits, '_' and '$', e.g. 'orders' or 'sales.orders'",
  file: "must be a path inside the volume, without '..', quotes or spaces, e.g. 'data/orders.csv'",
  sqlName: "must be a lower-case SQL identifier (letters, digits, '_'), e.g. 'userdb'",
  unknownKey: (k: string) => `${k} is not a load setting: use DbDatabase, DbUser, TableToLoad, FilePath, FileType, PVCName (v4) or database, user, table, file, fileType, header, pvcName`,
  noFile: (file: string, pvc: string) => `there is no file ${file} in PersistentVolumeClaim ${pvc}: copy it there, or correct FilePath`,
  noPvc: (pvc: string) => `PersistentVolumeClaim ${pvc} does not exist in this namespace: create it with the file on it, or correct PVCName`,
  noColumn: (table: string) => `no key of the JSON objects is a column of ${table}: each line must be an object whose keys are column names`,
} as const;

const identifier = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;
const sqlName = z.string().min(1).max(63).regex(/^[a-z_][a-z0-9_]*$/, LOAD_MESSAGES.sqlName);

/** A table, optionally schema-qualified; each part is quoted as written. */
export const loadTable = z
  .string()
  .max(127)
  .refine((t) => t.split('.').length <= 2 && t.split('.').every((p) => identifier.test(p)), LOAD_MESSAGES.table);

/** A relative path inside the volume. */
export const loadFile = z
  .string()
  .min(1)
  .max(LOAD_LIMITS.pathMax)
  .refine((f) => /^[A-Za-z0-9._@+=,-]+(\/[A-Za-z0-9._@+=,-]+)*$/.test(f) && !f.split('/').includes('..'), LOAD_MESSAGES.file);

export const loadFileType = z.enum(['csv', 'json']);

/** What a load task loads. */
export const loadSpec = z.strictObject({
  pvcName: dnsLabel.describe('the PersistentVolumeClaim the file is on'),
  file: loadFile.describe('the path of the file inside that volume'),
  fileType: loadFileType.default('csv').describe('csv (PostgreSQL CSV) or json (JSON Lines: one object per line)'),
  header: z.boolean().optional().describe('csv: the first line names the columns and is not loaded'),
  table: loadTable.describe('the table to load into; it must exist'),
  database: sqlName.optional().describe("the database; the cluster's database when unset"),
  user: sqlName.optional().describe('the role the rows are written as (its privileges apply); postgres when unset'),
  policies: z.array(dnsLabel).max(LOAD_LIMITS.maxPolicies).optional().describe('pgpolicies applied to the cluster before the load (e.g. to create the table)'),
});

/** Progress and result of a load task. */
export const loadStatus = z.strictObject({
  rows: z.number().int().min(0).optional().describe('rows loaded'),
  line: z.number().int().min(1).optional().describe('the line of the file PostgreSQL refused, when it did'),
});

export type LoadSpec = z.output<typeof loadSpec>;
export type LoadStatus = z.output<typeof loadStatus>;

/** v4's load.yaml keys and the spec's own. PGOImagePrefix, PGOImageTag, DbPort, FSGroup and SupplementalGroup are accepted and not used: the Job runs the cluster's image against its port. */
const V4_KEYS: Record<string, keyof LoadSpec | undefined> = {
  DbDatabase: 'database',
  DbUser: 'user',
  TableToLoad: 'table',
  FilePath: 'file',
  FileType: 'fileType',
  PVCName: 'pvcName',
  PGOImagePrefix: undefined,
  PGOImageTag: undefined,
  DbPort: undefined,
  FSGroup: undefined,
  SupplementalGroup: undefined,
};
const OWN_KEYS = new Set(Object.keys(loadSpec.shape).filter((k) => k !== 'policies'));

/** A load.yaml (already parsed) to the fields of spec.load, or an error naming the unknown key. */
export function loadConfigFields(doc: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) {
    if (k in V4_KEYS) {
      const to = V4_KEYS[k];
      if (to) out[to] = to === 'fileType' && typeof v === 'string' ? v.toLowerCase() : v;
    } else if (OWN_KEYS.has(k)) {
      out[k] = v;
    } else {
      throw new Error(LOAD_MESSAGES.unknownKey(k));
    }
  }
  // v4 gave FilePath as a path in the volume, often with a leading '/'.
  if (typeof out.file === 'string') out.file = out.file.replace(/^\/+/, '');
  return out;
}
