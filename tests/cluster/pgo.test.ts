import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ADMIN_CREDENTIALS_SECRET } from '../../src/api/bootstrap.ts';
import { TLS_SECRET } from '../../src/api/tls.ts';
import { clusterDir, deleteNamespace, type LocalCluster } from '../harness/cluster.ts';
import { freePort } from '../harness/net.ts';
import { startOperator, type OperatorProcess } from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';

// End to end through the real pgo process: the operator (with its API) runs against the local cluster,
// real PostgreSQL pods answer pgo test / df, and pgo watch sees the actors' transitions.
interface Ctx {
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
