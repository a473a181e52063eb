import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseBasic } from '../../src/api/auth/authenticate.ts';
import { generatePassword, hashPassword, verifyPassword } from '../../src/api/auth/password.ts';
import { LoginThrottle, MAX_FAILURES } from '../../src/api/auth/throttle.ts';
import { matches } from '../../src/api/events.ts';
import { machineStates } from '../../src/api/handlers/meta.ts';
import { openApiDocument } from '../../src/api/openapi.ts';
import { PERMISSIONS, canUseNamespace, hasPermission, isPermission, type Principal } from '../../src/api/permissions.ts';
import { ROUTE, ROUTES, buildPath, matchRoute } from '../../src/api/routes.ts';
import { sendBounded, SLOW_CLIENT_CLOSE } from '../../src/api/ws.ts';
import type { WebSocket } from 'ws';

const user = (permissions: string[], namespaces: string[] | '*'): Principal => ({ name: 'u', permissions: new Set(permissions), namespaces });

test('permissions: named ones, * for all, nothing else', () => {
  assert.ok(hasPermission(user(['ShowCluster'], '*'), 'ShowCluster'));
  assert.not.ok(hasPermission(user(['ShowCluster'], '*'), 'DeleteCluster'));
  for (const p of PERMISSIONS) assert.ok(hasPermission(user(['*'], '*'), p));
  assert.ok(isPermission('CreateFailover') && isPermission('*'));
  assert.not.ok(isPermission('createfailover'));
  assert.not.ok(isPermission('Admin'));
});

test('every route needs a known permission', () => {
  for (const r of ROUTES) assert.ok((PERMISSIONS as readonly string[]).includes(r.permission), r.id);
});

test('namespaces: a list, or all', () => {
  assert.ok(canUseNamespace(user([], ['a']), 'a'));
  assert.not.ok(canUseNamespace(user([], ['a']), 'b'));
  assert.not.ok(canUseNamespace(user([], []), 'a'));
  assert.ok(canUseNamespace(user([], '*'), 'zzz'));
});

test('passwords: salted scrypt, verify, reject wrong and malformed hashes', async () => {
  const a = await hashPassword('correct horse');
  const b = await hashPassword('correct horse');
  assert.ok(a.startsWith('scrypt$15$8$1$'));
  assert.is.not(a, b, 'the same password hashed twice must differ (salt)');
  assert.not.ok(a.includes('correct horse'));
  assert.ok(await verifyPassword('correct horse', a));
  assert.not.ok(await verifyPassword('correct horsf', a));
  assert.not.ok(await verifyPassword('x', 'plain-text'));
  assert.not.ok(await verifyPassword('x', 'scrypt$30$8$1$AAAA$AAAA'), 'a cost beyond the bounds is refused');
  const p = generatePassword(24);
  assert.is(p.length, 24);
  assert.match(p, /^[A-Za-z2-9]+$/);
});

test('throttle: growing delays, lockout after MAX_FAILURES, per user and address, reset on success', () => {
  let now = 1_000_000;
  const t = new LoginThrottle(() => now);
  const delays = Array.from({ length: MAX_FAILURES - 1 }, () => t.fail('bob', '1.1.1.1'));
  assert.ok(delays.every((d, i) => i === 0 || d > delays[i - 1]!), String(delays));
  assert.is(t.lockedFor('bob', '1.1.1.1'), 0);
  t.fail('bob', '1.1.1.1');
  assert.ok(t.lockedFor('bob', '1.1.1.1') > 0);
  assert.is(t.lockedFor('bob', '2.2.2.2'), 0, 'another address is not locked');
  assert.is(t.lockedFor('alice', '1.1.1.1'), 0);
  now += 60 * 60_000;
  assert.is(t.lockedFor('bob', '1.1.1.1'), 0, 'the lockout ends');
  t.fail('carol', '1.1.1.1');
  t.succeed('carol', '1.1.1.1');
  assert.is(t.fail('carol', '1.1.1.1'), 100, 'success forgets earlier failures');
});

test('Basic header parsing', () => {
  const h = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
  assert.equal(parseBasic(h('admin:pa:ss')), { user: 'admin', password: 'pa:ss' });
  assert.is(parseBasic(h(':x')), undefined);
  assert.is(parseBasic('Bearer abc'), undefined);
  assert.is(parseBasic(undefined), undefined);
});

test('routes: match with decoded parameters, 405 hints, build paths', () => {
  const m = matchRoute('GET', '/api/v1/namespaces/ns1/clusters/hippo');
  assert.is(m.route?.id, 'cluster.get');
  assert.equal(m.route && m.params, { namespace: 'ns1', name: 'hippo' });
  const enc = matchRoute('GET', '/api/v1/namespaces/ns1/clusters/a%2Fb');
  assert.is(enc.route && enc.params.name, 'a/b', 'decoded, so validation sees the slash');
  const wrong = matchRoute('PUT', '/api/v1/namespaces/ns1/clusters/hippo');
  assert.is(wrong.route, undefined);
  assert.equal(!wrong.route && wrong.allowed.sort(), ['DELETE', 'GET', 'PATCH']);
  assert.is(buildPath(ROUTE['cluster.scaledown'], { namespace: 'n', name: 'c', replica: 'c-abcd' }), '/api/v1/namespaces/n/clusters/c/replicas/c-abcd');
});

test('OpenAPI document has every route with its permission', () => {
  const doc = openApiDocument() as { paths: Record<string, Record<string, { operationId: string; 'x-permission': string }>> };
  const ops = Object.values(doc.paths).flatMap((p) => Object.values(p));
  assert.is(ops.length, ROUTES.length);
  assert.ok(ops.every((o) => o['x-permission']));
});

test('event filter: namespace and optional cluster', () => {
  const e = { kind: 'transition' as const, time: '', namespace: 'a', cluster: 'c1', state: 'x' };
  assert.ok(matches(e, 'a'));
  assert.ok(matches(e, 'a', 'c1'));
  assert.not.ok(matches(e, 'a', 'c2'));
  assert.not.ok(matches(e, 'b'));
});

test('a slow WebSocket client is closed instead of buffered without bound', () => {
  const sent: string[] = [];
  let closed: number | undefined;
  const ws = { OPEN: 1, readyState: 1, bufferedAmount: 0, send: (d: string) => sent.push(d), close: (code: number) => (closed = code), terminate: () => undefined };
  const event = { kind: 'hello' as const, time: 't' };
  assert.ok(sendBounded(ws as unknown as WebSocket, event, 100));
  ws.bufferedAmount = 101;
  assert.not.ok(sendBounded(ws as unknown as WebSocket, event, 100));
  assert.is(sent.length, 1);
  assert.is(closed, SLOW_CLIENT_CLOSE);
});

test('machine states for the visualizer', () => {
  const states = machineStates({ states: { a: { meta: { description: 'A' } }, b: { states: { c: {} } } } });
  assert.equal(states, [{ path: 'a', description: 'A' }, { path: 'b', description: undefined }, { path: 'b.c', description: undefined }]);
});

test.run();
