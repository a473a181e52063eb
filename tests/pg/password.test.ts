/** Password verifiers computed by the operator, accepted by real PostgreSQL 15: log in with the password they came from. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ident } from '../../src/pg/sql.ts';
import { passwordVerifier } from '../../src/pg/password.ts';
import { withInstance } from '../../src/pg/instance.ts';
import { startPrimary, type PgServer } from '../harness/pg.ts';
import pg from 'pg';

interface Ctx {
  s: PgServer;
}
const test = suite<Ctx>('password verifiers on real PostgreSQL');

test.before(async (ctx) => {
  ctx.s = await startPrimary('passwords');
});

test.after(async (ctx) => {
  await ctx.s?.destroy();
});

const login = async (s: PgServer, user: string, password: string) => {
  const c = new pg.Client({ host: s.endpoint.host, port: s.endpoint.port, user, password, database: 'postgres', connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    return (await c.query<{ u: string }>('select current_user as u')).rows[0]!.u;
  } finally {
    await c.end().catch(() => undefined);
  }
};

// md5 verifiers are not tried here: this server's pg_hba.conf asks for scram-sha-256, which an md5 verifier cannot answer
// (tests/pg/users.test.ts logs in with md5 under the image's md5 rule).
for (const type of ['scram-sha-256'] as const) {
  test(`${type}: the role logs in with the password, not with another, and the server holds only the verifier`, async (ctx) => {
    const user = `u_${type.replace(/\W/g, '')}`;
    const password = "p'w \u00e9\u00e8 ✓ 42";
    const verifier = passwordVerifier(type, password, user);
    assert.not.ok(verifier.includes(password));
    await withInstance(ctx.s.endpoint, async (c) => {
      await c.query(`create role ${ident(user)} login password '${verifier.replace(/'/g, "''")}'`);
      const stored = (await c.query<{ p: string }>('select rolpassword as p from pg_authid where rolname = $1', [user])).rows[0]!.p;
      assert.is(stored, verifier);
    });
    assert.is(await login(ctx.s, user, password), user);
    let refused = false;
    await login(ctx.s, user, `${password}x`).catch(() => (refused = true));
    assert.ok(refused, 'a wrong password is refused');
  });
}

test.run();
