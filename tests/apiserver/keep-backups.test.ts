import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AppsV1Api, CoreV1Api, type KubeConfig, type V1OwnerReference } from '@kubernetes/client-node';
import { finalizeCluster, keptRepositoryObjects, type KeptKind } from '../../src/actors/finalize.ts';
import { Supervisor } from '../../src/actors/supervisor.ts';
import { ApiError } from '../../src/api/errors.ts';
import { createClusterUsing } from '../../src/api/handlers/clusters.ts';
import { Deps } from '../../src/api/handlers/deps.ts';
import type { Principal } from '../../src/api/permissions.ts';
import { clusterCreateBody } from '../../src/api/schemas.ts';
import { parseInfo, type StanzaInfo } from '../../src/backrest/info.ts';
import { CLEANUP_FINALIZER, KEEP_BACKUPS_ANNOTATION, LABEL, clusterNames } from '../../src/cluster/names.ts';
import { API_VERSION } from '../../src/crd/resources.ts';
import type { PgClusterResource } from '../../src/crd/types.ts';
import { CustomResources, httpStatus } from '../../src/k8s/custom.ts';
import { EventRecorder } from '../../src/k8s/events.ts';
import { startApi, type ApiHarness } from '../harness/api.ts';
import { waitFor } from '../harness/wait.ts';

// `pgo delete cluster --keep-backups` and `pgo create cluster --restore-from` against the API and the operator
// (its Supervisor) on a real kube-apiserver. No kubelets and no garbage collector run here: no repository host
// pod ever answers, and objects stay whether owned or not, so what is checked is what the API and the finalizer
// write (the annotation, owner references removed from exactly the repository objects, the Event) and what the
// API refuses. The accepted --restore-from path runs the handler in-process with pgBackRest's answer given.
interface Ctx {
  h: ApiHarness;
  sup: Supervisor;
  logs: string[];
  dir: string;
  env: NodeJS.ProcessEnv;
  clusters: CustomResources<PgClusterResource>;
}
const test = suite<Ctx>('pgo delete cluster --keep-backups, pgo create cluster --restore-from');
const pgoBin = fileURLToPath(new URL('../../cli/pgo', import.meta.url));
const NS = 'team-k';
const HOLD = 'tests.pg-operator.dev/hold';

/** What --keep-backups keeps of cluster `c`, written out (not taken from the code under test). */
const kept = (c: string): { kind: KeptKind; name: string }[] => [
  { kind: 'Deployment', name: `${c}-backrest-shared-repo` },
  { kind: 'Service', name: `${c}-backrest-shared-repo` },
  { kind: 'PersistentVolumeClaim', name: `${c}-pgbr-repo` },
  { kind: 'ConfigMap', name: `${c}-pgbackrest-config` },
  { kind: 'Secret', name: `${c}-pgbackrest-ca` },
  { kind: 'Secret', name: `${c}-pgbackrest-certs` },
];

/** Two sets in repo1 (pgBackRest 2.45): full 20261202-030043F (finished 03:00:46 UTC) and an incr on it (03:00:52 UTC). */
const INFO = '[{"archive":[{"database":{"id":1,"repo-key":1},"id":"15-1","max":"000000010000000000000006","min":"000000010000000000000001"}],"backup":[{"archive":{"start":"000000010000000000000004","stop":"000000010000000000000004"},"backrest":{"format":5,"version":"2.45"},"database":{"id":1,"repo-key":1},"error":false,"info":{"delta":22992541,"repository":{"delta":3043453,"size":3043453},"size":22992541},"label":"20261202-030043F","lsn":{"start":"0/4000028","stop":"0/4000100"},"prior":null,"reference":null,"timestamp":{"start":1796180443,"stop":1796180446},"type":"full"},{"archive":{"start":"000000010000000000000006","stop":"000000010000000000000006"},"backrest":{"format":5,"version":"2.45"},"database":{"id":1,"repo-key":1},"error":false,"info":{"delta":8192,"repository":{"delta":410,"size":3043453},"size":22992541},"label":"20261202-030043F_20261202-030050I","lsn":{"start":"0/6000028","stop":"0/6000100"},"prior":"20261202-030043F","reference":["20261202-030043F"],"timestamp":{"start":1796180450,"stop":1796180452},"type":"incr"}],"cipher":"none","db":[{"id":1,"repo-key":1,"system-id":7714534893086886605,"version":"15"}],"name":"db","repo":[{"cipher":"none","key":1,"status":{"code":0,"message":"ok"}}],"status":{"code":0,"lock":{"backup":{"held":false}},"message":"ok"}}]';

function pgo(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(pgoBin, args, { env, timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

type Meta = { metadata?: { name?: string; ownerReferences?: V1OwnerReference[]; labels?: Record<string, string> } };

/** Reads an object of one of the kept kinds, or undefined when it does not exist. */
async function read(kc: KubeConfig, kind: KeptKind, name: string, namespace = NS): Promise<Meta | undefined> {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const get: Record<KeptKind, () => Promise<Meta>> = {
    Deployment: () => apps.readNamespacedDeployment({ namespace, name }),
    Service: () => core.readNamespacedService({ namespace, name }),
    PersistentVolumeClaim: () => core.readNamespacedPersistentVolumeClaim({ namespace, name }),
    ConfigMap: () => core.readNamespacedConfigMap({ namespace, name }),
    Secret: () => core.readNamespacedSecret({ namespace, name }),
  };
  try {
    return await get[kind]();
  } catch (err) {
    if (httpStatus(err) === 404) return undefined;
    throw err;
  }
}

const gone = async (ctx: Ctx, name: string) => {
  try {
    await ctx.clusters.get(NS, name);
    return false;
  } catch (err) {
    return httpStatus(err) === 404;
  }
};
const clusterNamesIn = async (ctx: Ctx) => (await ctx.clusters.list(NS)).map((c) => c.metadata.name).sort();

/** A pod that reports Ready (no kubelet runs, so it runs nowhere): exec into it fails. */
async function readyPod(kc: KubeConfig, name: string, labels: Record<string, string>): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespacedPod({ namespace: NS, body: { metadata: { name, labels }, spec: { containers: [{ name: 'pgbackrest', image: 'none' }] } } });
  const pod = await core.readNamespacedPod({ namespace: NS, name });
  await core.replaceNamespacedPodStatus({ namespace: NS, name, body: { ...pod, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } } });
}

test.before(async (ctx) => {
  ctx.h = await startApi([NS]);
  ctx.logs = [];
  ctx.sup = new Supervisor(ctx.h.cp.kubeconfig, (l) => ctx.logs.push(l));
  await ctx.sup.start();
  ctx.dir = mkdtempSync(join(tmpdir(), 'pgo-keep-backups-'));
  writeFileSync(join(ctx.dir, 'ca.crt'), ctx.h.api.tls.cert);
  writeFileSync(join(ctx.dir, 'pgouser'), `admin:${ctx.h.adminPassword}\n`, { mode: 0o600 });
  ctx.env = { PATH: process.env.PATH, HOME: ctx.dir, PGO_APISERVER_URL: ctx.h.api.url, PGO_CA_CERT: join(ctx.dir, 'ca.crt'), PGOUSER: join(ctx.dir, 'pgouser'), PGO_NAMESPACE: NS };
  ctx.clusters = new CustomResources<PgClusterResource>(ctx.h.cp.kubeconfig, 'pgclusters');
});
test.after(async (ctx) => {
  ctx.sup?.stop();
  await ctx.h?.stop();
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

test('finalizeCluster, called directly: with the annotation only the repository objects lose their owner; again, nothing changes', async ({ h }) => {
  const kc = h.cp.kubeconfig;
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  // Not stored (the Supervisor would reconcile it): the finalizer reads its metadata, and its mutate meets a 404.
  const name = 'direct';
  const uid = '00000000-0000-4000-8000-000000000001';
  const owner: V1OwnerReference = { apiVersion: API_VERSION, kind: 'PGCluster', name, uid, controller: true, blockOwnerDeletion: true };
  const metadata = (n: string) => ({ name: n, namespace: NS, labels: { [LABEL.cluster]: name }, ownerReferences: [owner] });
  const n = clusterNames(name);
  const deployment = (d: string) => ({ metadata: metadata(d), spec: { selector: { matchLabels: { x: d } }, template: { metadata: { labels: { x: d } }, spec: { containers: [{ name: 'c', image: 'none' }] } } } });
  await apps.createNamespacedDeployment({ namespace: NS, body: deployment(n.repoHost) });
  await apps.createNamespacedDeployment({ namespace: NS, body: deployment(name) });
  await core.createNamespacedService({ namespace: NS, body: { metadata: metadata(n.repoHost), spec: { ports: [{ port: 8432 }] } } });
  await core.createNamespacedService({ namespace: NS, body: { metadata: metadata(n.primaryService), spec: { ports: [{ port: 5432 }] } } });
  const claim = (c: string) => ({ metadata: metadata(c), spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } });
  await core.createNamespacedPersistentVolumeClaim({ namespace: NS, body: claim(n.repoVolume) });
  await core.createNamespacedPersistentVolumeClaim({ namespace: NS, body: claim(name) });
  await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: metadata(n.backrestConfig), data: {} } });
  await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: metadata(n.configMap), data: {} } });
  // The certificates Secret is missing (a half-created cluster): skipped, not an error.
  await core.createNamespacedSecret({ namespace: NS, body: { metadata: metadata(n.backrestCa), data: {} } });
  await core.createNamespacedSecret({ namespace: NS, body: { metadata: metadata(n.superuserSecret), data: {} } });

  const events = new EventRecorder(kc, () => {});
  const cluster = { apiVersion: API_VERSION, kind: 'PGCluster', metadata: { name, namespace: NS, uid, finalizers: [CLEANUP_FINALIZER], annotations: {} }, spec: {} } as unknown as PgClusterResource;
  const owned = async () => {
    const out: string[] = [];
    for (const { kind, name: x } of [...kept(name), { kind: 'Deployment' as const, name }, { kind: 'Service' as const, name }, { kind: 'PersistentVolumeClaim' as const, name }, { kind: 'ConfigMap' as const, name: n.configMap }, { kind: 'Secret' as const, name: n.superuserSecret }]) {
      const o = await read(kc, kind, x);
      if (o?.metadata?.ownerReferences?.length) out.push(`${kind} ${x}`);
    }
    return out.sort();
  };
  const others = ['ConfigMap direct-pgconf', 'Deployment direct', 'PersistentVolumeClaim direct', 'Secret direct-postgres-secret', 'Service direct'];

  assert.equal(keptRepositoryObjects(name), kept(name));
  await finalizeCluster(kc, new CustomResources(kc, 'pgclusters'), events, cluster);
  assert.equal(await owned(), [...others, 'ConfigMap direct-pgbackrest-config', 'Deployment direct-backrest-shared-repo', 'PersistentVolumeClaim direct-pgbr-repo', 'Secret direct-pgbackrest-ca', 'Service direct-backrest-shared-repo'].sort(), 'without the annotation nothing is released');

  cluster.metadata.annotations = { [KEEP_BACKUPS_ANNOTATION]: 'true' };
  await finalizeCluster(kc, new CustomResources(kc, 'pgclusters'), events, cluster);
  assert.equal(await owned(), others, 'exactly the repository objects are released');
  for (const { kind, name: x } of kept(name)) {
    if (x === n.backrestCerts) assert.is(await read(kc, kind, x), undefined);
    else assert.ok(await read(kc, kind, x), `${kind} ${x} is kept`);
  }
  await finalizeCluster(kc, new CustomResources(kc, 'pgclusters'), events, cluster);
  assert.equal(await owned(), others, 'a second run changes nothing');
  const event = await waitFor('the BackupsKept Event', async () =>
    (await core.listNamespacedEvent({ namespace: NS })).items.find((e) => e.involvedObject.name === name && e.reason === 'BackupsKept'),
  );
  assert.match(event.message ?? '', /kept the pgBackRest repository \(Deployment direct-backrest-shared-repo, Service direct-backrest-shared-repo, PersistentVolumeClaim direct-pgbr-repo, ConfigMap direct-pgbackrest-config, Secret direct-pgbackrest-ca\)/);
  assert.match(event.message ?? '', /--restore-from direct/);
});

test('--restore-from a cluster with no repository host is refused with the reason, and nothing is created', async (ctx) => {
  const ghost = await pgo(ctx.env, 'create', 'cluster', 'clone1', '--restore-from', 'ghost');
  assert.is(ghost.code, 1, `${ghost.stdout} ${ghost.stderr}`);
  assert.match(ghost.stderr, /^Error: cluster ghost has no repository host to restore from \(no pgcluster ghost in namespace team-k, and no repository host kept by pgo delete cluster ghost --keep-backups\); nothing was created/);

  // A live source: the operator made its repository host Deployment, but no pod runs (no kubelets here).
  const made = await pgo(ctx.env, 'create', 'cluster', 'hippo');
  assert.is(made.code, 0, made.stderr);
  const apps = ctx.h.cp.kubeconfig.makeApiClient(AppsV1Api);
  await waitFor('the repository host Deployment of hippo', () => read(ctx.h.cp.kubeconfig, 'Deployment', 'hippo-backrest-shared-repo'));
  const live = await pgo(ctx.env, 'create', 'cluster', 'clone1', '--restore-from', 'hippo', '--pitr-target', '2026-12-02 03:00:50+00');
  assert.is(live.code, 1, live.stderr);
  assert.match(live.stderr, /cluster hippo has no repository host to restore from \(its repository host Deployment hippo-backrest-shared-repo has no Ready pod: try again once kubectl -n team-k get pods -l pg-operator\.dev\/cluster=hippo,pg-operator\.dev\/component=repo-host shows one\); nothing was created/);
  assert.ok((await apps.readNamespacedDeployment({ namespace: NS, name: 'hippo-backrest-shared-repo' })).metadata?.ownerReferences?.length);

  const disabled = await pgo(ctx.env, 'create', 'cluster', 'nobackups');
  assert.is(disabled.code, 0, disabled.stderr);
  await ctx.clusters.mutate(NS, 'nobackups', (c) => (c.spec.backrest = { ...c.spec.backrest, enabled: false } as typeof c.spec.backrest));
  const off = await pgo(ctx.env, 'create', 'cluster', 'clone1', '--restore-from', 'nobackups');
  assert.match(off.stderr, /cluster nobackups has no repository host to restore from \(it has backups disabled/);
  assert.equal(await clusterNamesIn(ctx), ['hippo', 'nobackups']);
});

test('bad restore options are refused with the option named before the source is looked at; nothing is created', async (ctx) => {
  const cases: [string[], RegExp][] = [
    [['--restore-from', 'hippo', '--restore-opts', '--pg1-path=/x'], /^Error: --restore-opts: option --pg1-path is not allowed in restore options/],
    [['--restore-from', 'hippo', '--restore-opts', '--repo=2'], /^Error: --restore-opts: option --repo is not allowed with --restore-from: the restore reads repo1, the repository host of hippo; drop --repo=2/],
    [['--restore-from', 'hippo', '--restore-opts', '--delta'], /option --delta is not allowed/],
    [['--restore-from', 'hippo', '--restore-opts', '--type=sometime'], /--type must be one of default, immediate, time, lsn, xid, name, got "sometime"/],
    [['--restore-from', 'hippo', '--pitr-target', '2026-12-01 10:00:00+00', '--restore-opts', '--type=immediate'], /--pitr-target goes with --type=time, lsn, xid or name, not --type=immediate/],
    [['--restore-opts', '--type=immediate'], /^Error: --restore-opts and --pitr-target go with --restore-from CLUSTER/],
    [['--pitr-target', '2026-12-01 10:00:00+00'], /--restore-opts and --pitr-target go with --restore-from CLUSTER/],
  ];
  for (const [args, message] of cases) {
    const r = await pgo(ctx.env, 'create', 'cluster', 'clone2', ...args);
    assert.is(r.code, 1, `${args.join(' ')}: ${r.code} ${r.stdout} ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.not.match(r.stdout, /created cluster/);
  }
  const exists = await pgo(ctx.env, 'create', 'cluster', 'hippo', '--restore-from', 'nobackups');
  assert.match(exists.stderr, /cluster team-k\/hippo already exists/, 'a taken name is refused before the source is asked');
  assert.equal(await clusterNamesIn(ctx), ['hippo', 'nobackups']);
});

test('a repository host that cannot be asked is a 503 with the reason; with its answer the restore is planned into spec.dataSource', async (ctx) => {
  const kc = ctx.h.cp.kubeconfig;
  await readyPod(kc, 'hippo-backrest-shared-repo-0', { [LABEL.cluster]: 'hippo', [LABEL.component]: 'repo-host' });
  const unreachable = await pgo(ctx.env, 'create', 'cluster', 'clone3', '--restore-from', 'hippo');
  assert.is(unreachable.code, 1, unreachable.stderr);
  assert.match(unreachable.stderr, /cannot check the restore against the backups of cluster hippo \(pgbackrest info in hippo-backrest-shared-repo-0\): .+; nothing was created/);
  assert.equal(await clusterNamesIn(ctx), ['hippo', 'nobackups']);

  // In-process, with pgBackRest's answer given: the plan's checks refuse, or the cluster is created with the plan.
  const [stanza] = parseInfo(INFO) as [StanzaInfo];
  const create = createClusterUsing((_deps, namespace, pod) => {
    assert.is(`${namespace}/${pod}`, `${NS}/hippo-backrest-shared-repo-0`);
    return Promise.resolve(stanza);
  });
  const deps = new Deps(kc, ctx.h.store, () => {});
  const user: Principal = { name: 'admin', permissions: new Set(['*']), namespaces: '*' };
  const call = (body: Record<string, unknown>) => create(deps, { user, params: { namespace: NS }, query: {}, body: clusterCreateBody.parse(body) });

  const early = await call({ name: 'clone3', restoreFrom: 'hippo', pitrTarget: '2026-12-02 03:00:00+00' }).catch((e: unknown) => e);
  assert.instance(early, ApiError);
  assert.is((early as ApiError).status, 400);
  assert.match((early as ApiError).message, /^cannot restore from cluster hippo: the target 2026-12-02 03:00:00\+00 is before the oldest backup in repo1/);
  const noSet = await call({ name: 'clone3', restoreFrom: 'hippo', restoreOpts: '--set=20261201-000000F' }).catch((e: unknown) => e);
  assert.match((noSet as ApiError).message, /backup set 20261201-000000F is not in repo1/);
  assert.equal(await clusterNamesIn(ctx), ['hippo', 'nobackups']);

  const made = await call({ name: 'clone3', restoreFrom: 'hippo', restoreOpts: "--type=time --target='2026-12-02 03:00:50+00' --target-exclusive" });
  assert.is(made.status, 201);
  assert.is((made.body as { message: string }).message,
    'restoring from cluster hippo: restores full backup 20261202-030043F (finished 2026-12-02 03:00:46 UTC) from repo1, then replays WAL to just before 2026-12-02 03:00:50+00 and promotes; writes committed after that are not kept');
  const stored = await ctx.clusters.get(NS, 'clone3');
  assert.equal(stored.spec.dataSource, { clusterName: 'hippo', type: 'time', target: '2026-12-02 03:00:50+00', targetExclusive: true });
  await ctx.clusters.delete(NS, 'clone3');
});

test('pgo delete cluster --keep-backups: annotated, the repository objects lose their owner and stay; a new cluster of that name is refused until restored from or removed', async (ctx) => {
  const kc = ctx.h.cp.kubeconfig;
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const made = await pgo(ctx.env, 'create', 'cluster', 'keeper');
  assert.is(made.code, 0, made.stderr);
  const n = clusterNames('keeper');
  await waitFor('the repository objects of keeper', async () => {
    for (const { kind, name } of kept('keeper')) if (!(await read(kc, kind, name))?.metadata?.ownerReferences?.length) return false;
    return (await read(kc, 'Service', n.primaryService)) !== undefined;
  });
  // A second finalizer keeps the deleted pgcluster readable after the operator released its own.
  await waitFor('the cleanup finalizer', async () => (await ctx.clusters.get(NS, 'keeper')).metadata.finalizers?.includes(CLEANUP_FINALIZER));
  await ctx.clusters.mutate(NS, 'keeper', (c) => (c.metadata.finalizers = [...(c.metadata.finalizers ?? []), HOLD]));
  const uid = (await ctx.clusters.get(NS, 'keeper')).metadata.uid;

  const del = await pgo(ctx.env, 'delete', 'cluster', 'keeper', '--keep-backups', '--no-prompt');
  assert.is(del.code, 0, del.stderr);
  assert.is(del.stdout.trim(), 'deleted pgcluster keeper (backups kept: restore them with pgo create cluster NAME --restore-from keeper)');
  const deleted = await waitFor('the operator released its finalizer', async () => {
    const c = await ctx.clusters.get(NS, 'keeper');
    return c.metadata.deletionTimestamp && !c.metadata.finalizers?.includes(CLEANUP_FINALIZER) ? c : undefined;
  });
  assert.is(deleted.metadata.annotations?.[KEEP_BACKUPS_ANNOTATION], 'true');
  for (const { kind, name } of kept('keeper')) {
    const o = await read(kc, kind, name);
    assert.ok(o, `${kind} ${name} exists`);
    assert.equal(o.metadata?.ownerReferences ?? [], [], `${kind} ${name} has no owner`);
  }
  // Everything else is still owned by the deleted cluster: the garbage collector (absent here) takes it.
  assert.equal((await read(kc, 'Service', n.primaryService))?.metadata?.ownerReferences?.map((o) => o.uid), [uid]);
  assert.equal((await read(kc, 'Secret', n.superuserSecret))?.metadata?.ownerReferences?.map((o) => o.uid), [uid]);
  const instances = (await apps.listNamespacedDeployment({ namespace: NS, labelSelector: `${LABEL.cluster}=keeper,${LABEL.instance}` })).items;
  assert.ok(instances.length >= 1 && instances.every((d) => d.metadata?.ownerReferences?.[0]?.uid === uid), 'the instances stay owned');
  const host = (await read(kc, 'Deployment', n.repoHost)) as { spec?: { template?: { metadata?: { labels?: Record<string, string> } } } };
  assert.is(host.spec?.template?.metadata?.labels?.[LABEL.cluster], 'keeper');
  assert.is(host.spec?.template?.metadata?.labels?.[LABEL.component], 'repo-host');
  const event = await waitFor('the BackupsKept Event', async () => (await core.listNamespacedEvent({ namespace: NS })).items.find((e) => e.involvedObject.name === 'keeper' && e.reason === 'BackupsKept'));
  assert.match(event.message ?? '', /Deployment keeper-backrest-shared-repo, Service keeper-backrest-shared-repo, PersistentVolumeClaim keeper-pgbr-repo, ConfigMap keeper-pgbackrest-config, Secret keeper-pgbackrest-ca, Secret keeper-pgbackrest-certs/);

  await ctx.clusters.mutate(NS, 'keeper', (c) => (c.metadata.finalizers = (c.metadata.finalizers ?? []).filter((f) => f !== HOLD)));
  await waitFor('keeper gone', () => gone(ctx, 'keeper'));
  for (const { kind, name } of kept('keeper')) assert.ok(await read(kc, kind, name), `${kind} ${name} outlives the pgcluster`);

  const again = await pgo(ctx.env, 'create', 'cluster', 'keeper');
  assert.is(again.code, 1, again.stdout);
  assert.match(again.stderr, /^Error: cluster keeper was deleted with --keep-backups and its pgBackRest repository is still here \(Deployment keeper-backrest-shared-repo and its volume\)/);
  assert.match(again.stderr, /Restore from it with pgo create cluster keeper --restore-from keeper/);
  assert.match(again.stderr, /kubectl -n team-k delete deploy,svc,pvc,cm,secret -l pg-operator\.dev\/cluster=keeper/);
  const viaOther = await pgo(ctx.env, 'create', 'cluster', 'keeper', '--restore-from', 'hippo');
  assert.match(viaOther.stderr, /cluster keeper was deleted with --keep-backups/, 'restoring from another cluster would still meet the old stanza');
  // Restoring from itself passes that check and meets the next: the kept host has no pod here.
  const fromItself = await pgo(ctx.env, 'create', 'cluster', 'keeper', '--restore-from', 'keeper');
  assert.match(fromItself.stderr, /cluster keeper has no repository host to restore from \(its repository host Deployment keeper-backrest-shared-repo \(kept by pgo delete cluster --keep-backups\) has no Ready pod/);
  assert.ok(await gone(ctx, 'keeper'), 'nothing was created');

  // The fix the message gives (kubectl delete ... -l), then the name is free.
  await apps.deleteNamespacedDeployment({ namespace: NS, name: n.repoHost });
  const fresh = await pgo(ctx.env, 'create', 'cluster', 'keeper');
  assert.is(fresh.code, 0, fresh.stderr);
});

test('pgo delete cluster without --keep-backups leaves the repository owned', async (ctx) => {
  const kc = ctx.h.cp.kubeconfig;
  const made = await pgo(ctx.env, 'create', 'cluster', 'plain');
  assert.is(made.code, 0, made.stderr);
  await waitFor('the cleanup finalizer', async () => (await ctx.clusters.get(NS, 'plain')).metadata.finalizers?.includes(CLEANUP_FINALIZER));
  await waitFor('the repository host of plain', () => read(kc, 'Deployment', 'plain-backrest-shared-repo'));
  const del = await pgo(ctx.env, 'delete', 'cluster', 'plain', '--no-prompt');
  assert.is(del.stdout.trim(), 'deleted pgcluster plain');
  await waitFor('plain gone', () => gone(ctx, 'plain'));
  assert.ok((await read(kc, 'Deployment', 'plain-backrest-shared-repo'))?.metadata?.ownerReferences?.length, 'the repository host stays owned: the garbage collector takes it');
  assert.is((await pgo(ctx.env, 'create', 'cluster', 'plain')).code, 0, 'an owned leftover does not block the name');
});

test.run();
