import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { PgBackupResource, PgClusterResource, PgReplicaResource, PgTaskResource, PgUpgradeResource } from '../../src/crd/types.ts';
import { CustomResources } from '../../src/k8s/custom.ts';
import { startApi, type ApiHarness } from '../harness/api.ts';
import { waitFor } from '../harness/wait.ts';

// The real pgo CLI process against the API server on a real kube-apiserver (no kubelets: clusters never
// run, so this covers what the API records; tests/cluster/pgo.test.ts covers the running clusters).
const test = suite<{ h: ApiHarness; dir: string; env: NodeJS.ProcessEnv }>('pgo CLI against the API');
const pgoBin = fileURLToPath(new URL('../../cli/pgo', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function pgo(env: NodeJS.ProcessEnv, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(pgoBin, args, { env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test.before(async (ctx) => {
  ctx.h = await startApi(['team-a']);
  ctx.dir = mkdtempSync(join(tmpdir(), 'pgo-cli-'));
  writeFileSync(join(ctx.dir, 'ca.crt'), ctx.h.api.tls.cert);
  writeFileSync(join(ctx.dir, 'pgouser'), `admin:${ctx.h.adminPassword}\n`, { mode: 0o600 });
  ctx.env = { PATH: process.env.PATH, HOME: ctx.dir, PGO_APISERVER_URL: ctx.h.api.url, PGO_CA_CERT: join(ctx.dir, 'ca.crt'), PGOUSER: join(ctx.dir, 'pgouser'), PGO_NAMESPACE: 'team-a' };
});
test.after(async (ctx) => {
  await ctx.h?.stop();
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

test('version, and configuration errors are clear', async ({ env }) => {
  const v = await pgo(env, 'version');
  assert.is(v.code, 0, v.stderr);
  assert.match(v.stdout, /pgo client version .*\npgo-apiserver version /);
  const noUrl = await pgo({ ...env, PGO_APISERVER_URL: '' }, 'version');
  assert.is(noUrl.code, 1);
  assert.match(noUrl.stderr, /^Error: PGO_APISERVER_URL is not set/);
  const http = await pgo({ ...env, PGO_APISERVER_URL: env.PGO_APISERVER_URL!.replace('https', 'http') }, 'version');
  assert.match(http.stderr, /https:\/\//);
  const noCa = await pgo({ ...env, PGO_CA_CERT: '' }, 'version');
  assert.is(noCa.code, 1);
  assert.match(noCa.stderr, /PGO_CA_CERT/);
  const badPassword = join(env.HOME!, 'bad');
  writeFileSync(badPassword, 'admin:nope', { mode: 0o600 });
  const denied = await pgo({ ...env, PGOUSER: badPassword }, 'show', 'cluster', '--all');
  assert.is(denied.code, 1);
  assert.match(denied.stderr, /not authenticated/);
});

test('create, show, label, update and scale a cluster', async ({ h, env }) => {
  const created = await pgo(env, 'create', 'cluster', 'hippo', '--replica-count', '2', '--pvc-size', '2Gi', '--label', 'env=dev', '--shutdown');
  assert.is(created.code, 0, created.stderr);
  assert.match(created.stdout, /created cluster: hippo/);
  const show = await pgo(env, 'show', 'cluster', 'hippo');
  assert.is(show.code, 0, show.stderr);
  assert.match(show.stdout, /cluster : hippo/);
  assert.match(show.stdout, /storage : Primary=2Gi/);
  const json = JSON.parse((await pgo(env, 'show', 'cluster', '--selector', 'env=dev', '-o', 'json')).stdout) as { clusters: { name: string }[] };
  assert.equal(json.clusters.map((c) => c.name), ['hippo']);
  assert.is((await pgo(env, 'label', 'hippo', '--label', 'team=blue')).code, 0);
  const byLabel = JSON.parse((await pgo(env, 'show', 'cluster', '-s', 'team=blue', '-o', 'json')).stdout) as { clusters: unknown[] };
  assert.is(byLabel.clusters.length, 1);
  assert.is((await pgo(env, 'delete', 'label', 'hippo', '--label', 'team')).code, 0);
  assert.is((JSON.parse((await pgo(env, 'show', 'cluster', '-s', 'team=blue', '-o', 'json')).stdout) as { clusters: unknown[] }).clusters.length, 0);
  const upd = await pgo(env, 'update', 'cluster', 'hippo', '--disable-autofail', '--parameter', 'work_mem=8MB');
  assert.is(upd.code, 0, upd.stderr);
  const c = await new CustomResources<PgClusterResource>(h.cp.kubeconfig, 'pgclusters').get('team-a', 'hippo');
  assert.is(c.spec.disableAutofail, true);
  assert.equal(c.spec.parameters, { work_mem: '8MB' });
  const scale = await pgo(env, 'scale', 'hippo', '--replica-count', '1');
  assert.is(scale.code, 0, scale.stderr);
  const name = /created Pgreplica (hippo-[a-z0-9]{4})/.exec(scale.stdout)?.[1];
  assert.ok(name, scale.stdout);
  const r = await new CustomResources<PgReplicaResource>(h.cp.kubeconfig, 'pgreplicas').get('team-a', name);
  assert.is(r.spec.clusterName, 'hippo');
});

test('destructive verbs refuse without a terminal unless --no-prompt', async ({ env }) => {
  const refused = await pgo(env, 'failover', 'hippo');
  assert.is(refused.code, 2);
  assert.match(refused.stderr, /--no-prompt/);
  const del = await pgo(env, 'delete', 'cluster', 'hippo');
  assert.is(del.code, 2);
});

test('failover: --query lists replicas from status, a bad target is refused, a switchover returns a task', async ({ h, env }) => {
  const q = await pgo(env, 'failover', 'hippo', '--query');
  assert.is(q.code, 0, q.stderr);
  assert.match(q.stdout, /Cluster: hippo/);
  const bad = await pgo(env, 'failover', 'hippo', '--target', 'hippo-zzzz', '--no-prompt');
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /not a replica of cluster hippo/);
  const sw = await pgo(env, 'failover', 'hippo', '--no-prompt', '--no-wait', '-o', 'json');
  assert.is(sw.code, 0, sw.stderr);
  const task = JSON.parse(sw.stdout) as { name: string; type: string; phase: string };
  assert.is(task.type, 'switchover');
  assert.is(task.phase, 'Pending');
  const t = await new CustomResources<PgTaskResource>(h.cp.kubeconfig, 'pgtasks').get('team-a', task.name);
  assert.is(t.spec.clusterName, 'hippo');
  assert.is(t.metadata.labels?.['pg-operator.dev/cluster'], 'hippo');
  const wf = await pgo(env, 'show', 'workflow', task.name);
  assert.match(wf.stdout, /switchover of hippo\): Pending/);
  // The operator's outcome is what pgo shows.
  const tasks = new CustomResources<PgTaskResource>(h.cp.kubeconfig, 'pgtasks');
  await tasks.updateStatus('team-a', task.name, () => ({ phase: 'Failed', message: 'no ready replica' }));
  assert.match((await pgo(env, 'show', 'workflow', task.name)).stdout, /Failed - no ready replica/);
  const sc = await pgo(env, 'scaledown', 'hippo', '--query');
  assert.is(sc.code, 0, sc.stderr);
});

test('data operations without a backend answer "not implemented yet" and exit non-zero', async ({ env }) => {
  const r = await pgo(env, 'scaledown', 'hippo', '--target', 'hippo-abcd', '--keep-data', '--no-prompt');
  assert.is(r.code, 3, `${r.code} ${r.stdout} ${r.stderr}`);
  assert.match(r.stderr, /not implemented yet/);
});

test('pgo upgrade: the tag or image checked at the API, one pgupgrade at a time, followed by pgo show workflow', async ({ h, env }) => {
  const refused = async (args: string[], message: RegExp) => {
    const r = await pgo(env, 'upgrade', 'hippo', '--no-prompt', '--no-wait', ...args);
    assert.is.not(r.code, 0, `${args.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, message);
  };
  await refused([], /give the image to move to: --ccp-image-tag TAG/);
  await refused(['--ccp-image-tag', '15', '--ccp-image', 'x:1'], /not both/);
  await refused(['--ccp-image-tag', 'a/b'], /must be an image tag/);
  await refused(['--ccp-image-tag', '15'], /the cluster runs localhost\/pg-operator\/postgres:15 already/);
  const upgrades = new CustomResources<PgUpgradeResource>(h.cp.kubeconfig, 'pgupgrades');
  // A resource nobody has listed yet: its watch cache may still be starting (429, retry after 1 s).
  const list = () => waitFor('pgupgrades listed', () => upgrades.list('team-a').catch(() => undefined), 30_000, 500);
  assert.equal(await list(), [], 'nothing recorded for a refused upgrade');
  const ok = await pgo(env, 'upgrade', 'hippo', '--ccp-image-tag', '15-next', '--no-prompt', '--no-wait');
  assert.is(ok.code, 0, ok.stderr);
  const name = /created pgupgrade (hippo-upgrade-\w+): hippo to localhost\/pg-operator\/postgres:15-next/.exec(ok.stdout)?.[1];
  assert.ok(name, ok.stdout);
  const [u] = await list();
  assert.equal(u!.spec, { clusterName: 'hippo', type: 'minor', image: 'localhost/pg-operator/postgres:15-next' });
  await refused(['--ccp-image-tag', '15-other'], new RegExp(`pgupgrade ${name} of this cluster has not ended`));
  const wf = await pgo(env, 'show', 'workflow', name);
  assert.match(wf.stdout, new RegExp(`task ${name} \\(minor-upgrade of hippo to localhost/pg-operator/postgres:15-next\\): Pending`));
});

test('pgo load: the config file checked at pgo and at the API, then one load pgtask per cluster, with its result', async ({ h, env }) => {
  const conf = (name: string, text: string) => {
    writeFileSync(join(env.HOME!, name), text);
    return join(env.HOME!, name);
  };
  const noConfig = await pgo(env, 'load', 'hippo');
  assert.is(noConfig.code, 2);
  assert.match(noConfig.stderr, /--load-config is required/);
  const unknown = await pgo(env, 'load', 'hippo', '--load-config', conf('u.yaml', 'TableToLoad: orders\nColour: blue\n'));
  assert.is(unknown.code, 2);
  assert.match(unknown.stderr, /Colour is not a load setting: use DbDatabase, DbUser, TableToLoad, FilePath, FileType, PVCName/);
  const badTable = await pgo(env, 'load', 'hippo', '--load-config', conf('t.yaml', "PVCName: data\nFilePath: /x.csv\nTableToLoad: \"orders; drop table x\"\n"));
  assert.is.not(badTable.code, 0);
  assert.match(badTable.stderr, /body\.load\.table: must be a table name/);
  const badPath = await pgo(env, 'load', 'hippo', '--load-config', conf('p.yaml', 'PVCName: data\nFilePath: ../etc/passwd\nTableToLoad: orders\n'));
  assert.match(badPath.stderr, /body\.load\.file: must be a path inside the volume/);
  const tasks = new CustomResources<PgTaskResource>(h.cp.kubeconfig, 'pgtasks');
  assert.not.ok((await tasks.list('team-a')).some((t) => t.spec.type === 'load'), 'nothing recorded for a refused config');
  // No operator runs in this tier: the test plays its part and ends the task.
  const finish = waitFor('the load pgtask', async () => (await tasks.list('team-a')).find((t) => t.spec.type === 'load'), 20_000, 200).then((t) =>
    tasks.updateStatus('team-a', t.metadata.name, () => ({ phase: 'Succeeded', message: 'loaded 3 rows from x.csv (data) into orders (one transaction)', load: { rows: 3 } })).then(() => t));
  const r = await pgo(env, 'load', 'hippo', '--load-config', conf('ok.yaml', 'PVCName: data\nFilePath: /x.csv\nTableToLoad: orders\nFileType: CSV\nDbPort: 5432\n'), '--policies', 'p1,p2');
  const task = await finish;
  assert.is(r.code, 0, r.stderr);
  assert.equal(task.spec.load, { pvcName: 'data', file: 'x.csv', fileType: 'csv', table: 'orders', policies: ['p1', 'p2'] });
  assert.match(r.stdout, /CLUSTER +STATUS +ROWS +LINE +TASK +MESSAGE\nhippo +loaded +3 +hippo-load-\w+ +loaded 3 rows/);
});

test('pgo backup records a pgbackup, queues a second one behind it and refuses options outside the whitelist', async ({ h, env }) => {
  const first = await pgo(env, 'backup', 'hippo', '-o', 'json');
  assert.is(first.code, 0, first.stderr);
  const b1 = JSON.parse(first.stdout) as { name: string; phase: string };
  assert.is(b1.phase, 'Pending');
  const second = await pgo(env, 'backup', 'hippo', '--backup-type', 'full', '--backup-opts', '--start-fast');
  assert.is(second.code, 0, second.stderr);
  assert.match(second.stdout, new RegExp(`created pgbackup hippo-backup-\\d+-[0-9a-f]{4} \\(full\\): queued behind pgbackup ${b1.name}`));
  const backups = new CustomResources<PgBackupResource>(h.cp.kubeconfig, 'pgbackups');
  const list = (await backups.list('team-a')).filter((b) => b.spec.clusterName === 'hippo');
  assert.is(list.length, 2);
  assert.ok(list.some((b) => b.spec.type === 'full' && b.spec.options === '--start-fast'));
  const refused = await pgo(env, 'backup', 'hippo', '--backup-opts', '--start-fast --repo1-path=/tmp/elsewhere');
  assert.is.not(refused.code, 0);
  assert.match(refused.stderr, /option --repo1-path is not allowed in --backup-opts/);
  const disagree = await pgo(env, 'backup', 'hippo', '--backup-type', 'incr', '--backup-opts', '--type=full');
  assert.match(disagree.stderr, /disagree/);
  assert.is((await backups.list('team-a')).filter((b) => b.spec.clusterName === 'hippo').length, 2, 'a refused request creates nothing');
  const del = await pgo(env, 'delete', 'backup', 'hippo', '--target', 'not-a-label', '--no-prompt');
  assert.match(del.stderr, /must be a pgBackRest backup label/);
});

test('pgouser, pgorole and policy management (apply --dry-run, an applied policy skipped); show user hides passwords unless asked and allowed', async ({ h, env }) => {
  assert.is((await pgo(env, 'create', 'pgorole', 'viewer', '--permissions', 'ShowCluster,ShowUser,Version')).code, 0);
  const cu = await pgo(env, 'create', 'pgouser', 'bob', '--pgouser-password', 'bob-password-1', '--pgouser-roles', 'viewer', '--pgouser-namespaces', 'team-a');
  assert.is(cu.code, 0, cu.stderr);
  const show = await pgo(env, 'show', 'pgouser', 'bob');
  assert.match(show.stdout, /pgouser : bob\nroles : \[viewer\]\nnamespaces : \[team-a\]/);
  writeFileSync(join(env.HOME!, 'bob'), 'bob:bob-password-1', { mode: 0o600 });
  const bob = { ...env, PGOUSER: join(env.HOME!, 'bob') };
  assert.is((await pgo(bob, 'show', 'cluster', 'hippo')).code, 0);
  const forbidden = await pgo(bob, 'delete', 'cluster', 'hippo', '--no-prompt');
  assert.is(forbidden.code, 1);
  assert.match(forbidden.stderr, /lacks the permission DeleteCluster/);
  // The roles are read from the primary (tests/cluster/users.test.ts): here there is none, and the answer says so.
  const users = await pgo(bob, 'show', 'user', 'hippo');
  assert.match(users.stderr, /hippo has no primary running/);
  const secrets = await pgo(bob, 'show', 'user', 'hippo', '--show-secrets');
  assert.is(secrets.code, 1);
  assert.match(secrets.stderr, /lacks the permission ShowSecrets/);
  assert.is((await pgo(env, 'update', 'pgorole', 'viewer', '--permissions', 'ShowCluster')).code, 0);
  const denied = await pgo(bob, 'show', 'user', 'hippo');
  assert.is(denied.code, 1);
  assert.match(denied.stderr, /lacks the permission ShowUser/);
  assert.is((await pgo(env, 'delete', 'pgouser', 'bob', '--no-prompt')).code, 0);
  assert.is((await pgo(env, 'delete', 'pgorole', 'viewer', '--no-prompt')).code, 0);
  writeFileSync(join(env.HOME!, 'p.sql'), 'create table if not exists audit_log (id int);\n');
  assert.is((await pgo(env, 'create', 'policy', 'p1', '--in-file', join(env.HOME!, 'p.sql'))).code, 0);
  assert.match((await pgo(env, 'show', 'policy', 'p1')).stdout, /create table if not exists audit_log/);
  // apply: the clusters by selector (runs are on real clusters in tests/cluster/pgo.test.ts); a dry run runs nothing.
  const dry = await pgo(env, 'apply', 'p1', '-s', 'env=dev', '--dry-run');
  assert.is(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /policy p1 would run on:\nCLUSTER +STATUS +TASK +MESSAGE\nhippo +would apply/);
  const tasks = await new CustomResources<PgTaskResource>(h.cp.kubeconfig, 'pgtasks').list('team-a');
  assert.not.ok(tasks.some((t) => t.spec.type === 'apply-policy'), 'a dry run creates no task');
  await new CustomResources<PgClusterResource>(h.cp.kubeconfig, 'pgclusters').mutate('team-a', 'hippo', (c) => {
    c.metadata.labels = { ...c.metadata.labels, p1: 'pgpolicy' };
  });
  const again = await pgo(env, 'apply', 'p1', '-s', 'env=dev', '-o', 'json');
  assert.equal((JSON.parse(again.stdout) as { results: { cluster: string; status: string }[] }).results.map((r) => [r.cluster, r.status]), [['hippo', 'skipped']]);
  assert.match((await pgo(env, 'apply', 'p1', '-s', 'env=dev')).stdout, /applied to hippo already \(label p1=pgpolicy\); remove the label to run it again/);
  const noPolicy = await pgo(env, 'apply', 'nosuch', '-s', 'env=dev');
  assert.is(noPolicy.code, 1);
  assert.match(noPolicy.stderr, /pgpolicy team-a\/nosuch does not exist: create it first/);
  const noClusters = await pgo(env, 'apply', 'p1');
  assert.is(noClusters.code, 2, 'a usage error');
  assert.match(noClusters.stderr, /a selector \(-s env=prod\) or cluster names/);
  assert.match((await pgo(env, 'apply', 'p1', '-s', 'env=nothing')).stderr, /no cluster in namespace team-a matches the selector env=nothing/);
  assert.is((await pgo(env, 'delete', 'policy', 'p1', '--no-prompt')).code, 0);
  assert.match((await pgo(env, 'show', 'policy')).stdout, /no policies/);
});

test('pgo watch streams transitions and task progress of one cluster', async ({ h, env }) => {
  const child = spawn(pgoBin, ['watch', 'hippo'], { env });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  try {
    await waitFor('the hello line', () => out.includes('hello'), 30_000, 100);
    h.api.bus.transition('team-a/other', 'applying');
    h.api.bus.transition('team-a/hippo', 'monitoring.ready');
    await pgo(env, 'failover', 'hippo', '--no-prompt', '--no-wait');
    await waitFor('the transition and the task', () => out.includes('team-a/hippo -> monitoring.ready') && /task team-a\/hippo-switchover-\w+ switchover Pending/.test(out), 30_000, 100);
    assert.not.ok(out.includes('team-a/other'), 'an event of another cluster was shown');
  } finally {
    child.kill('SIGINT');
  }
});

test('cluster deletion with --no-prompt; completion script', async ({ env }) => {
  const del = await pgo(env, 'delete', 'cluster', 'hippo', '--no-prompt');
  assert.is(del.code, 0, del.stderr);
  assert.match(del.stdout, /deleted pgcluster hippo/);
  const missing = await pgo(env, 'show', 'cluster', 'hippo');
  assert.is(missing.code, 1);
  assert.match(missing.stderr, /not found/);
  const comp = await pgo(env, 'completion', 'bash');
  assert.match(comp.stdout, /complete -F _pgo pgo/);
});

test.run();
