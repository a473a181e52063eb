/**
 * A change to a PostgreSQL user (a pgtask of type user-update): create, update or delete one role of a
 * cluster. Limits and messages of `pgo create|update|delete user` are defined here once; the CRD, the API and
 * `pgo` take them from here. A new password never appears in the task: it waits in a Secret the task names
 * (written by the API, owned by the task, deleted once the change is applied).
 */
import { z } from 'zod';

/** Roles the operator itself relies on: hidden by `pgo show user` unless asked, never changed by `pgo user`. */
export const SYSTEM_ACCOUNTS = ['postgres', 'replicator', 'pgbouncer', 'ccp_monitoring'] as const;

export const PASSWORD_LENGTH = { min: 8, max: 128, default: 24 } as const;
export const PASSWORD_MAX = 256;
export const MAX_VALID_DAYS = 36_500;

export const USER_MESSAGES = {
  sqlName: "must be a lower-case SQL identifier (letters, digits, '_'), e.g. 'appuser'",
  system: `is a system account the operator relies on (${SYSTEM_ACCOUNTS.join(', ')}); pgo user commands do not change it`,
  validUntil: "must be 'infinity' or a time such as 2027-01-31T00:00:00Z",
} as const;

/** A PostgreSQL role name: plain identifiers only, so nothing needs quoting in SQL. */
export const roleName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z_][a-z0-9_]*$/, USER_MESSAGES.sqlName)
  .refine((u) => !(SYSTEM_ACCOUNTS as readonly string[]).includes(u), USER_MESSAGES.system)
  .describe('the PostgreSQL role');

/** When a password stops working: never, or a time. */
export const validUntil = z
  .string()
  .regex(/^(infinity|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z)$/, USER_MESSAGES.validUntil);

/** What a user-update task does. */
export const userChange = z.strictObject({
  action: z.enum(['create', 'update', 'delete']),
  username: roleName,
  managed: z.boolean().optional().describe('keep the password in the Secret <cluster>-<user>-secret (create)'),
  passwordType: z.enum(['scram-sha-256', 'md5']).optional().describe("how the password is stored; the cluster's passwordType when unset"),
  passwordSecret: z.string().min(1).max(253).optional().describe('a Secret whose key "password" holds the new password'),
  passwordLength: z.int().min(PASSWORD_LENGTH.min).max(PASSWORD_LENGTH.max).optional().describe('without passwordSecret: generate a new password of this length (create: always, 24 by default)'),
  validUntil: validUntil.optional().describe("when the password expires: 'infinity' or an RFC 3339 time in UTC"),
  login: z.boolean().optional().describe('false: the role may not log in (--disable-login); true: it may again'),
});

/** Progress of a user-update task: `applying` is recorded before the SQL runs, so a retry knows the role is its own. */
export const userChangeStatus = z.strictObject({
  step: z.enum(['applying', 'recording', 'done']).optional(),
  secret: z.string().optional().describe('the Secret that holds the password, when there is one'),
});

export type UserChange = z.output<typeof userChange>;
export type UserChangeStatus = z.output<typeof userChangeStatus>;
