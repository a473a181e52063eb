import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { PgClusterResource, PgReplicaResource, PgUpgradeResource } from '../../src/crd/types.ts';
import { CustomResources } from '../../src/k8s/custom.ts';
import { clusterDir, deleteNamespace, type LocalCluster } from '../harness/cluster.ts';
import { freePort } from '../harness/net.ts';
import { startOperator, type OperatorProcess } from '../harness/operator.ts';
import { pgo, pgoEnv } from '../harness/pgo.ts';
import { waitFor } from '../harness/wait.ts';

// Minor upgrades through the real pgo against the running operator, on the local cluster: the second tag of
// the postgres image (localhost/pg-operator/postgres:15-next, built by hack/images/build.sh).
interface Ctx {
  kc: KubeConfig;
  core: CoreV1Api;
  ns: string;
  op: OperatorProcess;
  dir: string;
  env: NodeJS.ProcessEnv;
  port: number;
}
const test = suite<Ctx>('minor upgrade through pgo');
const kubeconfigPath = join(clusterDir, 'admin.kubeconfig');
const OLD = 'localhost/pg-operator/postgres:15';
const NEXT = 'localhost/pg-operator/postgres:15-next';
const name = 'up';
const operatorEnv = { PGO_UPGRADE_INSTANCE_MS: '120000' };

const clusters = (ctx: Ctx) => new CustomResources<PgClusterResource>(ctx.kc, 'pgclusters');
const upgrades = (ctx: Ctx) => new CustomResources<PgUpgradeResource>(ctx.kc, 'pgupgrades');
/** The image of each instance's running database container, by instance. */
async function podImages(ctx: Ctx): Promise<Record<string, string>> {
  const pods = await ctx.core.listNamespacedPod({ namespace: ctx.ns, labelSelector: `pg-operator.dev/cluster=${name},pg-operator.dev/component=database` });
  return Object.fromEntries(pods.items.filter((p) => !p.metadata?.deletionTimestamp).map((p) => [p.metadata!.labels!['pg-operator.dev/instance']!, p.spec!.containers.find((c) => c.name === 'database')!.image!]));
}
const allReady = (ctx: Ctx, image: string) =>
  waitFor(`${name}: 3 instances Ready on ${image}`, async () => {
    const c = await clusters(ctx).get(ctx.ns, name);
    const images = Object.values(await podImages(ctx));
    return c.status?.phase === 'Ready' && c.status.readyInstances === 3 && images.length === 3 && images.every((i) => i === image) ? c : undefined;
  }, 300_000, 2000);
async function onPrimary(ctx: Ctx, sql: string): Promise<string | undefined> {
  const pods = await ctx.core.listNamespacedPod({ namespace: ctx.ns, labelSelector: `pg-operator.dev/cluster=${name},pg-operator.dev/role=primary` });
  const secret = await ctx.core.readNamespacedSecret({ namespace: ctx.ns, name: `${name}-postgres-secret` });
  const c = new pg.Client({ host: pods.items[0]!.status!.podIP!, user: 'postgres', password: Buffer.from(secret.data!.password!, 'base64').toString(), database: 'userdb', connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    return (await c.query<{ v: string }>(sql)).rows[0]?.v;
  } finally {
    await c.end();
  }
}
const switchovers = (c: PgClusterResource) => (c.status?.failoverHistory ?? []).filter((f) => f.kind === 'switchover').length;

test.before(async (ctx) => {
  if (!existsSync(kubeconfigPath)) throw new Error(`the local cluster is not up (${kubeconfigPath} missing)`);
  ctx.kc = new KubeConfig();
  ctx.kc.loadFromFile(kubeconfigPath);
  ctx.core = ctx.kc.makeApiClient(CoreV1Api);
  ctx.ns = `upg-${randomBytes(3).toString('hex')}`;
  await promisify(execFile)('npx', ['--no-install', 'tsx', 'hack/install-crds.ts'], { env: { ...process.env, KUBECONFIG: kubeconfigPath } });
  await ctx.core.createNamespace({ body: { metadata: { name: ctx.ns } } });
  ctx.port = await freePort();
  process.env.PGO_API_PORT = String(ctx.port);
  ctx.op = startOperator(kubeconfigPath, '/tmp/pg-operator-upgrade-e2e.log', operatorEnv);
  ctx.dir = mkdtempSync(join(tmpdir(), 'pgo-upgrade-'));
  ctx.env = await waitFor('the operator Secrets', () => pgoEnv(ctx.core, ctx.dir, ctx.port, ctx.ns).catch(() => undefined), 60_000, 500);
  await waitFor('the API', async () => ((await pgo(ctx.env, 'version')).code === 0 ? true : undefined), 60_000, 500);
});

test.after(async (ctx) => {
  if (ctx.core && ctx.ns) await deleteNamespace({ core: ctx.core } as LocalCluster, ctx.ns).catch((err: unknown) => console.error(String(err)));
  await ctx.op?.stop();
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

test('a cluster of 3 instances with data', async (ctx) => {
  const r = await pgo(ctx.env, 'create', 'cluster', name, '--replica-count', '2');
  assert.is(r.code, 0, r.stderr);
  await allReady(ctx, OLD);
  await onPrimary(ctx, 'create table kept as select generate_series(1, 1000) as id');
});

test('a tag that does not exist: refused before any instance changes', async (ctx) => {
  const before = await clusters(ctx).get(ctx.ns, name);
  const r = await pgo(ctx.env, 'upgrade', name, '--ccp-image-tag', 'no-such-tag', '--no-prompt');
  assert.is.not(r.code, 0);
  assert.match(r.stderr, /image "localhost\/pg-operator\/postgres:no-such-tag" \(spec\.image\) cannot be pulled/);
  assert.match(r.stderr, /nothing was changed/);
  const after = await allReady(ctx, OLD);
  assert.is(after.status?.currentPrimary, before.status?.currentPrimary);
  assert.is(after.spec.image, OLD);
  const again = await pgo(ctx.env, 'upgrade', name, '--ccp-image', OLD, '--no-prompt');
  assert.is(again.code, 1, again.stderr);
  assert.match(again.stderr, /runs localhost\/pg-operator\/postgres:15 already/);
});

test('an image that does not start: its replica is put back, the upgrade stops, the primary never moved', async (ctx) => {
  const before = await clusters(ctx).get(ctx.ns, name);
  // Patroni's image has a PostgreSQL server (so the image check passes) but not our entrypoint: the instance crashes.
  const r = await pgo(ctx.env, 'upgrade', name, '--ccp-image', 'localhost/pg-operator/patroni:dev', '--no-prompt');
  assert.is.not(r.code, 0, r.stdout);
  assert.match(r.stderr, /did not come back on localhost\/pg-operator\/patroni:dev .*put back on its old image/);
  const after = await allReady(ctx, OLD);
  assert.is(after.status?.currentPrimary, before.status?.currentPrimary);
  assert.is(switchovers(after), switchovers(before));
  const pins = (await new CustomResources<PgReplicaResource>(ctx.kc, 'pgreplicas').list(ctx.ns)).map((p) => p.spec.image);
  assert.equal(pins, [undefined, undefined], 'no pin is left behind');
});

test('upgrade to the next tag: replicas one at a time, one switchover, then the old primary; nothing lost', async (ctx) => {
  const before = await clusters(ctx).get(ctx.ns, name);
  const r = await pgo(ctx.env, 'upgrade', name, '--ccp-image-tag', '15-next', '--no-prompt');
  assert.is(r.code, 0, `${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /created pgupgrade up-upgrade-\w+: up to localhost\/pg-operator\/postgres:15-next/);
  assert.match(r.stdout, /Succeeded - up runs localhost\/pg-operator\/postgres:15-next on every instance \(3 moved, 1 switchover\)/);
  const after = await allReady(ctx, NEXT);
  assert.is(after.spec.image, NEXT);
  assert.is(switchovers(after), switchovers(before) + 1);
  assert.is.not(after.status?.currentPrimary, before.status?.currentPrimary);
  const u = (await upgrades(ctx).list(ctx.ns)).find((x) => x.spec.image === NEXT)!;
  assert.equal(u.status?.steps?.map((s) => s.step), ['checked', 'replica', 'replica', 'switchover', 'replica', 'finished']);
  assert.is(u.status?.steps?.[4]?.instance, before.status?.currentPrimary, 'the old primary last');
  assert.is(u.status?.fromImage, OLD);
  assert.is(await onPrimary(ctx, 'select count(*)::text as v from kept'), '1000');
  const pins = (await new CustomResources<PgReplicaResource>(ctx.kc, 'pgreplicas').list(ctx.ns)).map((p) => p.spec.image);
  assert.equal(pins, [undefined, undefined]);
});

test('the operator killed in the middle of an upgrade: the next one finishes it', async (ctx) => {
  const r = await pgo(ctx.env, 'upgrade', name, '--ccp-image-tag', '15', '--no-prompt', '--no-wait');
  assert.is(r.code, 0, r.stderr);
  const task = /created pgupgrade (\S+):/.exec(r.stdout)![1]!;
  await waitFor('the first replica moved', async () => ((await upgrades(ctx).get(ctx.ns, task)).status?.steps?.some((s) => s.step === 'replica') ? true : undefined), 300_000, 500);
  await ctx.op.stop('SIGKILL');
  ctx.op = startOperator(kubeconfigPath, '/tmp/pg-operator-upgrade-e2e.log', operatorEnv);
  const done = await waitFor('the upgrade ended', async () => {
    const u = await upgrades(ctx).get(ctx.ns, task);
    return u.status?.phase === 'Succeeded' || u.status?.phase === 'Failed' ? u : undefined;
  }, 600_000, 2000);
  assert.is(done.status?.phase, 'Succeeded', done.status?.message);
  await allReady(ctx, OLD);
  assert.is((done.status?.steps ?? []).filter((s) => s.step === 'switchover').length, 1, JSON.stringify(done.status?.steps));
  assert.is(await onPrimary(ctx, 'select count(*)::text as v from kept'), '1000');
});

test.run();
