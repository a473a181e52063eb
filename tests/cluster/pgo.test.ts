import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ADMIN_CREDENTIALS_SECRET } from '../../src/api/bootstrap.ts';
import { TLS_SECRET } from '../../src/api/tls.ts';
import { API_VERSION } from '../../src/crd/resources.ts';
import type { PgClusterResource, PgTaskResource } from '../../src/crd/types.ts';
import { CustomResources } from '../../src/k8s/custom.ts';
import { clusterDir, deleteNamespace, type LocalCluster } from '../harness/cluster.ts';
import { loginAs } from '../harness/login.ts';
import { freePort } from '../harness/net.ts';
import { startOperator, type OperatorProcess } from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';
import { fileWriterPod } from '../fixtures/pods.ts';

// End to end through the real pgo process: the operator (with its API) runs against the local cluster,
// real PostgreSQL pods answer pgo test / df, and pgo watch sees the actors' transitions.
interface Ctx {
  kc: KubeConfig;
  core: CoreV1Api;
  ns: string;
  op: OperatorProcess;
  dir: string;
  env: NodeJS.ProcessEnv;
  watch: ChildProcess;
  watched: string;
  replicas: string[];
}
const test = suite<Ctx>('pgo against the running operator');
const pgoBin = fileURLToPath(new URL('../../cli/pgo', import.meta.url));
const kubeconfigPath = join(clusterDir, 'admin.kubeconfig');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
function pgo(env: NodeJS.ProcessEnv, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(pgoBin, args, { env, timeout: 300_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

type Instance = { name: string; role: string; ready: boolean };
type Shown = { name: string; phase?: string; currentPrimary?: string; readyInstances?: number; instances: Instance[]; replicas: string[]; labels: Record<string, string> };
async function show(env: NodeJS.ProcessEnv, name: string): Promise<Shown | undefined> {
  const r = await pgo(env, 'show', 'cluster', name, '-o', 'json');
  return r.code === 0 ? (JSON.parse(r.stdout) as { clusters: Shown[] }).clusters[0] : undefined;
}
const ready = (env: NodeJS.ProcessEnv, name: string, n: number, timeoutMs = 300_000) =>
  waitFor(`${name} Ready with ${n} instances`, async () => {
    const c = await show(env, name);
    return c?.phase === 'Ready' && c.readyInstances === n && c.instances.length === n ? c : undefined;
  }, timeoutMs, 2000);

test.before(async (ctx) => {
  // The shared local cluster must already be up; this test does not bring it up or down.
  if (!existsSync(kubeconfigPath)) throw new Error(`the local cluster is not up (${kubeconfigPath} missing)`);
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  ctx.kc = kc;
  ctx.core = kc.makeApiClient(CoreV1Api);
  ctx.ns = `pgo-${randomBytes(3).toString('hex')}`;
  await promisify(execFile)('npx', ['--no-install', 'tsx', 'hack/install-crds.ts'], { env: { ...process.env, KUBECONFIG: kubeconfigPath } });
  await ctx.core.createNamespace({ body: { metadata: { name: ctx.ns } } });
  const port = await freePort();
  process.env.PGO_API_PORT = String(port);
  ctx.op = startOperator(kubeconfigPath, '/tmp/pg-operator-pgo-e2e.log');
  const secret = (name: string, key: string) => ctx.core.readNamespacedSecret({ namespace: 'pgo', name }).then((s) => Buffer.from(s.data![key]!, 'base64').toString());
  ctx.dir = mkdtempSync(join(tmpdir(), 'pgo-e2e-'));
  writeFileSync(join(ctx.dir, 'ca.crt'), await secret(TLS_SECRET, 'tls.crt'));
  writeFileSync(join(ctx.dir, 'pgouser'), `admin:${await secret(ADMIN_CREDENTIALS_SECRET, 'password')}`, { mode: 0o600 });
  ctx.env = { PATH: process.env.PATH, HOME: ctx.dir, PGO_APISERVER_URL: `https://127.0.0.1:${port}`, PGO_CA_CERT: join(ctx.dir, 'ca.crt'), PGOUSER: join(ctx.dir, 'pgouser'), PGO_NAMESPACE: ctx.ns };
  await waitFor('the API', async () => (await pgo(ctx.env, 'version')).code === 0, 60_000, 500);
  ctx.watched = '';
  ctx.watch = spawn(pgoBin, ['watch', 'hippo'], { env: ctx.env });
  ctx.watch.stdout!.on('data', (c: Buffer) => (ctx.watched += c.toString()));
});

test.after(async (ctx) => {
  ctx.watch?.kill('SIGINT');
  if (ctx.core && ctx.ns) await deleteNamespace({ core: ctx.core } as LocalCluster, ctx.ns).catch((err: unknown) => console.error(String(err)));
  await ctx.op?.stop();
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

test('create cluster with 2 replicas, show it', async (ctx) => {
  const r = await pgo(ctx.env, 'create', 'cluster', 'hippo', '--replica-count', '2');
  assert.is(r.code, 0, r.stderr);
  const c = await ready(ctx.env, 'hippo', 3);
  assert.is(c.currentPrimary, 'hippo');
  const text = await pgo(ctx.env, 'show', 'cluster', 'hippo');
  assert.match(text.stdout, /cluster : hippo/);
  assert.is(text.stdout.match(/instance : /g)?.length, 3, text.stdout);
  assert.match(text.stdout, /service : hippo - ClusterIP/);
});

test('test and df reach every instance over SQL', async (ctx) => {
  const t = await pgo(ctx.env, 'test', 'hippo');
  assert.is(t.code, 0, `${t.stdout}${t.stderr}`);
  assert.is(t.stdout.match(/: UP/g)?.length, 5, t.stdout); // 2 Services + 3 instances
  const df = JSON.parse((await pgo(ctx.env, 'df', 'hippo', '-o', 'json')).stdout) as { instances: { up: boolean; databaseBytes?: number; capacityBytes?: number }[] }[];
  assert.is(df[0]!.instances.length, 3);
  for (const i of df[0]!.instances) {
    assert.ok(i.up && i.databaseBytes! > 1_000_000, JSON.stringify(i));
    assert.ok(i.capacityBytes! >= 2 ** 30, JSON.stringify(i));
  }
  assert.match((await pgo(ctx.env, 'df', 'hippo')).stdout, /PGSIZE/);
});

type UserRow = { username: string; status: string; error?: string; secret?: string; password?: string; expires?: string };
const userJson = (r: Run) => (JSON.parse(r.stdout) as { users: UserRow[] }[])[0]!.users;
const primaryIP = async (ctx: Ctx, cluster = 'hippo') => {
  const pods = await ctx.core.listNamespacedPod({ namespace: ctx.ns, labelSelector: `pg-operator.dev/cluster=${cluster},pg-operator.dev/role=primary` });
  return { ip: pods.items[0]!.status!.podIP!, pod: pods.items[0]!.metadata!.name! };
};
/** Logs in as `user` with `password` over TCP to the primary (as an application would): current_user, or why not. */
const login = async (ctx: Ctx, user: string, password: string) => loginAs((await primaryIP(ctx)).ip, 5432, user, password, 'userdb');
const secretPassword = async (ctx: Ctx, name: string) => {
  const sec = await ctx.core.readNamespacedSecret({ namespace: ctx.ns, name });
  return Buffer.from(sec.data!.password!, 'base64').toString();
};

test('users: create (managed, md5), show with expiry, rotate, disable login, rotate the expiring, delete; nothing secret in tasks or logs', async (ctx) => {
  const seen: string[] = [];
  const created = await pgo(ctx.env, 'create', 'user', 'hippo', '--username', 'alice', '--managed', '--valid-days', '10', '-o', 'json');
  assert.is(created.code, 0, `${created.stdout}${created.stderr}`);
  assert.equal(userJson(created).map((u) => [u.username, u.status, u.secret]), [['alice', 'ok', 'hippo-alice-secret']]);
  const p1 = await secretPassword(ctx, 'hippo-alice-secret');
  seen.push(p1);
  assert.is(p1.length, 24);
  assert.is(await login(ctx, 'alice', p1), 'alice');

  const text = await pgo(ctx.env, 'create', 'user', 'hippo', '--username', 'dave', '--password', 'Dave-Md5-Pw-9', '--password-type', 'md5');
  assert.is(text.code, 0, text.stderr);
  assert.match(text.stdout, /CLUSTER\s+USERNAME\s+PASSWORD\s+EXPIRES\s+STATUS\s+ERROR\n\s*hippo\s+dave\s+never\s+ok/);
  seen.push('Dave-Md5-Pw-9');
  assert.is(await login(ctx, 'dave', 'Dave-Md5-Pw-9'), 'dave', 'an md5 password logs in');

  const twice = await pgo(ctx.env, 'create', 'user', 'hippo', '--username', 'alice', '--managed');
  assert.is(twice.code, 1);
  assert.match(twice.stdout, /role alice already exists; change it with pgo update user/);
  const system = await pgo(ctx.env, 'create', 'user', 'hippo', '--username', 'postgres', '--managed');
  assert.is.not(system.code, 0);
  assert.match(system.stderr, /system account the operator relies on/);

  const shown = await pgo(ctx.env, 'show', 'user', 'hippo', '-o', 'json');
  const rows = (JSON.parse(shown.stdout) as { users: { username: string; expires: string; secret?: string; password?: string }[] }[])[0]!.users;
  assert.equal(rows.map((r) => r.username).sort(), ['alice', 'dave', 'testuser']);
  assert.ok(rows.every((r) => r.password === undefined), 'no password without --show-secrets');
  assert.ok(Math.abs(Date.parse(rows.find((r) => r.username === 'alice')!.expires) - (Date.now() + 10 * 86_400_000)) < 600_000);
  assert.equal(userJson(await pgo(ctx.env, 'show', 'user', 'hippo', '--expired', '30', '-o', 'json')).map((u) => u.username), ['alice']);
  assert.match((await pgo(ctx.env, 'show', 'user', 'hippo', '--show-system-accounts')).stdout, /postgres/);

  const rotated = await pgo(ctx.env, 'update', 'user', 'hippo', '--username', 'alice', '--rotate-password');
  assert.is(rotated.code, 0, `${rotated.stdout}${rotated.stderr}`);
  const p2 = await secretPassword(ctx, 'hippo-alice-secret');
  seen.push(p2);
  assert.is.not(p2, p1);
  assert.is(await login(ctx, 'alice', p2), 'alice');
  assert.match(await login(ctx, 'alice', p1), /refused: password authentication failed/);

  assert.is((await pgo(ctx.env, 'update', 'user', 'hippo', '--username', 'alice', '--disable-login')).code, 0);
  assert.match(await login(ctx, 'alice', p2), /refused: role "alice" is not permitted to log in/);
  assert.is((await pgo(ctx.env, 'update', 'user', 'hippo', '--username', 'alice', '--enable-login')).code, 0);

  // v4.0's form: every user whose password expires within 30 days gets a new one (alice only; dave never expires).
  const expiring = await pgo(ctx.env, 'user', 'hippo', '--update-passwords', '--expired', '30', '-o', 'json');
  assert.is(expiring.code, 0, `${expiring.stdout}${expiring.stderr}`);
  assert.equal(userJson(expiring).map((u) => [u.username, u.status]), [['alice', 'ok']]);
  const p3 = await secretPassword(ctx, 'hippo-alice-secret');
  seen.push(p3);
  assert.is.not(p3, p2);
  assert.is(await login(ctx, 'alice', p3), 'alice');

  // Declarative: a pgtask written with kubectl creates a managed user with a generated password.
  const tasks = new CustomResources<PgTaskResource>(ctx.kc, 'pgtasks');
  await tasks.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGTask', metadata: { name: 'hippo-carol', namespace: ctx.ns }, spec: { type: 'user-update', clusterName: 'hippo', user: { action: 'create', username: 'carol', managed: true } } });
  const done = await waitFor('the carol task', async () => {
    const t = await tasks.get(ctx.ns, 'hippo-carol');
    return t.status?.phase === 'Succeeded' || t.status?.phase === 'Failed' ? t : undefined;
  }, 60_000, 500);
  assert.is(done.status?.phase, 'Succeeded', done.status?.message);
  const pc = await secretPassword(ctx, 'hippo-carol-secret');
  seen.push(pc);
  assert.is(await login(ctx, 'carol', pc), 'carol');
  assert.ok((await pgo(ctx.env, 'show', 'user', 'hippo', '--show-secrets')).stdout.includes(pc), 'the admin sees a managed password when asking');

  const del = await pgo(ctx.env, 'delete', 'user', 'hippo', '--username', 'alice', '--no-prompt');
  assert.is(del.code, 0, `${del.stdout}${del.stderr}`);
  assert.not.ok(userJson(await pgo(ctx.env, 'show', 'user', 'hippo', '-o', 'json')).some((u) => u.username === 'alice'));
  assert.is(await ctx.core.readNamespacedSecret({ namespace: ctx.ns, name: 'hippo-alice-secret' }).then(() => 'kept', () => 'gone'), 'gone');

  // No password in any task, no password Secret left, and none in the primary's log.
  const all = JSON.stringify(await tasks.list(ctx.ns));
  const secrets = await ctx.core.listNamespacedSecret({ namespace: ctx.ns });
  assert.equal(secrets.items.map((x) => x.metadata!.name!).filter((n) => n.endsWith('-password')), []);
  const { pod } = await primaryIP(ctx);
  const log = await ctx.core.readNamespacedPodLog({ namespace: ctx.ns, name: pod, container: 'database' });
  const operatorLog = readFileSync('/tmp/pg-operator-pgo-e2e.log', 'utf8');
  for (const p of seen) {
    assert.not.ok(operatorLog.includes(p), 'a password is in the operator log');
    assert.not.ok(all.includes(p), 'a password is in a pgtask');
    assert.not.ok(String(log).includes(p), 'a password is in the primary log');
  }
});

test('scale adds a replica; scaledown --query lists and --target removes it', async (ctx) => {
  const s = await pgo(ctx.env, 'scale', 'hippo', '--replica-count', '1');
  assert.is(s.code, 0, s.stderr);
  const added = /created Pgreplica (hippo-\w{4})/.exec(s.stdout)![1]!;
  await ready(ctx.env, 'hippo', 4);
  const q = await pgo(ctx.env, 'scaledown', 'hippo', '--query');
  assert.match(q.stdout, new RegExp(`${added}\\s+running`));
  assert.is(q.stdout.match(/hippo-\w{4}\s+running/g)?.length, 3, q.stdout);
  const d = await pgo(ctx.env, 'scaledown', 'hippo', '--target', added, '--no-prompt');
  assert.is(d.code, 0, d.stderr);
  const c = await ready(ctx.env, 'hippo', 3);
  assert.not.ok(c.instances.some((i) => i.name === added));
  ctx.replicas = c.instances.filter((i) => i.role === 'replica').map((i) => i.name);
});

test('failover --query lists the replicas; --target promotes one and pgo follows the task', async (ctx) => {
  const q = await pgo(ctx.env, 'failover', 'hippo', '--query');
  assert.is(q.code, 0, q.stderr);
  for (const r of ctx.replicas) assert.match(q.stdout, new RegExp(r));
  const target = ctx.replicas[0]!;
  const f = await pgo(ctx.env, 'failover', 'hippo', '--target', target, '--no-prompt', '--timeout', '240');
  assert.is(f.code, 0, `${f.stdout}\n${f.stderr}`);
  assert.match(f.stdout, /created Pgtask \(failover\)/);
  assert.match(f.stdout, /: Succeeded/);
  const c = await waitFor('the new primary in status', async () => {
    const x = await show(ctx.env, 'hippo');
    return x?.currentPrimary === target ? x : undefined;
  }, 120_000, 2000);
  assert.is(c.currentPrimary, target);
});

test('label and update', async (ctx) => {
  assert.is((await pgo(ctx.env, 'label', 'hippo', '--label', 'env=e2e')).code, 0);
  const l = JSON.parse((await pgo(ctx.env, 'show', 'cluster', '-s', 'env=e2e', '-o', 'json')).stdout) as { clusters: Shown[] };
  assert.equal(l.clusters.map((c) => c.name), ['hippo']);
  const u = await pgo(ctx.env, 'update', 'cluster', 'hippo', '--parameter', 'work_mem=16MB');
  assert.is(u.code, 0, u.stderr);
});

test('update cluster: autofail off and on, service type, requests and limits (pods rolled), shutdown keeps the data and fails nothing over, startup', async (ctx) => {
  const clusters = new CustomResources<PgClusterResource>(ctx.kc, 'pgclusters');
  const spec = async () => (await clusters.get(ctx.ns, 'hippo')).spec;
  const update = async (...flags: string[]) => {
    const r = await pgo(ctx.env, 'update', 'cluster', 'hippo', ...flags);
    assert.is(r.code, 0, `${flags.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /updated pgcluster hippo/);
  };
  await update('--disable-autofail');
  assert.is((await spec()).disableAutofail, true);
  await update('--enable-autofail');
  assert.is((await spec()).disableAutofail, false);

  await update('--service-type', 'NodePort');
  await waitFor('Service hippo of type NodePort', async () => ((await ctx.core.readNamespacedService({ namespace: ctx.ns, name: 'hippo' })).spec?.type === 'NodePort' ? true : undefined), 60_000, 1000);

  const before = await show(ctx.env, 'hippo');
  const history = (await clusters.get(ctx.ns, 'hippo')).status?.failoverHistory?.length ?? 0;
  await update('--cpu', '50m', '--memory', '96Mi', '--cpu-limit', '1', '--memory-limit', '512Mi');
  await waitFor('every instance rolled with the new resources', async () => {
    const pods = await ctx.core.listNamespacedPod({ namespace: ctx.ns, labelSelector: 'pg-operator.dev/cluster=hippo,pg-operator.dev/role' });
    const db = pods.items.map((p) => p.spec?.containers.find((c) => c.name === 'database')?.resources);
    return db.length === 3 && db.every((r) => r?.requests?.cpu === '50m' && r.requests.memory === '96Mi' && r.limits?.cpu === '1' && r.limits.memory === '512Mi') ? true : undefined;
  }, 300_000, 2000);
  const rolled = await ready(ctx.env, 'hippo', 3);
  assert.is(rolled.currentPrimary, before!.currentPrimary, 'the primary stays the primary through the roll');

  await onPrimary(ctx, 'create table kept_through_shutdown as select 42 as v', 'hippo', 'userdb');
  await update('--shutdown');
  await waitFor('no pod of hippo runs', async () => ((await ctx.core.listNamespacedPod({ namespace: ctx.ns, labelSelector: 'pg-operator.dev/cluster=hippo,pg-operator.dev/role' })).items.length === 0 ? true : undefined), 180_000, 1000);
  await update('--startup');
  const up = await ready(ctx.env, 'hippo', 3);
  assert.is(up.currentPrimary, before!.currentPrimary, 'no failover through shutdown and startup');
  assert.is((await clusters.get(ctx.ns, 'hippo')).status?.failoverHistory?.length ?? 0, history, 'nothing in the failover history');
  assert.is(await onPrimary(ctx, 'select v::text as v from kept_through_shutdown', 'hippo', 'userdb'), '42');
  await update('--service-type', 'ClusterIP');
});

/** A query on the primary as the superuser. */
const onPrimary = async (ctx: Ctx, sql: string, cluster = 'hippo', database = 'postgres') => {
  const c = new pg.Client({ host: (await primaryIP(ctx, cluster)).ip, port: 5432, user: 'postgres', password: await secretPassword(ctx, `${cluster}-postgres-secret`), database, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    return (await c.query<{ v: string }>(sql)).rows[0]?.v;
  } finally {
    await c.end();
  }
};

test('a reloadable parameter takes effect without a restart; reload, status, show workflow, delete label', async (ctx) => {
  const started = await onPrimary(ctx, 'select pg_postmaster_start_time()::text as v');
  await waitFor('work_mem 16MB on the primary', async () => ((await onPrimary(ctx, "select current_setting('work_mem') as v")) === '16MB' ? true : undefined), 120_000, 1000);
  assert.is(await onPrimary(ctx, 'select pg_postmaster_start_time()::text as v'), started, 'the primary restarted');
  const r = await pgo(ctx.env, 'reload', 'hippo', '--no-prompt');
  assert.is(r.code, 0, `${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /reload performed on hippo \(hippo(-\w{4})?, hippo(-\w{4})?, hippo(-\w{4})?\)/);
  const st = await pgo(ctx.env, 'status');
  assert.is(st.code, 0, st.stderr);
  assert.match(st.stdout, new RegExp(`Namespace: ${ctx.ns}\nDatabases: 1\nClaims: \\d+`));
  // Every database Ready once the old primary of the failover test is back as a replica.
  await waitFor('no database not Ready', async () => (/Databases Not Ready:\nLabels/.test((await pgo(ctx.env, 'status')).stdout) ? true : undefined), 180_000, 2000);
  const wf = await pgo(ctx.env, 'show', 'workflow', 'hippo-carol');
  assert.match(wf.stdout, /task hippo-carol \(user-update of hippo\): Succeeded - create user carol: done/);
  const d = await pgo(ctx.env, 'delete', 'label', 'hippo', '--label', 'env');
  assert.is(d.code, 0, d.stderr);
  const l = JSON.parse((await pgo(ctx.env, 'show', 'cluster', '-s', 'env=e2e', '-o', 'json')).stdout) as { clusters: Shown[] };
  assert.equal(l.clusters, []);
});

type ApplyRow = { cluster: string; status: string; task?: string; message?: string; sqlstate?: string };
const applyRows = (r: Run) => (JSON.parse(r.stdout) as { results: ApplyRow[] }).results.sort((a, b) => a.cluster.localeCompare(b.cluster));
const hasTable = async (ctx: Ctx, cluster: string, table: string) => (await onPrimary(ctx, `select (to_regclass('public.${table}') is not null)::text as v`, cluster, 'userdb')) === 'true';

test('policies: spec.policies run once on a new cluster; apply -s runs on two, one fails with its SQLSTATE and rolls back, an applied one is skipped', async (ctx) => {
  writeFileSync(join(ctx.dir, 'p2.sql'), 'create table from_spec (id int);\n');
  assert.is((await pgo(ctx.env, 'create', 'policy', 'p2', '--in-file', join(ctx.dir, 'p2.sql'))).code, 0);
  const z = await pgo(ctx.env, 'create', 'cluster', 'zebra', '--replica-count', '0', '--policies', 'p2');
  assert.is(z.code, 0, z.stderr);
  await ready(ctx.env, 'zebra', 1);
  const labelled = await waitFor('p2 recorded on zebra', async () => {
    const c = await show(ctx.env, 'zebra');
    return c?.labels.p2 === 'pgpolicy' ? c : undefined;
  }, 120_000, 1000);
  assert.ok(labelled);
  assert.ok(await hasTable(ctx, 'zebra', 'from_spec'), 'spec.policies ran on the new cluster');
  const wf = await pgo(ctx.env, 'show', 'workflow', 'zebra-policy-p2');
  assert.match(wf.stdout, /task zebra-policy-p2 \(apply-policy of zebra\): Succeeded - policy p2 on zebra: applied/);

  // p1 needs a table only hippo has: it applies there and fails on zebra, which keeps nothing of it.
  await onPrimary(ctx, 'create table needs_this as select 7 as id', 'hippo', 'userdb');
  writeFileSync(join(ctx.dir, 'p1.sql'), 'create table audit_log (id int);\ninsert into audit_log select id from needs_this;\n');
  assert.is((await pgo(ctx.env, 'create', 'policy', 'p1', '--in-file', join(ctx.dir, 'p1.sql'))).code, 0);
  assert.is((await pgo(ctx.env, 'label', 'hippo', 'zebra', '--label', 'tier=pol')).code, 0);
  const dry = await pgo(ctx.env, 'apply', 'p1', '-s', 'tier=pol', '--dry-run', '-o', 'json');
  assert.equal(applyRows(dry).map((r) => [r.cluster, r.status]), [['hippo', 'would apply'], ['zebra', 'would apply']]);
  const run = await pgo(ctx.env, 'apply', 'p1', '-s', 'tier=pol', '-o', 'json');
  assert.is(run.code, 1, 'a failed cluster makes pgo apply exit non-zero');
  const [hippo, zebra] = applyRows(run);
  assert.is(hippo!.status, 'applied', JSON.stringify(hippo));
  assert.is(zebra!.status, 'failed', JSON.stringify(zebra));
  assert.is(zebra!.sqlstate, '42P01');
  assert.match(zebra!.message!, /SQLSTATE 42P01: relation "needs_this" does not exist/);
  assert.is(await onPrimary(ctx, 'select string_agg(id::text, \',\') as v from audit_log', 'hippo', 'userdb'), '7');
  assert.not.ok(await hasTable(ctx, 'zebra', 'audit_log'), 'the failed policy left nothing behind');
  const shown = await show(ctx.env, 'hippo');
  assert.is(shown!.labels.p1, 'pgpolicy');
  assert.is((await show(ctx.env, 'zebra'))!.labels.p1, undefined, 'a failed policy is not recorded');
  const policy = JSON.parse((await pgo(ctx.env, 'show', 'policy', 'p1', '-o', 'json')).stdout) as { policies: { appliedTo?: string[] }[] };
  assert.equal(policy.policies[0]!.appliedTo, ['hippo']);
  const again = await pgo(ctx.env, 'apply', 'p1', '-s', 'tier=pol', '-o', 'json');
  assert.equal(applyRows(again).map((r) => [r.cluster, r.status]), [['hippo', 'skipped'], ['zebra', 'failed']]);
  assert.is(await onPrimary(ctx, 'select count(*)::text as v from audit_log', 'hippo', 'userdb'), '1', 'not run twice');
  const d = await pgo(ctx.env, 'delete', 'cluster', 'zebra', '--no-prompt');
  assert.is(d.code, 0, d.stderr);
});

type LoadRow = { cluster: string; task: string; status: string; rows?: number; line?: number; message?: string };
/** pgo load's row for hippo; a load pgo reported still running is followed to its end in its pgtask. */
async function loadHippo(ctx: Ctx, ...args: string[]): Promise<{ run: Run; row: LoadRow }> {
  const run = await pgo(ctx.env, 'load', ...args, '-o', 'json');
  const row = (JSON.parse(run.stdout || '{"results":[]}') as { results: LoadRow[] }).results.find((r) => r.cluster === 'hippo');
  assert.ok(row, `pgo load answered for hippo: ${run.stdout} ${run.stderr}`);
  if (row.status !== 'running') return { run, row };
  const tasks = new CustomResources<PgTaskResource>(ctx.kc, 'pgtasks');
  const t = await waitFor(`pgtask ${row.task} ended`, async () => {
    const task = await tasks.get(ctx.ns, row.task);
    return task.status?.phase === 'Succeeded' || task.status?.phase === 'Failed' ? task : undefined;
  }, 300_000, 1000);
  return { run, row: { ...row, ...t.status?.load, status: t.status?.phase === 'Succeeded' ? 'loaded' : 'failed', message: t.status?.message } };
}

test('load: v4 load.yaml with --policies creating the table loads a CSV by selector; a bad row names its line and loads nothing; JSON Lines by key', async (ctx) => {
  const rows = Array.from({ length: 1000 }, (_, i) => `${i + 1},"name, ${i + 1}"`).join('\n') + '\n';
  const bad = '2001,a\n2002,b\nnot-a-number,c\n2004,d\n';
  const json = '{"id": 3001, "name": "j1", "extra": true}\n{"name": "j2", "id": 3002}\n';
  await ctx.core.createNamespacedPersistentVolumeClaim({ namespace: ctx.ns, body: { metadata: { name: 'loadfiles' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } } });
  await ctx.core.createNamespacedPod({ namespace: ctx.ns, body: fileWriterPod('load-writer', 'loadfiles', { 'rows.csv': rows, 'bad.csv': bad, 'rows.json': json }) });
  await waitFor('the files written', async () => ((await ctx.core.readNamespacedPod({ namespace: ctx.ns, name: 'load-writer' })).status?.phase === 'Succeeded' ? true : undefined), 120_000, 1000);
  writeFileSync(join(ctx.dir, 'loadtable.sql'), 'create table loaded (id int primary key, name text not null);\n');
  assert.is((await pgo(ctx.env, 'create', 'policy', 'loadtable', '--in-file', join(ctx.dir, 'loadtable.sql'))).code, 0);
  const config = (file: string, type: string) => {
    const path = join(ctx.dir, `load-${file}.yaml`);
    writeFileSync(path, `PGOImagePrefix: crunchydata\nDbDatabase: userdb\nTableToLoad: loaded\nFilePath: /${file}\nFileType: ${type}\nPVCName: loadfiles\n`);
    return path;
  };

  const csv = await loadHippo(ctx, '--load-config', config('rows.csv', 'CSV'), '-s', 'tier=pol', '--policies', 'loadtable');
  assert.is(csv.row.status, 'loaded', JSON.stringify(csv.row));
  assert.is(csv.row.rows, 1000);
  assert.is(await onPrimary(ctx, "select count(*) || ' ' || max(name) as v from loaded where name like 'name, %'", 'hippo', 'userdb'), '1000 name, 999');
  assert.is((await show(ctx.env, 'hippo'))!.labels.loadtable, 'pgpolicy', 'the policy of the load is recorded');

  const refused = await loadHippo(ctx, 'hippo', '--load-config', config('bad.csv', 'csv'));
  assert.is(refused.run.code, 1, 'a failed load makes pgo load exit non-zero');
  assert.is(refused.row.status, 'failed', JSON.stringify(refused.row));
  assert.is(refused.row.line, 3, JSON.stringify(refused.row));
  assert.match(refused.row.message!, /invalid input syntax for type integer: "not-a-number"/);
  assert.is(await onPrimary(ctx, 'select count(*)::text as v from loaded where id > 2000', 'hippo', 'userdb'), '0', 'nothing of the bad file was loaded');

  const lines = await loadHippo(ctx, 'hippo', '--load-config', config('rows.json', 'json'));
  assert.is(lines.row.status, 'loaded', JSON.stringify(lines.row));
  assert.is(lines.row.rows, 2);
  assert.is(await onPrimary(ctx, "select string_agg(id || '=' || name, ',' order by id) as v from loaded where id > 3000", 'hippo', 'userdb'), '3001=j1,3002=j2');

  const missing = await loadHippo(ctx, 'hippo', '--load-config', config('absent.csv', 'csv'));
  assert.is(missing.row.status, 'failed');
  assert.match(missing.row.message!, /there is no file absent\.csv in PersistentVolumeClaim loadfiles/);
  const wf = await pgo(ctx.env, 'show', 'workflow', csv.row.task);
  assert.match(wf.stdout, /Succeeded - loaded 1000 rows from rows\.csv \(loadfiles\) into loaded/);
});

// After the tests whose actor transitions pgo watch must see: the kill ends the watch's stream.
test('a password rotation interrupted by an operator kill: the next operator finishes it, and the Secret and the database agree', async (ctx) => {
  const tasks = new CustomResources<PgTaskResource>(ctx.kc, 'pgtasks');
  const before = await secretPassword(ctx, 'hippo-carol-secret');
  // An open transaction that changed the role holds its row: the operator's ALTER ROLE waits behind it.
  const lock = new pg.Client({ host: (await primaryIP(ctx)).ip, user: 'postgres', password: await secretPassword(ctx, 'hippo-postgres-secret'), database: 'postgres' });
  await lock.connect();
  await lock.query('begin');
  await lock.query('alter role carol connection limit 7');
  try {
    await tasks.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGTask', metadata: { name: 'hippo-carol-rotate', namespace: ctx.ns }, spec: { type: 'user-update', clusterName: 'hippo', user: { action: 'update', username: 'carol', passwordLength: 30 } } });
    await waitFor('the change applying', async () => ((await tasks.get(ctx.ns, 'hippo-carol-rotate')).status?.user?.step === 'applying' ? true : undefined), 60_000, 100);
    await new Promise((r) => setTimeout(r, 500));
    await ctx.op.stop('SIGKILL');
  } finally {
    await lock.query('rollback');
    await lock.end();
  }
  assert.is.not((await tasks.get(ctx.ns, 'hippo-carol-rotate')).status?.phase, 'Succeeded', 'the kill came before the change ended');
  ctx.op = startOperator(kubeconfigPath, '/tmp/pg-operator-pgo-e2e.log');
  const done = await waitFor('the rotation finished by the next operator', async () => {
    const t = await tasks.get(ctx.ns, 'hippo-carol-rotate');
    return t.status?.phase === 'Succeeded' || t.status?.phase === 'Failed' ? t : undefined;
  }, 180_000, 500);
  assert.is(done.status?.phase, 'Succeeded', done.status?.message);
  const after = await secretPassword(ctx, 'hippo-carol-secret');
  assert.is(after.length, 30);
  assert.is.not(after, before);
  assert.is(await login(ctx, 'carol', after), 'carol');
  assert.match(await login(ctx, 'carol', before), /refused: password authentication failed/);
  await waitFor('the API back', async () => ((await pgo(ctx.env, 'version')).code === 0 ? true : undefined), 60_000, 500);
});

test('delete cluster --keep-data, then create it again: it starts on the kept primary data with its passwords', async (ctx) => {
  await onPrimary(ctx, "create table survives as select 'kept'::text as v", 'hippo', 'userdb');
  const before = await show(ctx.env, 'hippo');
  const primary = before!.currentPrimary!;
  const d = await pgo(ctx.env, 'delete', 'cluster', 'hippo', '--keep-data', '--no-prompt');
  assert.is(d.code, 0, d.stderr);
  assert.match(d.stdout, /deleted pgcluster hippo \(data kept\)/);
  await waitFor('hippo gone', async () => ((await pgo(ctx.env, 'show', 'cluster', 'hippo')).code !== 0 ? true : undefined), 180_000, 2000);
  const claim = await ctx.core.readNamespacedPersistentVolumeClaim({ namespace: ctx.ns, name: primary });
  assert.is(claim.metadata?.annotations?.['pg-operator.dev/kept-primary'], primary, 'the primary claim is marked');
  assert.ok(await ctx.core.readNamespacedSecret({ namespace: ctx.ns, name: 'hippo-postgres-secret' }), 'the superuser Secret is kept');
  const c = await pgo(ctx.env, 'create', 'cluster', 'hippo', '--replica-count', '1');
  assert.is(c.code, 0, c.stderr);
  assert.match(c.stdout, new RegExp(`starting on the data kept in volume claim ${primary} \\(the primary when hippo was deleted with --keep-data\\)`));
  await ready(ctx.env, 'hippo', 2);
  assert.is(await onPrimary(ctx, 'select v from survives', 'hippo', 'userdb'), 'kept', 'the last primary data is back');
  const pods = await ctx.core.listNamespacedPod({ namespace: ctx.ns, labelSelector: 'pg-operator.dev/cluster=hippo,pg-operator.dev/instance=hippo' });
  assert.is(pods.items[0]?.spec?.volumes?.find((v) => v.name === 'pgdata')?.persistentVolumeClaim?.claimName, primary);
});

test('delete cluster', async (ctx) => {
  const d = await pgo(ctx.env, 'delete', 'cluster', 'hippo', '--no-prompt');
  assert.is(d.code, 0, d.stderr);
  await waitFor('hippo gone', async () => (await pgo(ctx.env, 'show', 'cluster', 'hippo')).code !== 0, 180_000, 2000);
});

test('pgo watch saw the actor transitions of hippo', (ctx) => {
  assert.match(ctx.watched, new RegExp(`transition ${ctx.ns}/hippo -> monitoring\\.ready`), ctx.watched.slice(0, 2000));
  assert.match(ctx.watched, new RegExp(`transition ${ctx.ns}/hippo -> applying`));
  assert.match(ctx.watched, /task .*hippo-failover-\w+ failover/);
});

test.run();
