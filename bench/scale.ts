/**
 * Benchmark: the operator with N pgclusters (default 1000) of 3 instances each, their pods on nodes simulated
 * by kwok (hack/kwok/build.sh) beside the three real nodes: the pods are scheduled, Running and Ready, with
 * IPs from 10.250.0.0/16 that nothing answers, so no PostgreSQL runs behind them. The operator is the bundle
 * with the Deployment's Node flags (deploy/operator.yaml), run on the host like the other benches.
 * Prints, from one run: RSS and CPU at 0, 100 and N clusters; the time from creating the Nth cluster to its
 * objects; reconcile latency (a spec change to status.observedGeneration) p50/p99; the apiserver requests a
 * second caused by the operator at rest (apiserver_request_total with the operator running minus without);
 * /events with 100 subscribers; `pgo show cluster --all` with N; a standby operator's takeover when the
 * leader is killed (SIGKILL: the Lease must expire), and whether any cluster failed over meanwhile.
 * Usage (under the shared cluster lock): flock /tmp/pgo-cluster.lock npx tsx bench/scale.ts [N=1000]
 */
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { AppsV1Api, type V1Node } from '@kubernetes/client-node';
import WebSocket from 'ws';
import { parse } from 'yaml';
import { ADMIN_CREDENTIALS_SECRET } from '../src/api/bootstrap.ts';
import { TLS_SECRET } from '../src/api/tls.ts';
import { LABEL } from '../src/cluster/names.ts';
import { API_VERSION } from '../src/crd/resources.ts';
import type { PgClusterResource, PgReplicaResource } from '../src/crd/types.ts';
import { CustomResources } from '../src/k8s/custom.ts';
import { deleteNamespace, localCluster } from '../tests/harness/cluster.ts';
import { BUNDLED, buildBundles, startOperator, type OperatorProcess } from '../tests/harness/operator.ts';
import { waitFor } from '../tests/harness/wait.ts';
import { median, rssMiB } from './lib.ts';

const n = Number(process.argv[2] ?? 1000);
const root = fileURLToPath(new URL('../', import.meta.url));
const run = promisify(execFile);
const LOG = '/tmp/pg-operator-bench-scale.log';
const KWOK_LABEL = 'pg-operator.dev/bench';
const PODS_PER_NODE = 250;

buildBundles();
const kwokDir = execFileSync('bash', [`${root}hack/kwok/build.sh`], { encoding: 'utf8' }).trim();
const kwokBin = join(kwokDir, 'kwok');
const c = localCluster();
const core = c.core;
const apps = c.kubeconfig.makeApiClient(AppsV1Api);
const clusters = new CustomResources<PgClusterResource>(c.kubeconfig, 'pgclusters');
const replicas = new CustomResources<PgReplicaResource>(c.kubeconfig, 'pgreplicas');
await run('npx', ['--no-install', 'tsx', 'hack/install-crds.ts'], { env: { ...process.env, KUBECONFIG: c.kubeconfigPath } });

// What an earlier run left: its kwok process and its simulated nodes.
spawnSync('pkill', ['-f', `${kwokBin} `]);
const staleNodes = (await core.listNode({ labelSelector: `${KWOK_LABEL}=kwok` })).items;
for (const node of staleNodes) await core.deleteNode({ name: node.metadata!.name! });

const kwok = spawn(kwokBin, ['--kubeconfig', c.kubeconfigPath, `--manage-nodes-with-label-selector=${KWOK_LABEL}=kwok`, '--cidr=10.250.0.0/16', '--node-lease-duration-seconds=40', '--config', join(kwokDir, 'stages.yaml')], {
  stdio: ['ignore', openSync('/tmp/kwok-bench.log', 'w'), openSync('/tmp/kwok-bench.log', 'a')],
});
const nodeCount = Math.ceil((3 * n) / PODS_PER_NODE);
const fakeNode = (i: number): V1Node => ({
  metadata: { name: `kwok-${i}`, labels: { [KWOK_LABEL]: 'kwok', 'kubernetes.io/hostname': `kwok-${i}`, type: 'kwok' }, annotations: { 'kwok.x-k8s.io/node': 'fake' } },
  spec: { taints: [{ key: 'kwok.x-k8s.io/node', value: 'fake', effect: 'NoSchedule' }] },
  status: { allocatable: { cpu: '256', memory: '1Ti', pods: String(PODS_PER_NODE) }, capacity: { cpu: '256', memory: '1Ti', pods: String(PODS_PER_NODE) } },
});
for (let i = 0; i < nodeCount; i++) await core.createNode({ body: fakeNode(i) });

// The operator as deployed: the bundle with the Deployment's Node flags, its API on a free port.
const docs = readFileSync(`${root}deploy/operator.yaml`, 'utf8').split(/^---$/m).map((d) => parse(d) as { kind?: string; spec?: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } } });
const deployEnv = Object.fromEntries((docs.find((d) => d?.kind === 'Deployment')!.spec!.template.spec.containers[0]!.env ?? []).filter((e) => e.value !== undefined && !e.name.startsWith('PGO_')).map((e) => [e.name, e.value!]));
const port = 18000 + Math.floor(Math.random() * 1000);
const ns = `scale-${Date.now().toString(36)}`;
await core.createNamespace({ body: { metadata: { name: ns } } });
const opEnv = { ...deployEnv, PGO_API_PORT: String(port), PGO_MEMORY_LOG_MS: '10000' };
let op: OperatorProcess = startOperator(c.kubeconfigPath, LOG, opEnv, BUNDLED);
// An interrupted run's namespace: its clusters' finalizers need the operator.
for (const stale of (await core.listNamespace()).items.filter((x) => x.metadata?.name?.startsWith('scale-') && x.metadata.name !== ns)) {
  await deleteNamespace(c, stale.metadata!.name!, 1_800_000);
}

/** CPU seconds (user + system) the process has used. */
const cpuSeconds = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
/** RSS (median of 5 samples a second apart) and CPU (cores, averaged over the same `seconds`). */
async function footprint(pid: number, seconds = 30): Promise<{ rss: number; cores: number }> {
  const rss: number[] = [];
  const cpu0 = cpuSeconds(pid);
  const t0 = Date.now();
  for (let i = 0; i < seconds; i++) {
    if (i % Math.max(1, Math.floor(seconds / 5)) === 0) rss.push(rssMiB(pid));
    await sleep(1000);
  }
  return { rss: median(rss), cores: (cpuSeconds(pid) - cpu0) / ((Date.now() - t0) / 1000) };
}
const apiserverRequests = async () => {
  const stdout = await c.kubectl('get', '--raw', '/metrics');
  return stdout.split('\n').filter((l) => l.startsWith('apiserver_request_total{')).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
};
const requestRate = async (seconds: number) => {
  const a = await apiserverRequests();
  await sleep(seconds * 1000);
  return ((await apiserverRequests()) - a) / seconds;
};

// Every instance on the simulated nodes: the primary by the cluster's placement, each replica by its own
// pgreplica's (a cluster's spec.replicas would make replicas free to land on the real nodes). No pgBackRest:
// its repository host would be a fourth pod, and its stanza and first backup would wait on the primary.
const onKwok = {
  tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists' as const, effect: 'NoSchedule' as const }],
  nodeAffinity: { nodeLabel: { key: KWOK_LABEL, value: 'kwok' }, type: 'required' as const },
};
async function createCluster(name: string): Promise<void> {
  await clusters.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGCluster', metadata: { name, namespace: ns }, spec: { ...onKwok, backrest: { enabled: false } } } as PgClusterResource);
  for (const r of ['r1', 'r2']) {
    await replicas.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGReplica', metadata: { name: `${name}-${r}`, namespace: ns }, spec: { clusterName: name, ...onKwok } });
  }
}
async function createClusters(from: number, to: number): Promise<void> {
  const names = Array.from({ length: to - from }, (_, i) => `s${from + i}`);
  for (let i = 0; i < names.length; i += 20) await Promise.all(names.slice(i, i + 20).map(createCluster));
}
const applied = async () => (await clusters.list(ns)).filter((x) => (x.status?.observedGeneration ?? 0) >= (x.metadata.generation ?? 1)).length;

const out: string[] = [];
const say = (line: string) => {
  out.push(line);
  console.log(line);
};
const secret = async (name: string, key: string) => Buffer.from((await core.readNamespacedSecret({ namespace: 'pgo', name })).data![key]!, 'base64').toString();
let standby: OperatorProcess | undefined;
try {
  await sleep(20_000);
  const at0 = await footprint(op.child.pid!);
  say(`0 clusters: RSS ${at0.rss.toFixed(0)} MiB, CPU ${at0.cores.toFixed(3)} cores`);

  const first = Math.min(100, n - 1);
  await createClusters(0, first);
  await waitFor(`${first} clusters applied`, async () => (await applied()) === first, 900_000, 2000);
  await sleep(30_000);
  const at100 = await footprint(op.child.pid!);
  say(`${first} clusters: RSS ${at100.rss.toFixed(0)} MiB, CPU ${at100.cores.toFixed(3)} cores`);

  const t0 = Date.now();
  await createClusters(first, n - 1);
  say(`created clusters ${first}..${n - 2} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  // The Nth cluster: from its create call to its three Deployments and its Services.
  const last = `s${n - 1}`;
  const tLast = Date.now();
  await createCluster(last);
  await waitFor(`${last}'s objects`, async () => (await apps.listNamespacedDeployment({ namespace: ns, labelSelector: `${LABEL.cluster}=${last}` })).items.length === 3, 900_000, 100);
  say(`kubectl apply of cluster ${n} -> its 3 Deployments created: ${((Date.now() - tLast) / 1000).toFixed(2)} s`);
  await waitFor(`${n} clusters applied`, async () => (await applied()) === n, 1_800_000, 5000);
  say(`all ${n} clusters applied ${((Date.now() - t0) / 1000).toFixed(0)} s after the creates began`);
  await waitFor('every simulated pod Ready', async () => {
    const pods = (await core.listNamespacedPod({ namespace: ns })).items;
    return pods.length === 3 * n && pods.every((p) => p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'));
  }, 1_800_000, 10_000);
  say(`every one of the ${3 * n} pods Ready ${((Date.now() - t0) / 1000).toFixed(0)} s after the creates began`);
  await sleep(60_000);
  const atN = await footprint(op.child.pid!, 60);
  say(`${n} clusters at rest: RSS ${atN.rss.toFixed(0)} MiB, CPU ${atN.cores.toFixed(3)} cores (60 s)`);
  const phases = new Map<string, number>();
  for (const x of await clusters.list(ns)) phases.set(x.status?.phase ?? '(none)', (phases.get(x.status?.phase ?? '(none)') ?? 0) + 1);
  say(`phases: ${[...phases].map(([p, k]) => `${p} ${k}`).join(', ')}`);

  // /events with 100 subscribers while 100 clusters are reconciled one after the other.
  const password = await secret(ADMIN_CREDENTIALS_SECRET, 'password');
  const ca = await secret(TLS_SECRET, 'tls.crt');
  const auth = `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`;
  const received: number[] = Array.from({ length: 100 }, () => 0);
  const sockets = await Promise.all(received.map((_, i) => new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/api/v1/events?namespace=${ns}`, { ca, headers: { Authorization: auth } });
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
    ws.on('message', () => received[i]!++);
  })));
  const rssSubscribed = rssMiB(op.child.pid!);
  const latencies: number[] = [];
  for (let i = 0; i < 100; i++) {
    const name = `s${(i * 7) % n}`;
    const t = Date.now();
    const changed = await clusters.mutate(ns, name, (x) => void (x.spec.failoverDelaySeconds = 4 + (i % 3)));
    const generation = changed!.metadata.generation!;
    await waitFor(`${name} reconciled`, async () => ((await clusters.get(ns, name)).status?.observedGeneration ?? 0) >= generation, 120_000, 20);
    latencies.push(Date.now() - t);
  }
  latencies.sort((a, b) => a - b);
  await sleep(2000);
  for (const ws of sockets) ws.close();
  say(`reconcile (spec change -> status.observedGeneration, 100 in a row, polled every 20 ms): p50 ${latencies[49]} ms, p99 ${latencies[98]} ms, max ${latencies[99]} ms`);
  say(`/events, 100 subscribers: RSS ${rssSubscribed.toFixed(0)} MiB with them; messages per subscriber min ${Math.min(...received)}, max ${Math.max(...received)}`);

  // pgo show cluster --all with N.
  const dir = mkdtempSync(join(tmpdir(), 'pgo-scale-'));
  writeFileSync(join(dir, 'ca.crt'), ca);
  writeFileSync(join(dir, 'pgouser'), `admin:${password}`, { mode: 0o600 });
  const env = { PATH: process.env.PATH, HOME: dir, PGO_APISERVER_URL: `https://127.0.0.1:${port}`, PGO_CA_CERT: join(dir, 'ca.crt'), PGOUSER: join(dir, 'pgouser'), PGO_NAMESPACE: ns };
  const cli: number[] = [];
  const api: number[] = [];
  for (let i = 0; i < 7; i++) {
    let t = Date.now();
    await run(`${root}dist/pgo.mjs`, ['show', 'cluster', '--all'], { env, maxBuffer: 256 << 20 });
    cli.push(Date.now() - t);
    t = Date.now();
    await new Promise<void>((resolve, reject) => {
      request(`https://127.0.0.1:${port}/api/v1/namespaces/${ns}/clusters`, { ca, headers: { Authorization: auth } }, (res) => {
        res.resume();
        res.on('end', resolve);
      }).on('error', reject).end();
    });
    api.push(Date.now() - t);
  }
  say(`pgo show cluster --all with ${n}: median ${median(cli).toFixed(0)} ms per pgo process, API call alone ${median(api).toFixed(0)} ms (7 runs)`);

  const withOperator = await requestRate(60);
  // A standby replica waits on the Lease; the leader is killed without releasing it.
  standby = startOperator(c.kubeconfigPath, `${LOG}.standby`, { ...opEnv, PGO_API_PORT: 'off' }, BUNDLED);
  await sleep(10_000);
  const failoversBefore = (await clusters.list(ns)).reduce((k, x) => k + (x.status?.failoverHistory?.length ?? 0), 0);
  const tKill = Date.now();
  op.child.kill('SIGKILL');
  await waitFor('the standby to lead', () => Promise.resolve(readFileSync(`${LOG}.standby`, 'utf8').includes('leader: starting the cluster actors')), 120_000, 100);
  const takeover = (Date.now() - tKill) / 1000;
  await sleep(60_000);
  const failoversAfter = (await clusters.list(ns)).reduce((k, x) => k + (x.status?.failoverHistory?.length ?? 0), 0);
  say(`standby took the Lease ${takeover.toFixed(1)} s after the leader was killed (Lease 15 s); failover records before ${failoversBefore}, 60 s after ${failoversAfter}`);
  const afterTakeover = await footprint(standby.child.pid!, 30);
  say(`new leader with ${n} clusters, 70 s after the takeover: RSS ${afterTakeover.rss.toFixed(0)} MiB, CPU ${afterTakeover.cores.toFixed(3)} cores`);
  await standby.stop();
  const without = await requestRate(60);
  say(`apiserver requests/s at rest: ${withOperator.toFixed(1)} with the operator, ${without.toFixed(1)} without (kwok, kubelets, controllers): the operator's ${(withOperator - without).toFixed(1)}/s`);
  op = startOperator(c.kubeconfigPath, LOG, opEnv, BUNDLED);
  standby = undefined;
} finally {
  console.log('\n' + out.join('\n'));
  // The clusters' finalizers need an operator to delete them.
  await deleteNamespace(c, ns, 3_600_000).catch((err: unknown) => console.error(String(err)));
  await op.stop();
  await standby?.stop();
  for (let i = 0; i < nodeCount; i++) await core.deleteNode({ name: `kwok-${i}` }).catch(() => undefined);
  kwok.kill();
}
