import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ApiextensionsV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GROUP, VERSION, resourceList } from '../../src/crd/resources.ts';
import { installCrds } from '../../src/k8s/crds.ts';
import { startControlPlane, type ControlPlane } from '../harness/apiserver.ts';
import { invalidSpecs, validSpec } from '../fixtures/pgclusters.ts';

const test = suite<{ cp: ControlPlane }>('CRDs on a real kube-apiserver');
const ns = 'default';
const pgclusters = { group: GROUP, version: VERSION, namespace: ns, plural: 'pgclusters' };

test.before(async (ctx) => {
  ctx.cp = await startControlPlane();
  console.log(`  control plane ready in ${ctx.cp.startupMs} ms`);
});
test.after(async (ctx) => ctx.cp?.stop());

const pgcluster = (name: string, spec: unknown) => ({ apiVersion: `${GROUP}/${VERSION}`, kind: 'PGCluster', metadata: { name }, spec });

test('the six CRDs install and become Established', async ({ cp }) => {
  await installCrds(cp.kubeconfig);
  const list = await cp.kubeconfig.makeApiClient(ApiextensionsV1Api).listCustomResourceDefinition();
  const names = list.items.map((c) => c.metadata?.name).sort();
  assert.equal(names, resourceList.map((d) => `${d.plural}.${GROUP}`).sort());
  for (const crd of list.items) {
    assert.ok(crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'), crd.metadata?.name);
  }
});

test('installing the CRDs twice is harmless', async ({ cp }) => {
  await installCrds(cp.kubeconfig);
});

test('a valid pgcluster is accepted and the API server fills the defaults', async ({ cp }) => {
  const api = cp.kubeconfig.makeApiClient(CustomObjectsApi);
  const created = (await api.createNamespacedCustomObject({ ...pgclusters, body: pgcluster('hippo', validSpec) })) as {
    spec: Record<string, unknown>;
  };
  assert.is(created.spec.replicas, 2);
  assert.is(created.spec.port, 5432);
  assert.is(created.spec.podAntiAffinity, 'preferred');
  assert.equal(created.spec.parameters, validSpec.parameters);
});

for (const { name, spec, field } of invalidSpecs) {
  test(`the API server rejects a pgcluster with a ${name}, naming ${field}`, async ({ cp }) => {
    const api = cp.kubeconfig.makeApiClient(CustomObjectsApi);
    try {
      await api.createNamespacedCustomObject({ ...pgclusters, body: pgcluster('bad', spec) });
      assert.unreachable('the API server accepted it');
    } catch (err) {
      const e = err as { code?: number; body?: string };
      assert.is(e.code, 422, String(err));
      const message = (JSON.parse(e.body ?? '{}') as { message?: string }).message ?? '';
      assert.ok(message.includes(field), `message does not name ${field}: ${message}`);
    }
  });
}

test('kubectl lists pgclusters with the printer columns', async ({ cp }) => {
  const api = cp.kubeconfig.makeApiClient(CustomObjectsApi);
  await api.patchNamespacedCustomObjectStatus(
    { ...pgclusters, name: 'hippo', body: { status: { phase: 'Ready', currentPrimary: 'hippo-abcd', readyInstances: 3 } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  const out = execFileSync(join(cp.binDir, 'kubectl'), ['--kubeconfig', cp.kubeconfigPath, 'get', 'pgclusters', '-n', ns], {
    encoding: 'utf8',
  });
  const [header, row] = out.trim().split('\n');
  assert.equal(header!.split(/\s+/), ['NAME', 'PRIMARY', 'REPLICAS', 'READY', 'PHASE', 'AGE']);
  assert.equal(row!.split(/\s+/).slice(0, 5), ['hippo', 'hippo-abcd', '2', '3', 'Ready']);
  const short = execFileSync(join(cp.binDir, 'kubectl'), ['--kubeconfig', cp.kubeconfigPath, 'get', 'pgc', '-o', 'name'], { encoding: 'utf8' });
  assert.is(short.trim(), `pgcluster.${GROUP}/hippo`);
});

test.run();
