/**
 * Benchmark: `pgo show cluster --all` with N pgclusters (default 100; `shutdown: true`, so no pods run) on the
 * local cluster with the operator and its API running: median wall time of the pgo process and median
 * latency of the API call alone. And the CLI's start-up: `pgo version --client` and `pgo show cluster NAME`
 * from the bundle users get (dist/pgo.mjs, `npm run build`), against bare Node (`node -e 0`, the floor) and
 * against the development launcher (cli/pgo, TypeScript through tsx), the runs of each interleaved.
 * Usage (under the shared cluster lock): flock /tmp/pgo-cluster.lock npx tsx bench/api-show.ts [N=100] [runs=15]
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ADMIN_CREDENTIALS_SECRET } from '../src/api/bootstrap.ts';
import { TLS_SECRET } from '../src/api/tls.ts';
import { API_VERSION } from '../src/crd/resources.ts';
import type { PgClusterResource } from '../src/crd/types.ts';
import { CustomResources } from '../src/k8s/custom.ts';
import { clusterDir, deleteNamespace, type LocalCluster } from '../tests/harness/cluster.ts';
import { freePort } from '../tests/harness/net.ts';
import { buildBundles, startOperator } from '../tests/harness/operator.ts';
import { waitFor } from '../tests/harness/wait.ts';
import { median } from './lib.ts';

const n = Number(process.argv[2] ?? 100);
const runs = Number(process.argv[3] ?? 15);
const run = promisify(execFile);
const root = fileURLToPath(new URL('../', import.meta.url));
buildBundles();
const pgoBin = `${root}dist/pgo.mjs`;
const tsxPgo = `${root}cli/pgo`;
const kubeconfigPath = join(clusterDir, 'admin.kubeconfig');
if (!existsSync(kubeconfigPath)) throw new Error(`the local cluster is not up (${kubeconfigPath} missing); start it with hack/cluster/up.sh`);

const timed = async (work: () => Promise<unknown>) => {
  const t0 = performance.now();
  await work();
  return performance.now() - t0;
};

/** Median wall time of each command, their runs interleaved (one of each per round), after one warm-up round. */
async function interleaved(commands: Record<string, [string, string[], object?]>): Promise<Record<string, number>> {
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(commands).map((k) => [k, []]));
  for (let i = 0; i <= runs; i++) {
    for (const [name, [bin, args, options]] of Object.entries(commands)) {
      const t = await timed(() => run(bin, args, { maxBuffer: 64 << 20, ...options }));
      if (i > 0) times[name]!.push(t);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
}
const row = (name: string, ms: number, floor: number) => `${name.padEnd(44)} ${ms.toFixed(0).padStart(5)} ms   ${(ms / floor).toFixed(2)}x bare Node`;

// CLI start-up first: no cluster needed.
const env0 = { PATH: process.env.PATH };
const startup = await interleaved({
  'node -e 0': [process.execPath, ['-e', '0']],
  'pgo version --client (bundle)': [pgoBin, ['version', '--client'], { env: env0 }],
  'pgo version --client (tsx, development)': [tsxPgo, ['version', '--client'], { env: env0 }],
});

const kc = new KubeConfig();
kc.loadFromFile(kubeconfigPath);
const core = kc.makeApiClient(CoreV1Api);
const ns = `bench-${randomBytes(3).toString('hex')}`;
await run('npx', ['--no-install', 'tsx', 'hack/install-crds.ts'], { env: { ...process.env, KUBECONFIG: kubeconfigPath } });
await core.createNamespace({ body: { metadata: { name: ns } } });
const port = await freePort();
process.env.PGO_API_PORT = String(port);
const op = startOperator(kubeconfigPath, '/tmp/pg-operator-bench-api.log');
const dir = mkdtempSync(join(tmpdir(), 'pgo-bench-'));
try {
  const secret = async (name: string, key: string) => Buffer.from((await core.readNamespacedSecret({ namespace: 'pgo', name })).data![key]!, 'base64').toString();
  const ca = await secret(TLS_SECRET, 'tls.crt');
  const password = await secret(ADMIN_CREDENTIALS_SECRET, 'password');
  writeFileSync(join(dir, 'ca.crt'), ca);
  writeFileSync(join(dir, 'pgouser'), `admin:${password}`, { mode: 0o600 });
  const env = { PATH: process.env.PATH, HOME: dir, PGO_APISERVER_URL: `https://127.0.0.1:${port}`, PGO_CA_CERT: join(dir, 'ca.crt'), PGOUSER: join(dir, 'pgouser'), PGO_NAMESPACE: ns };
  await waitFor('the API', async () => (await run(pgoBin, ['version'], { env }), true), 60_000, 500);

  const clusters = new CustomResources<PgClusterResource>(kc, 'pgclusters');
  for (let i = 0; i < n; i++) {
    await clusters.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGCluster', metadata: { name: `b${i}`, namespace: ns }, spec: { shutdown: true } } as PgClusterResource);
  }
  await waitFor(`${n} clusters with a status`, async () => {
    const list = (await clusters.listAll()).items.filter((x) => x.metadata.namespace === ns);
    return list.filter((x) => x.status?.observedGeneration === 1).length === n;
  }, 600_000, 2000).catch((err: unknown) => console.error(`continuing: ${String(err)}`));

  const { stdout } = await run(pgoBin, ['show', 'cluster', '--all', '-o', 'json'], { env, maxBuffer: 64 << 20 });
  const shown = (JSON.parse(stdout) as { clusters: unknown[] }).clusters.length;
  const cli: number[] = [];
  for (let i = 0; i < runs; i++) cli.push(await timed(() => run(pgoBin, ['show', 'cluster', '--all'], { env, maxBuffer: 64 << 20 })));
  const apiCall = () =>
    new Promise<void>((resolve, reject) => {
      const req = request(`https://127.0.0.1:${port}/api/v1/namespaces/${ns}/clusters`, { ca, headers: { Authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end();
    });
  const shown1 = await interleaved({
    'node -e 0': [process.execPath, ['-e', '0']],
    'pgo show cluster NAME (bundle)': [pgoBin, ['show', 'cluster', 'b0'], { env }],
  });
  const api: number[] = [];
  for (let i = 0; i < runs; i++) api.push(await timed(apiCall));

  console.log(`pgo show cluster --all with ${shown} clusters: median ${median(cli).toFixed(0)} ms per pgo process (${runs} runs); API call alone median ${median(api).toFixed(1)} ms`);
  console.log(`\nCLI start-up, medians of ${runs} interleaved runs:`);
  for (const [name, ms] of Object.entries(startup)) console.log(row(name, ms, startup['node -e 0']!));
  for (const [name, ms] of Object.entries(shown1)) if (name !== 'node -e 0') console.log(row(name, ms, shown1['node -e 0']!));
} finally {
  await deleteNamespace({ core } as LocalCluster, ns, 600_000).catch((err: unknown) => console.error(String(err)));
  await op.stop();
  rmSync(dir, { recursive: true, force: true });
}
