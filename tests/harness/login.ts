/** Logs in to PostgreSQL over TCP as an application would. */
import pg from 'pg';

/** current_user after logging in as `user` with `password`, or `refused: <why>`. */
export async function loginAs(host: string, port: number, user: string, password: string, database: string): Promise<string> {
  const c = new pg.Client({ host, port, user, password, database, connectionTimeoutMillis: 5000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return (await c.query<{ u: string }>('select current_user as u')).rows[0]!.u;
  } catch (err) {
    return `refused: ${(err as Error).message}`;
  } finally {
    await c.end().catch(() => undefined);
  }
}
