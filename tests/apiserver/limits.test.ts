import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { stringify } from 'yaml';
import { LIMIT_MESSAGES, MAX_CLUSTER_NAME, MAX_INSTANCE_NAME } from '../../src/crd/limits.ts';
import { API_VERSION } from '../../src/crd/resources.ts';
import { startApi, call, type ApiHarness } from '../harness/api.ts';

// Each limit through the three doors a user has: kubectl (the CRD's CEL rules, at admission), the API
// and pgo (the zod schemas). All three must refuse it with the message defined in src/crd/limits.ts.
const test = suite<{ h: ApiHarness; dir: string; env: NodeJS.ProcessEnv; admin: string }>('every limit, through kubectl, the API and pgo');
const pgoBin = fileURLToPath(new URL('../../cli/pgo', import.meta.url));
const ns = 'team-a';

function run(bin: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(bin, args, { env, timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }));
    if (input !== undefined) child.stdin!.end(input);
  });
}

test.before(async (ctx) => {
  ctx.h = await startApi([ns]);
  ctx.dir = mkdtempSync(join(tmpdir(), 'pgo-limits-'));
  writeFileSync(join(ctx.dir, 'ca.crt'), ctx.h.api.tls.cert);
  writeFileSync(join(ctx.dir, 'pgouser'), `admin:${ctx.h.adminPassword}\n`, { mode: 0o600 });
  ctx.env = { PATH: process.env.PATH, HOME: ctx.dir, PGO_APISERVER_URL: ctx.h.api.url, PGO_CA_CERT: join(ctx.dir, 'ca.crt'), PGOUSER: join(ctx.dir, 'pgouser'), PGO_NAMESPACE: ns };
  ctx.admin = `admin:${ctx.h.adminPassword}`;
});
test.after(async (ctx) => {
  await ctx.h?.stop();
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

interface Case {
  limit: string;
  message: string;
  /** The pgcluster a kubectl user would write. */
  manifest: { name: string; spec: Record<string, unknown> };
  /** The same through the API (`pgo create cluster` body) and pgo's arguments; absent where neither exposes it. */
  body?: Record<string, unknown>;
  pgo?: string[];
}

const long = 'a'.repeat(MAX_CLUSTER_NAME + 1);
const cases: Case[] = [
  { limit: 'replicas', message: LIMIT_MESSAGES.replicas, manifest: { name: 'many', spec: { replicas: 100000 } }, body: { name: 'many', replicaCount: 100000 }, pgo: ['create', 'cluster', 'many', '--replica-count', '100000'] },
  { limit: 'cluster name length', message: LIMIT_MESSAGES.clusterName, manifest: { name: long, spec: {} }, body: { name: long }, pgo: ['create', 'cluster', long] },
  { limit: 'cluster name starts with a letter', message: LIMIT_MESSAGES.clusterName, manifest: { name: '1abc', spec: {} }, body: { name: '1abc' }, pgo: ['create', 'cluster', '1abc'] },
  { limit: 'parameter value without control characters', message: LIMIT_MESSAGES.parameterValue, manifest: { name: 'nl', spec: { parameters: { work_mem: '1MB\nfsync = off' } } }, body: { name: 'nl', parameters: { work_mem: '1MB\nfsync = off' } }, pgo: ['create', 'cluster', 'nl', '--parameter', 'work_mem=1MB\nfsync = off'] },
  { limit: 'parameter name', message: LIMIT_MESSAGES.parameterName, manifest: { name: 'pn', spec: { parameters: { 'work mem': '1MB' } } }, body: { name: 'pn', parameters: { 'work mem': '1MB' } }, pgo: ['create', 'cluster', 'pn', '--parameter', 'work mem=1MB'] },
  { limit: 'storage size above zero', message: LIMIT_MESSAGES.size, manifest: { name: 'zero', spec: { storage: { primary: { size: '0' } } } }, body: { name: 'zero', pvcSize: '0' }, pgo: ['create', 'cluster', 'zero', '--pvc-size', '0'] },
  { limit: 'limit not below request', message: LIMIT_MESSAGES.limitBelowRequest, manifest: { name: 'res', spec: { resources: { requests: { memory: '2Gi' }, limits: { memory: '1Gi' } } } }, body: { name: 'res', memory: '2Gi', memoryLimit: '1Gi' }, pgo: ['create', 'cluster', 'res', '--memory', '2Gi', '--memory-limit', '1Gi'] },
  { limit: 'reserved label prefix', message: LIMIT_MESSAGES.labelReserved, manifest: { name: 'lbl', spec: { userLabels: { 'pg-operator.dev/role': 'primary' } } }, body: { name: 'lbl', labels: { 'pg-operator.dev/role': 'primary' } }, pgo: ['create', 'cluster', 'lbl', '--label', 'pg-operator.dev/role=primary'] },
  { limit: 'label value', message: LIMIT_MESSAGES.labelValue, manifest: { name: 'lv', spec: { userLabels: { team: 'a b' } } }, body: { name: 'lv', labels: { team: 'a b' } }, pgo: ['create', 'cluster', 'lv', '--label', 'team=a b'] },
  { limit: 'port', message: LIMIT_MESSAGES.port, manifest: { name: 'port', spec: { port: 80 } } },
];

for (const c of cases) {
  test(`${c.limit}: one message from kubectl, the API and pgo`, async ({ h, env, admin, dir }) => {
    const manifest = stringify({ apiVersion: API_VERSION, kind: 'PGCluster', metadata: { name: c.manifest.name, namespace: ns }, spec: c.manifest.spec });
    const kubectl = await run(join(h.cp.binDir, 'kubectl'), ['--kubeconfig', h.cp.kubeconfigPath, 'apply', '-f', '-'], { HOME: dir }, manifest);
    assert.is.not(kubectl.code, 0, kubectl.out);
    assert.ok(kubectl.out.includes(c.message), `kubectl said: ${kubectl.out}`);
    if (c.body) {
      const api = await call(h, 'POST', `/api/v1/namespaces/${ns}/clusters`, admin, c.body);
      assert.is(api.status, 400, api.text);
      assert.ok(api.json.error?.message.includes(c.message), `the API said: ${api.text}`);
    }
    if (c.pgo) {
      const pgo = await run(pgoBin, c.pgo, env);
      assert.is.not(pgo.code, 0, pgo.out);
      assert.ok(pgo.out.includes(c.message), `pgo said: ${pgo.out}`);
    }
    // Nothing was created by any of them.
    const get = await call(h, 'GET', `/api/v1/namespaces/${ns}/clusters/${c.manifest.name.slice(0, 63)}`, admin);
    assert.ok(get.status === 404 || get.status === 400, get.text);
  });
}

test('a pgreplica name leaves room for its volumes', async ({ h, dir }) => {
  const manifest = stringify({ apiVersion: API_VERSION, kind: 'PGReplica', metadata: { name: 'r'.repeat(MAX_INSTANCE_NAME + 1), namespace: ns }, spec: { clusterName: 'hippo' } });
  const kubectl = await run(join(h.cp.binDir, 'kubectl'), ['--kubeconfig', h.cp.kubeconfigPath, 'apply', '-f', '-'], { HOME: dir }, manifest);
  assert.is.not(kubectl.code, 0, kubectl.out);
  assert.ok(kubectl.out.includes(LIMIT_MESSAGES.instanceName), kubectl.out);
});

test('the longest allowed names and the largest values are accepted by all three', async ({ h, env, admin, dir }) => {
  const name = 'b'.repeat(MAX_CLUSTER_NAME);
  const manifest = stringify({ apiVersion: API_VERSION, kind: 'PGCluster', metadata: { name, namespace: ns }, spec: { replicas: 9, port: 65535, parameters: { work_mem: '64MB' } } });
  const kubectl = await run(join(h.cp.binDir, 'kubectl'), ['--kubeconfig', h.cp.kubeconfigPath, 'apply', '-f', '-'], { HOME: dir }, manifest);
  assert.is(kubectl.code, 0, kubectl.out);
  const api = await call(h, 'POST', `/api/v1/namespaces/${ns}/clusters`, admin, { name: `c${'a'.repeat(MAX_CLUSTER_NAME - 1)}`, replicaCount: 9 });
  assert.is(api.status, 201, api.text);
  const pgo = await run(pgoBin, ['create', 'cluster', `d${'a'.repeat(MAX_CLUSTER_NAME - 1)}`, '--replica-count', '9', '--memory', '1Gi', '--memory-limit', '1Gi'], env);
  assert.is(pgo.code, 0, pgo.out);
});

test.run();
