/**
 * SQL of a change to a PostgreSQL user. A password reaches the server only as a verifier (SCRAM or md5,
 * src/pg/password.ts), never as plain text, and the statements run with statement logging off.
 */
import type pg from 'pg';
import type { UserChange } from '../crd/user.ts';

/** A role as `pgo show user` lists it. */
export interface RoleRow {
  username: string;
  /** ISO time, or undefined for never. */
  validUntil?: string;
  canLogin: boolean;
}

/** An SQL string literal. */
export const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

/**
 * The statements that make the role what `change` asks, given whether it exists now and the verifier of
 * its new password, if any. Role names are plain identifiers (checked by the schema), so they need no quoting.
 * @throws when the change cannot apply (a role to create that exists, one to change that does not)
 */
export function userStatements(change: UserChange, exists: boolean, verifier: string | undefined, resumed: boolean): string[] {
  const u = change.username;
  if (change.action === 'delete') {
    if (exists) return [`drop role ${u}`];
    if (resumed) return [];
    throw new Error(`role ${u} does not exist`);
  }
  if (change.action === 'create' && exists && !resumed) throw new Error(`role ${u} already exists; change it with pgo update user`);
  if (change.action === 'update' && !exists) throw new Error(`role ${u} does not exist; create it with pgo create user`);
  const options = [
    ...(change.login === false ? ['nologin'] : change.login === true || change.action === 'create' ? ['login'] : []),
    ...(verifier === undefined ? [] : [`password ${literal(verifier)}`]),
    ...(change.validUntil === undefined ? [] : [`valid until ${literal(change.validUntil)}`]),
  ];
  if (!exists) return [`create role ${u}${options.length ? ` ${options.join(' ')}` : ''}`];
  return options.length ? [`alter role ${u} ${options.join(' ')}`] : [];
}

/** Runs the change in one transaction on the primary at `client`, with statement logging off. */
export async function applyUserChange(client: pg.Client, change: UserChange, verifier: string | undefined, resumed: boolean): Promise<void> {
  await client.query('begin');
  try {
    await client.query("set local log_statement = 'none'");
    const exists = (await client.query('select 1 from pg_roles where rolname = $1', [change.username])).rowCount! > 0;
    for (const sql of userStatements(change, exists, verifier, resumed)) await client.query(sql);
    await client.query('commit');
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    const e = err as Error & { code?: string; detail?: string };
    throw new Error(`${e.message}${e.code ? ` (SQLSTATE ${e.code})` : ''}${e.detail ? `: ${e.detail}` : ''}`, { cause: err });
  }
}

/** Every role but PostgreSQL's own (pg_*), with its expiry and whether it may log in. */
export async function listRoles(client: pg.Client): Promise<RoleRow[]> {
  const { rows } = await client.query<{ rolname: string; valid_until: string | null; rolcanlogin: boolean }>(
    `select rolname, rolcanlogin,
            case when rolvaliduntil is null or rolvaliduntil = 'infinity' then null
                 else to_char(rolvaliduntil at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') end as valid_until
       from pg_roles where rolname !~ '^pg_' order by rolname`,
  );
  return rows.map((r) => ({ username: r.rolname, canLogin: r.rolcanlogin, ...(r.valid_until ? { validUntil: r.valid_until } : {}) }));
}
