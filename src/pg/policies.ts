/** Running a pgpolicy's SQL on a primary: one transaction, whose id is known before the SQL runs. */
import type pg from 'pg';
import { POLICY_MESSAGES } from '../crd/policy.ts';

/** PostgreSQL refused the policy: its SQLSTATE and message (and where, when it says). */
export class PolicyFailed extends Error {
  constructor(
    readonly sqlstate: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

const pgError = (err: unknown) => err as { code?: string; message: string; position?: string; where?: string };

/**
 * Runs `sql` in one transaction on `client`. `started(xid)` is awaited after the transaction has its id and
 * before the SQL runs (the caller records it, to tell later whether it committed). A policy that ends the
 * transaction itself (COMMIT/ROLLBACK in its text) is refused afterwards with what that did.
 * @throws PolicyFailed when PostgreSQL refuses the SQL (the transaction is rolled back)
 */
export async function runPolicy(client: pg.Client, sql: string, started: (xid: string) => Promise<void>): Promise<void> {
  await client.query('begin');
  try {
    const xid = (await client.query<{ xid: string }>('select txid_current()::text as xid')).rows[0]!.xid;
    await started(xid);
    try {
      await client.query(sql);
    } catch (err) {
      const e = pgError(err);
      throw new PolicyFailed(e.code, `${e.code ? `SQLSTATE ${e.code}: ` : ''}${e.message}${e.where ? ` (${e.where})` : ''}`);
    }
    const still = (await client.query<{ xid: string | null }>('select txid_current_if_assigned()::text as xid')).rows[0]!.xid;
    if (still !== xid) throw new PolicyFailed(undefined, POLICY_MESSAGES.ownTransaction);
    await client.query('commit');
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  }
}

/**
 * Whether transaction `xid` committed: 'committed', 'aborted', 'in progress', or undefined when PostgreSQL no
 * longer knows it (older than its commit log; it never committed for us then only if we never saw it, so the
 * caller treats that as not known and refuses to guess).
 */
export async function transactionStatus(client: pg.Client, xid: string): Promise<string | undefined> {
  const r = await client.query<{ s: string | null }>('select txid_status($1::bigint) as s', [xid]);
  return r.rows[0]!.s ?? undefined;
}
