import { CoreV1Api } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Supervisor } from '../../src/actors/supervisor.ts';
import type { PgClusterResource, PgTaskResource } from '../../src/crd/types.ts';
import { CustomResources } from '../../src/k8s/custom.ts';
import { FUZZ_NAMESPACES, fuzzBoundaries, type FuzzCounts } from '../fuzz/boundaries.ts';
import { FUZZ_SEED } from '../fuzz/inputs.ts';
import { startApi, type ApiHarness } from '../harness/api.ts';
import { waitFor } from '../harness/wait.ts';

// Generated inputs (fixed seed) at both boundaries, with the operator running on what was accepted: zod
// and admission agree on every input, and the operator reconciles every accepted cluster without an
// apply error (nothing admitted is half-applied) and answers every failover request.
const test = suite<{ h: ApiHarness; sup: Supervisor; logs: string[]; counts: FuzzCounts }>('fuzzing the kube-apiserver and the API');
const N = Number(process.env.PGO_FUZZ_RUNS ?? 150);

test.before(async (ctx) => {
  ctx.h = await startApi([...FUZZ_NAMESPACES]);
  ctx.logs = [];
  ctx.sup = new Supervisor(ctx.h.cp.kubeconfig, (l) => ctx.logs.push(l));
  await ctx.sup.start();
});
test.after(async (ctx) => {
  ctx.sup?.stop();
  await ctx.h?.stop();
});

test('zod, the CRD at admission and the API agree on every generated input', async (ctx) => {
  ctx.counts = await fuzzBoundaries(ctx.h, `admin:${ctx.h.adminPassword}`, N, FUZZ_SEED);
  const c = ctx.counts;
  console.log(`fuzz: ${c.tried} inputs, ${c.rejectedAtAdmission} rejected at admission, ${c.rejectedByApi} rejected by the API, ${c.accepted} accepted`);
  assert.equal(c.disagreements, []);
  // The generator must produce both kinds, or the test proves nothing.
  assert.ok(c.rejectedAtAdmission > N / 10 && c.rejectedByApi > N / 10 && c.clusters.length > N / 10, JSON.stringify({ ...c, clusters: c.clusters.length }));
});

test('the operator reconciles every accepted cluster and answers every failover request', async ({ h, counts }) => {
  const clusters = new CustomResources<PgClusterResource>(h.cp.kubeconfig, 'pgclusters');
  const core = h.cp.kubeconfig.makeApiClient(CoreV1Api);
  await waitFor('every accepted cluster applied', async () => {
    const items = (await Promise.all(FUZZ_NAMESPACES.map((ns) => clusters.list(ns)))).flat();
    return items.length === counts.clusters.length && items.every((c) => (c.status?.observedGeneration ?? 0) >= 1);
  }, 240_000, 1000);
  const items = (await Promise.all(FUZZ_NAMESPACES.map((ns) => clusters.list(ns)))).flat();
  for (const c of items) {
    const progressing = c.status?.conditions?.find((x) => x.type === 'Progressing');
    assert.is.not(progressing?.reason, 'ApplyFailed', `${c.metadata.name}: ${progressing?.message}`);
    assert.is(c.status?.conditions?.find((x) => x.type === 'SpecAccepted')?.status, 'True', c.metadata.name);
  }
  // Its objects exist: the ConfigMap is applied last before the Services and Deployments.
  const configMaps = (await Promise.all(FUZZ_NAMESPACES.map((namespace) => core.listNamespacedConfigMap({ namespace })))).flatMap((l) => l.items);
  for (const key of counts.clusters) assert.ok(configMaps.some((m) => `${m.metadata?.namespace}/${m.metadata?.name}` === `${key}-pgconf`), key);
  const tasks = new CustomResources<PgTaskResource>(h.cp.kubeconfig, 'pgtasks');
  await waitFor('every failover request answered', async () => {
    const list = await tasks.list(FUZZ_NAMESPACES[0]);
    return counts.tasks.every((k) => list.find((t) => `${t.metadata.namespace}/${t.metadata.name}` === k)?.status?.phase);
  }, 60_000, 500);
  console.log(`fuzz: ${items.length} clusters reconciled, ${counts.tasks.length} failover requests answered`);
});

test.run();
