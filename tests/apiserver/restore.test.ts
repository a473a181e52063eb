import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CoreV1Api } from '@kubernetes/client-node';
import { ApiError } from '../../src/api/errors.ts';
import { Deps } from '../../src/api/handlers/deps.ts';
import { restoreHandlersUsing } from '../../src/api/handlers/restores.ts';
import type { Principal } from '../../src/api/permissions.ts';
import { restoreBody } from '../../src/api/schemas.ts';
import { parseInfo, type StanzaInfo } from '../../src/backrest/info.ts';
import { LABEL } from '../../src/cluster/names.ts';
import type { PgClusterResource, PgTaskResource } from '../../src/crd/types.ts';
import { CustomResources } from '../../src/k8s/custom.ts';
import { startApi, type ApiHarness } from '../harness/api.ts';

// `pgo restore` and `pgo show restore` against the API on a real kube-apiserver. No kubelets run here, so no
// repository host answers: requests are refused before pgBackRest is asked (options, backups disabled, a
// restore in progress) or when it cannot be asked; the accepted path runs the handlers in-process with
// pgBackRest's answer given (a real `info --output=json` of 2.45).
interface Ctx {
  h: ApiHarness;
  dir: string;
  env: NodeJS.ProcessEnv;
  clusters: CustomResources<PgClusterResource>;
  tasks: CustomResources<PgTaskResource>;
}
const test = suite<Ctx>('pgo restore: checked against the repository, recorded as a restore pgtask');
const pgoBin = fileURLToPath(new URL('../../cli/pgo', import.meta.url));
const NS = 'team-r';

/** Two sets in repo1: full 20261202-030043F (finished 03:00:46 UTC) and an incr on it (finished 03:00:52 UTC). */
const INFO = '[{"archive":[{"database":{"id":1,"repo-key":1},"id":"15-1","max":"000000010000000000000006","min":"000000010000000000000001"}],"backup":[{"archive":{"start":"000000010000000000000004","stop":"000000010000000000000004"},"backrest":{"format":5,"version":"2.45"},"database":{"id":1,"repo-key":1},"error":false,"info":{"delta":22992541,"repository":{"delta":3043453,"size":3043453},"size":22992541},"label":"20261202-030043F","lsn":{"start":"0/4000028","stop":"0/4000100"},"prior":null,"reference":null,"timestamp":{"start":1796180443,"stop":1796180446},"type":"full"},{"archive":{"start":"000000010000000000000006","stop":"000000010000000000000006"},"backrest":{"format":5,"version":"2.45"},"database":{"id":1,"repo-key":1},"error":false,"info":{"delta":8192,"repository":{"delta":410,"size":3043453},"size":22992541},"label":"20261202-030043F_20261202-030050I","lsn":{"start":"0/6000028","stop":"0/6000100"},"prior":"20261202-030043F","reference":["20261202-030043F"],"timestamp":{"start":1796180450,"stop":1796180452},"type":"incr"}],"cipher":"none","db":[{"id":1,"repo-key":1,"system-id":7714534893086886605,"version":"15"}],"name":"db","repo":[{"cipher":"none","key":1,"status":{"code":0,"message":"ok"}}],"status":{"code":0,"lock":{"backup":{"held":false}},"message":"ok"}}]';

function pgo(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(pgoBin, args, { env, timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

const restoresOf = async (ctx: Ctx, cluster: string) => (await ctx.tasks.list(NS)).filter((t) => t.spec.type === 'restore' && t.spec.clusterName === cluster);
const cluster = (name: string, spec: Record<string, unknown> = {}) => ({ apiVersion: 'pg-operator.dev/v1', kind: 'PGCluster', metadata: { name, namespace: NS }, spec }) as unknown as PgClusterResource;

test.before(async (ctx) => {
  ctx.h = await startApi([NS]);
  ctx.dir = mkdtempSync(join(tmpdir(), 'pgo-restore-'));
  writeFileSync(join(ctx.dir, 'ca.crt'), ctx.h.api.tls.cert);
  writeFileSync(join(ctx.dir, 'pgouser'), `admin:${ctx.h.adminPassword}\n`, { mode: 0o600 });
  ctx.env = { PATH: process.env.PATH, HOME: ctx.dir, PGO_APISERVER_URL: ctx.h.api.url, PGO_CA_CERT: join(ctx.dir, 'ca.crt'), PGOUSER: join(ctx.dir, 'pgouser'), PGO_NAMESPACE: NS };
  ctx.clusters = new CustomResources<PgClusterResource>(ctx.h.cp.kubeconfig, 'pgclusters');
  ctx.tasks = new CustomResources<PgTaskResource>(ctx.h.cp.kubeconfig, 'pgtasks');
  await ctx.clusters.createIfAbsent(cluster('hippo'));
  await ctx.clusters.createIfAbsent(cluster('nobackups', { backrest: { enabled: false } }));
  await ctx.clusters.createIfAbsent(cluster('zebra'));
  await ctx.clusters.createIfAbsent(cluster('rhino'));
});
test.after(async (ctx) => {
  await ctx.h?.stop();
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

test('option errors are refused by the API with the option named, exit non-zero, and nothing is created', async (ctx) => {
  const cases: [string[], RegExp][] = [
    [['--backup-opts', '--pg1-path=/x'], /option --pg1-path is not allowed in restore options/],
    [['--pitr-target', '2026-12-01 10:00:00+00', '--backup-opts', '--target=2026-12-01'], /--pitr-target "2026-12-01 10:00:00\+00" and --target "2026-12-01" in the options both give a target/],
    [['--backup-opts', '--delta'], /option --delta is not allowed/],
    [['--node-affinity-type', 'required'], /--node-affinity-type goes with --node-label/],
  ];
  for (const [args, message] of cases) {
    for (const prompt of [['--no-prompt'], []]) {
      const r = await pgo(ctx.env, 'restore', 'hippo', ...args, ...prompt);
      assert.is(r.code, 1, `${args.join(' ')}: ${r.code} ${r.stdout} ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.match(r.stderr, /^Error: /);
      assert.not.match(r.stdout, /plan:|created/, 'no plan is shown for a refused request');
    }
  }
  const bad = await pgo(ctx.env, 'restore', 'hippo', '--node-affinity-type', 'sometimes', '--node-label', 'zone=a', '--no-prompt');
  assert.is(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /nodeAffinityType/);
  assert.is((await restoresOf(ctx, 'hippo')).length, 0, 'a refused request creates no pgtask');
});

test('a cluster with backups disabled is refused with how to enable them; a pg_dump restore is checked, then recorded', async (ctx) => {
  const r = await pgo(ctx.env, 'restore', 'nobackups', '--no-prompt');
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /cluster nobackups has backups disabled \(spec\.backrest\.enabled: false\)/);
  assert.match(r.stderr, /patch pgcluster nobackups .*"enabled":true/);
  const missing = await pgo(ctx.env, 'restore', 'nosuch', '--no-prompt');
  assert.is(missing.code, 1);
  assert.match(missing.stderr, /cluster team-r\/nosuch not found/);
  for (const [args, why] of [
    [[], /--backup-pvc names the volume holding the dumps/],
    [['--backup-pvc', 'nosuch'], /PersistentVolumeClaim nosuch does not exist/],
    [['--backup-pvc', 'dumps', '--backup-opts', '--file=/etc/passwd'], /pg_restore option --file=\/etc\/passwd is not allowed/],
    [['--backup-pvc', 'dumps', '--drill'], /--drill and --node-label go with pgBackRest restores/],
  ] as const) {
    const dump = await pgo(ctx.env, 'restore', 'nobackups', '--backup-type', 'pgdump', ...args, '--no-prompt');
    assert.is(dump.code, 1, dump.stderr);
    assert.match(dump.stderr, why);
  }
  assert.is((await restoresOf(ctx, 'nobackups')).length + (await restoresOf(ctx, 'hippo')).length, 0);
  const core = ctx.h.cp.kubeconfig.makeApiClient(CoreV1Api);
  await core.createNamespacedPersistentVolumeClaim({ namespace: NS, body: { metadata: { name: 'dumps' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } } });
  const ok = await pgo(ctx.env, 'restore', 'nobackups', '--backup-type', 'pgdump', '--backup-pvc', 'dumps', '--pgdump-database', 'sales', '--pitr-target', '20261201T1000', '--backup-opts', '--clean --if-exists', '--no-prompt');
  assert.is(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /plan: restores the pg_dump matching 20261201T1000 of database sales from dumps .* in one transaction/);
  const [task] = await restoresOf(ctx, 'nobackups');
  assert.equal(task?.spec.restore?.pgdump, { pvcName: 'dumps', database: 'sales', file: '20261201T1000', options: '--clean --if-exists' });
  await ctx.tasks.delete(NS, task!.metadata.name);
});

test('a valid request whose repository cannot be asked is a 503 with the reason, and nothing is created', async (ctx) => {
  const none = await pgo(ctx.env, 'restore', 'hippo', '--pitr-target', '2026-12-02 03:00:50+00', '--no-prompt');
  assert.is(none.code, 1, none.stderr);
  assert.match(none.stderr, /cannot check the restore against the pgBackRest repository of cluster hippo: the repository host of cluster hippo is not ready/);
  // A repository host that reports Ready but is on no node: exec fails, and that error is what pgo shows.
  const core = ctx.h.cp.kubeconfig.makeApiClient(CoreV1Api);
  const name = 'hippo-backrest-shared-repo-0';
  await core.createNamespacedPod({ namespace: NS, body: { metadata: { name, labels: { [LABEL.cluster]: 'hippo', [LABEL.component]: 'repo-host' } }, spec: { containers: [{ name: 'pgbackrest', image: 'none' }] } } });
  const pod = await core.readNamespacedPod({ namespace: NS, name });
  await core.replaceNamespacedPodStatus({ namespace: NS, name, body: { ...pod, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } } });
  const unreachable = await pgo(ctx.env, 'restore', 'hippo', '--no-prompt');
  assert.is(unreachable.code, 1, unreachable.stderr);
  assert.match(unreachable.stderr, new RegExp(`cannot check the restore against the pgBackRest repository of cluster hippo: pgBackRest in ${name}: .+; nothing was done`));
  assert.is((await restoresOf(ctx, 'hippo')).length, 0);
});

test('accepted: a dry run gives the plan and creates nothing; the request is one restore pgtask; a second one is refused while it runs', async (ctx) => {
  const [stanza] = parseInfo(INFO) as [StanzaInfo];
  const handlers = restoreHandlersUsing(() => Promise.resolve(stanza));
  const deps = new Deps(ctx.h.cp.kubeconfig, ctx.h.store, () => {});
  const user: Principal = { name: 'admin', permissions: new Set(['*']), namespaces: '*' };
  const call = (body: Record<string, unknown>) => handlers.restore!(deps, { user, params: { namespace: NS, name: 'zebra' }, query: {}, body: restoreBody.parse(body) });

  const dry = await call({ pitrTarget: '2026-12-02 03:00:50+00', dryRun: true });
  assert.is(dry.status, undefined);
  assert.equal(dry.body, {
    cluster: 'zebra',
    dryRun: true,
    plan: 'restores full backup 20261202-030043F (finished 2026-12-02 03:00:46 UTC) from repo1, then replays WAL to 2026-12-02 03:00:50+00 and promotes; writes committed after that are not kept',
    set: '20261202-030043F',
    repo: 1,
  });
  assert.is((await restoresOf(ctx, 'zebra')).length, 0, 'a dry run creates nothing');

  const tooEarly = await call({ pitrTarget: '2026-12-02 03:00:00+00' }).catch((e: unknown) => e);
  assert.instance(tooEarly, ApiError);
  assert.is((tooEarly as ApiError).status, 400);
  assert.match((tooEarly as ApiError).message, /before the oldest backup in repo1/);
  // Target checks are the planner's (planRestore), so with pgBackRest's answer: via pgo here they meet the
  // missing repository host first (the test above).
  const noTarget = await call({ backupOpts: '--type=time' }).catch((e: unknown) => e);
  assert.is((noTarget as ApiError).status, 400);
  assert.match((noTarget as ApiError).message, /--type=time needs a target: give one with --pitr-target or --target/);
  const badLsn = await call({ backupOpts: '--type=lsn --target=zz' }).catch((e: unknown) => e);
  assert.match((badLsn as ApiError).message, /the target "zz" is not an LSN/);
  const noSet = await call({ backupOpts: '--set=20261201-000000F' }).catch((e: unknown) => e);
  assert.match((noSet as ApiError).message, /backup set 20261201-000000F is not in repo1: choose one of 20261202-030043F_20261202-030050I, 20261202-030043F/);
  assert.is((await restoresOf(ctx, 'zebra')).length, 0);

  const made = await call({ nodeLabel: { key: 'zone', value: 'a' }, nodeAffinityType: 'required' });
  assert.is(made.status, 201);
  const body = made.body as { task: string; set: string; plan: string; dryRun: boolean };
  assert.match(body.task, /^zebra-restore-\d{14}$/);
  assert.is(body.set, '20261202-030043F_20261202-030050I');
  assert.is(body.dryRun, false);
  assert.match(body.plan, /replays all archived WAL and promotes/);
  const [task, ...others] = await restoresOf(ctx, 'zebra');
  assert.is(others.length, 0);
  assert.is(task!.metadata.name, body.task);
  assert.is(task!.metadata.labels?.[LABEL.cluster], 'zebra');
  assert.equal(task!.spec, { type: 'restore', clusterName: 'zebra', restore: { type: 'default', nodeAffinity: { nodeLabel: { key: 'zone', value: 'a' }, type: 'required' } } });
  assert.is(task!.status, undefined, 'the API records intent only; the operator writes status');
  assert.is((await ctx.h.cp.kubeconfig.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: NS, labelSelector: `${LABEL.cluster}=zebra` })).items.length, 0, 'the API touches no pods');

  const second = await call({}).catch((e: unknown) => e);
  assert.is((second as ApiError).status, 409);
  assert.match((second as ApiError).message, new RegExp(`restore ${body.task} of cluster zebra is Pending: one restore of a cluster runs at a time`));
  // pgo says the same, without a prompt or --no-prompt: the API refuses before anything is asked.
  const viaPgo = await pgo(ctx.env, 'restore', 'zebra');
  assert.is(viaPgo.code, 1);
  assert.match(viaPgo.stderr, new RegExp(`restore ${body.task} of cluster zebra is Pending`));
  await ctx.tasks.updateStatus(NS, body.task, () => ({ phase: 'Failed', message: 'refused', restore: { phase: 'Failed', error: 'test' } }));
  const afterFailure = await call({ dryRun: true });
  assert.is((afterFailure.body as { set: string }).set, '20261202-030043F_20261202-030050I', 'a finished restore no longer blocks one');
});

test('pgo show restore lists restore pgtasks written directly, newest first, with their status', async (ctx) => {
  const write = async (name: string, restore: Record<string, unknown>, status: Record<string, unknown>) => {
    await ctx.tasks.createIfAbsent({ apiVersion: 'pg-operator.dev/v1', kind: 'PGTask', metadata: { name, namespace: NS }, spec: { type: 'restore', clusterName: 'rhino', restore } } as unknown as PgTaskResource);
    await ctx.tasks.updateStatus(NS, name, () => status);
  };
  await write('rhino-restore-20261201090000', { type: 'immediate', set: '20261201-010000F' }, {
    phase: 'Failed', message: 'restore failed', startTime: '2026-12-01T09:00:00Z', completionTime: '2026-12-01T09:02:05Z',
    restore: { phase: 'Failed', backupSet: '20261201-010000F', error: 'ERROR: [075]: no backup set found to restore' },
  });
  await write('rhino-restore-20261202100000', { type: 'time', target: '2026-12-01 10:00:00+00' }, {
    phase: 'Running', startTime: '2026-12-02T10:00:00Z',
    restore: { phase: 'Restoring', instance: 'rhino-rst1', backupSet: '20261201-010000F_20261201-050000I', percent: 42, elapsedSeconds: 75 },
  });
  // A restore of another cluster, and a task of another type, are not listed.
  await ctx.tasks.createIfAbsent({ apiVersion: 'pg-operator.dev/v1', kind: 'PGTask', metadata: { name: 'rhino-switchover-abcd', namespace: NS }, spec: { type: 'switchover', clusterName: 'rhino' } } as unknown as PgTaskResource);

  const shown = await pgo(ctx.env, 'show', 'restore', 'rhino');
  assert.is(shown.code, 0, shown.stderr);
  const lines = shown.stdout.trimEnd().split('\n');
  assert.is(lines[0], 'cluster: rhino');
  assert.match(lines[1]!, /^TASK\s+PHASE\s+STEP\s+PERCENT\s+SET\s+TARGET\s+ELAPSED\s+ERROR$/);
  assert.is(lines.length, 4, shown.stdout);
  assert.match(lines[2]!, /^rhino-restore-20261202100000\s+Running\s+Restoring\s+42%\s+20261201-010000F_20261201-050000I\s+time 2026-12-01 10:00:00\+00\s+1m15s$/);
  assert.match(lines[3]!, /^rhino-restore-20261201090000\s+Failed\s+Failed\s+20261201-010000F\s+end of backup\s+2m05s\s+ERROR: \[075\]: no backup set found to restore$/);

  const json = JSON.parse((await pgo(ctx.env, 'show', 'restore', 'rhino', '-o', 'json')).stdout) as { cluster: string; restores: { name: string; phase: string; restore: { target?: string }; status: { percent?: number; instance?: string } }[] };
  assert.equal(json.restores.map((r) => r.name), ['rhino-restore-20261202100000', 'rhino-restore-20261201090000']);
  assert.is(json.restores[0]!.status.percent, 42);
  assert.is(json.restores[0]!.status.instance, 'rhino-rst1');
  assert.is(json.restores[0]!.restore.target, '2026-12-01 10:00:00+00');

  // The running one blocks a new request, which names it.
  const blocked = await pgo(ctx.env, 'restore', 'rhino', '--no-prompt');
  assert.is(blocked.code, 1);
  assert.match(blocked.stderr, /restore rhino-restore-20261202100000 of cluster rhino is Restoring: one restore of a cluster runs at a time; follow it with pgo show restore rhino/);
  assert.match((await pgo(ctx.env, 'show', 'restore', 'hippo')).stdout, /cluster: hippo\nno restores/);
});

test.run();
