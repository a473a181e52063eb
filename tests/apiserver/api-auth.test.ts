import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { CoreV1Api } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocket } from 'ws';
import { MAX_FAILURES } from '../../src/api/auth/throttle.ts';
import { MESSAGES, ROUTES, buildPath, pathParams, type Route } from '../../src/api/routes.ts';
import { MAX_BODY_BYTES } from '../../src/api/server.ts';
import { addUser, call, startApi, type ApiHarness } from '../harness/api.ts';

// Every route of the one route table, as a user without its permission, as a user without the namespace,
// and with bad credentials; then bad input and the other security properties.
const test = suite<{ h: ApiHarness; admin: string; nothing: string; teamA: string; reader: string }>('API authentication, authorization and input');
const routes = ROUTES as readonly Route[];
const params: Record<string, string> = { namespace: 'team-b', name: 'hippo', replica: 'hippo-abcd', task: 'hippo-failover-abcd', schedule: 'nightly' };
const pathOf = (r: Route, over: Record<string, string> = {}) => buildPath(r, { ...params, ...over });

test.before(async (ctx) => {
  ctx.h = await startApi(['team-a', 'team-b']);
  ctx.admin = `admin:${ctx.h.adminPassword}`;
  // 'Cat' is a v4 permission no route of this API uses: the user is authenticated but may do nothing.
  ctx.nothing = `nothing:${await addUser(ctx.h, 'nothing', ['Cat'], '*')}`;
  ctx.teamA = `team-a-admin:${await addUser(ctx.h, 'team-a-admin', ['*'], ['team-a'])}`;
  ctx.reader = `reader:${await addUser(ctx.h, 'reader', ['ShowCluster', 'ShowUser'], '*')}`;
});
test.after(async (ctx) => {
  await ctx.h?.stop();
});

test('the route table covers every v4 operation group and each route has a unique method+path', () => {
  const keys = routes.map((r) => `${r.method} ${r.path}`);
  assert.is(new Set(keys).size, keys.length);
  assert.ok(routes.length >= 40, `only ${routes.length} routes`);
});

test('every route: a user without the permission gets 403 naming it', async ({ h, nothing }) => {
  for (const r of routes) {
    const a = await call(h, r.method, pathOf(r, { namespace: 'team-a' }), nothing);
    assert.is(a.status, 403, `${r.id}: ${a.text}`);
    assert.ok(a.json.error?.message.includes(r.permission), `${r.id}: ${a.text}`);
  }
});

test('every namespaced route: a user without the namespace gets 403, whatever its permissions', async ({ h, teamA }) => {
  const namespaced = routes.filter((r) => pathParams(r.path).includes('namespace'));
  assert.ok(namespaced.length > 30);
  for (const r of namespaced) {
    const a = await call(h, r.method, pathOf(r, { namespace: 'team-b' }), teamA);
    assert.is(a.status, 403, `${r.id}: ${a.text}`);
    assert.is(a.json.error?.message, MESSAGES.namespaceForbidden('team-a-admin', 'team-b'), r.id);
  }
  // ... while the same user works in its own namespace.
  assert.is((await call(h, 'GET', '/api/v1/namespaces/team-a/clusters', teamA)).status, 200);
});

test('the event stream refuses a namespace the user cannot use, and bad credentials', async ({ h, teamA, admin }) => {
  const open = (auth: string, ns: string) =>
    new Promise<number>((resolve) => {
      const ws = new WebSocket(`wss://127.0.0.1:${h.api.port}/api/v1/events?namespace=${ns}`, { ca: h.api.tls.cert, headers: { Authorization: `Basic ${Buffer.from(auth).toString('base64')}` } });
      ws.on('unexpected-response', (_req, res) => (resolve(res.statusCode ?? 0), ws.terminate()));
      ws.on('open', () => (resolve(101), ws.close()));
      ws.on('error', () => resolve(0));
    });
  assert.is(await open(teamA, 'team-b'), 403);
  assert.is(await open('admin:wrong-password-x', 'team-a'), 401);
  assert.is(await open(admin, 'team-a'), 101);
});

test('every route: no credentials and wrong passwords get 401', async ({ h }) => {
  for (const r of routes) {
    const none = await call(h, r.method, pathOf(r));
    assert.is(none.status, 401, `${r.id} without credentials: ${none.text}`);
    assert.ok(String(none.headers['www-authenticate']).startsWith('Basic'));
    // A fresh unknown user per route, so the login throttle does not turn these into 429s.
    const wrong = await call(h, r.method, pathOf(r), `ghost-${randomBytes(3).toString('hex')}:nope`);
    assert.is(wrong.status, 401, `${r.id} with a wrong password: ${wrong.text}`);
    assert.is(wrong.json.error?.message, MESSAGES.unauthenticated);
  }
});

test('repeated wrong passwords lock the user out from that address, even with the right password', async ({ h }) => {
  const password = await addUser(h, 'victim', ['ShowCluster'], '*');
  const path = '/api/v1/namespaces/team-a/clusters';
  assert.is((await call(h, 'GET', path, `victim:${password}`)).status, 200);
  for (let i = 0; i < MAX_FAILURES; i++) assert.is((await call(h, 'GET', path, 'victim:guess')).status, 401, `guess ${i}`);
  const locked = await call(h, 'GET', path, `victim:${password}`);
  assert.is(locked.status, 429, locked.text);
  assert.ok(Number(locked.headers['retry-after']) > 0);
  // Other users are not affected.
  assert.is((await call(h, 'GET', path, `reader:password-reader`)).status, 200);
});

test('plain HTTP is refused with a message pointing at https://', async ({ h }) => {
  const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = httpRequest(`http://127.0.0.1:${h.api.port}/api/v1/version`, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
  assert.is(answer.status, 400);
  assert.ok(answer.text.includes('https://'));
});

test('malformed JSON, oversized bodies, unknown fields and bodies where none belong are refused', async ({ h, admin }) => {
  const path = '/api/v1/namespaces/team-a/clusters';
  const bad = await call(h, 'POST', path, admin, '{"name": "x",');
  assert.is(bad.status, 400);
  assert.ok(bad.json.error?.message.startsWith('malformed JSON'), bad.text);
  // JSON.parse would take the last value: refused, naming the key, and nothing is created.
  const dup = await call(h, 'POST', path, admin, '{"name": "dup", "replicaCount": 1, "replicaCount": 5}');
  assert.is(dup.status, 400, dup.text);
  assert.is(dup.json.error?.message, 'ambiguous JSON body: duplicate key "replicaCount" at replicaCount: send each key once');
  assert.is((await call(h, 'GET', `${path}/dup`, admin)).status, 404);
  const big = await call(h, 'POST', path, admin, JSON.stringify({ name: 'x', pad: 'x'.repeat(MAX_BODY_BYTES) }));
  assert.is(big.status, 413, big.text);
  const unknown = await call(h, 'POST', path, admin, { name: 'x', replicaCount: 1, sneaky: true });
  assert.is(unknown.status, 400);
  assert.equal(unknown.json.error?.fields, ['body.sneaky: unknown field']);
  const wrongType = await call(h, 'POST', path, admin, { name: 'x', replicaCount: 'two' });
  assert.is(wrongType.status, 400);
  assert.ok(wrongType.json.error?.fields?.[0]?.startsWith('body.replicaCount:'), wrongType.text);
  const noBody = await call(h, 'GET', path, admin, { name: 'x' });
  assert.is(noBody.status, 400);
  const unknownQuery = await call(h, 'GET', `${path}?evil=1`, admin);
  assert.is(unknownQuery.status, 400);
  assert.equal(unknownQuery.json.error?.fields, ['query.evil: unknown field']);
});

test('names with path separators, dots or SQL are refused with 400 naming the field', async ({ h, admin }) => {
  for (const name of ['a%2Fb', '..%2F..%2Fsecrets', "x'%3B%20drop%20table%20t%3B--", 'UPPER', 'a.b']) {
    const a = await call(h, 'GET', `/api/v1/namespaces/team-a/clusters/${name}`, admin);
    assert.is(a.status, 400, `${name}: ${a.status} ${a.text}`);
    assert.ok(a.json.error?.fields?.[0]?.startsWith('path.name:'), a.text);
  }
  // A dot segment is resolved by the URL parser before routing: it never reaches a handler as a name.
  assert.is((await call(h, 'GET', '/api/v1/namespaces/team-a/clusters/%2e%2e', admin)).status, 404);
  const sqlBody = await call(h, 'POST', '/api/v1/namespaces/team-a/clusters', admin, { name: 'ok', database: 'db; drop table x' });
  assert.is(sqlBody.status, 400);
  assert.ok(sqlBody.json.error?.fields?.[0]?.startsWith('body.database:'), sqlBody.text);
  const bodyName = await call(h, 'POST', '/api/v1/namespaces/team-a/clusters', admin, { name: '../x' });
  assert.is(bodyName.status, 400);
  const reservedLabel = await call(h, 'POST', '/api/v1/namespaces/team-a/clusters/hippo/labels', admin, { labels: { 'pg-operator.dev/role': 'primary' } });
  assert.is(reservedLabel.status, 400, reservedLabel.text);
});

test('secrets: pgousers never show hashes; passwords only with ShowSecrets and the explicit flag', async ({ h, admin, reader }) => {
  const users = await call(h, 'GET', '/api/v1/pgousers', admin);
  assert.is(users.status, 200);
  assert.not.ok(users.text.includes('scrypt'), 'a password hash was returned');
  assert.not.ok(users.text.includes(h.adminPassword));
  // A cluster and its user Secret, as the operator would have made them.
  assert.is((await call(h, 'POST', '/api/v1/namespaces/team-a/clusters', admin, { name: 'hippo', shutdown: true })).status, 201);
  const core = h.cp.kubeconfig.makeApiClient(CoreV1Api);
  await core.createNamespacedSecret({ namespace: 'team-a', body: { metadata: { name: 'hippo-testuser-secret' }, stringData: { username: 'testuser', password: 'Sup3rSecret!' } } });
  // The roles are read from the primary (tests/cluster/pgo.test.ts shows them, and passwords with ShowSecrets): none here.
  const plain = await call(h, 'GET', '/api/v1/namespaces/team-a/clusters/hippo/users', reader);
  assert.is(plain.status, 409, plain.text);
  assert.match(plain.text, /hippo has no primary running/);
  assert.not.ok(plain.text.includes('Sup3rSecret!'));
  const asked = await call(h, 'GET', '/api/v1/namespaces/team-a/clusters/hippo/users?showSecrets=true', reader);
  assert.is(asked.status, 403, asked.text);
  assert.ok(asked.json.error?.message.includes('ShowSecrets'));
  const created = await call(h, 'POST', '/api/v1/namespaces/team-a/clusters/hippo/users', reader, { username: 'eve', password: 'Sup3rSecret!' });
  assert.is(created.status, 403, created.text);
});

test('one audit line per call, never a password', ({ h }) => {
  const audit = h.logs.filter((l) => l.startsWith('[audit] '));
  assert.ok(audit.length > 150, `${audit.length} audit lines`);
  const all = h.logs.join('\n');
  for (const secret of [h.adminPassword, 'password-nothing', 'password-victim', 'Sup3rSecret!']) assert.not.ok(all.includes(secret), `log contains ${secret}`);
  const line = JSON.parse(audit.find((l) => l.includes('"route":"cluster.get"'))!.slice(8)) as Record<string, unknown>;
  assert.ok(['user', 'route', 'status', 'ms', 'ip'].every((k) => k in line), JSON.stringify(line));
});

test('a pgouser cannot grant more than it holds', async ({ h, teamA }) => {
  const a = await call(h, 'POST', '/api/v1/pgousers', teamA, { name: 'sneaky', password: 'long-enough-1', roles: ['pgoadmin'], allNamespaces: true });
  assert.is(a.status, 403, a.text);
  const b = await call(h, 'POST', '/api/v1/pgousers', teamA, { name: 'sneaky', password: 'long-enough-1', roles: ['pgoadmin'], namespaces: ['team-b'] });
  assert.is(b.status, 403, b.text);
});

test.run();
