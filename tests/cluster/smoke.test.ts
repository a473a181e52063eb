import { randomBytes } from 'node:crypto';
import type { V1Pod } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { localCluster, nodes, psql, type LocalCluster } from '../harness/cluster.ts';
import { rejects, waitFor } from '../harness/wait.ts';
import { clientPod, postgresPod } from '../fixtures/pods.ts';

const test = suite<{ c: LocalCluster; ns: string; password: string }>('local cluster smoke');

const isReady = (pod: V1Pod) => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const nodeReady = async (c: LocalCluster, node: string) =>
  (await c.core.readNode({ name: node })).status?.conditions?.find((x) => x.type === 'Ready')?.status;

async function podReady(c: LocalCluster, ns: string, name: string, timeoutMs = 90_000): Promise<V1Pod> {
  return waitFor(`pod ${ns}/${name} Ready`, async () => {
    const pod = await c.core.readNamespacedPod({ namespace: ns, name });
    return isReady(pod) ? pod : undefined;
  }, timeoutMs);
}

/** psql from the host to `host`; resolves to the query result. */
test.before(async (ctx) => {
  ctx.c = localCluster();
  ctx.ns = `smoke-${randomBytes(3).toString('hex')}`;
  ctx.password = randomBytes(12).toString('hex');
  await ctx.c.core.createNamespace({ body: { metadata: { name: ctx.ns } } });
  await waitFor('the default ServiceAccount', () => ctx.c.core.readNamespacedServiceAccount({ namespace: ctx.ns, name: 'default' }));
});

test.after(async ({ c, ns }) => {
  if (!c) return;
  for (const node of nodes) {
    await c.fault('net-restore', node).catch(() => undefined);
    await c.fault('node-start', node).catch(() => undefined);
  }
  await c.core.deleteNamespace({ name: ns }).catch(() => undefined);
});

test('a PostgreSQL pod from the local image reaches Ready on each node', async ({ c, ns, password }) => {
  for (const node of nodes) await c.core.createNamespacedPod({ namespace: ns, body: postgresPod(`pg-${node}`, node, password) });
  for (const node of nodes) {
    const pod = await podReady(c, ns, `pg-${node}`);
    assert.is(pod.spec?.nodeName, node);
    assert.ok(pod.status?.podIP?.startsWith(`10.244.${node.slice(-1)}.`), `pod IP ${pod.status?.podIP} outside ${node}'s CIDR`);
  }
});

test('the host reaches pod IPs', async ({ c, ns, password }) => {
  for (const node of nodes) {
    const pod = await c.core.readNamespacedPod({ namespace: ns, name: `pg-${node}` });
    assert.is(await psql(pod.status!.podIP!, password, 'select inet_server_addr()'), pod.status!.podIP);
  }
});

test('psql in a pod on node1 reaches PostgreSQL on node2 through its Service DNS name', async ({ c, ns, password }) => {
  await c.core.createNamespacedService({
    namespace: ns,
    body: { metadata: { name: 'pg-node2' }, spec: { selector: { app: 'pg-node2' }, ports: [{ port: 5432, targetPort: 5432 }] } },
  });
  await c.core.createNamespacedPod({ namespace: ns, body: clientPod('client', 'node1') });
  await podReady(c, ns, 'client');
  const url = `postgresql://postgres:${password}@pg-node2.${ns}.svc.cluster.local:5432/postgres?connect_timeout=3`;
  const out = await waitFor('psql through the Service', () =>
    c.kubectl('exec', '-n', ns, 'client', '--', 'psql', url, '-Atc', "select current_setting('cluster_name') = '' and pg_is_in_recovery() = false"),
  );
  assert.is(out.trim(), 't');
});

test('a killed container is restarted by its kubelet', async ({ c, ns }) => {
  const before = (await c.core.readNamespacedPod({ namespace: ns, name: 'pg-node3' })).status?.containerStatuses?.[0]?.restartCount ?? 0;
  await c.fault('kill', `${ns}/pg-node3`);
  await waitFor('a restart', async () => {
    const pod = await c.core.readNamespacedPod({ namespace: ns, name: 'pg-node3' });
    return (pod.status?.containerStatuses?.[0]?.restartCount ?? 0) > before && isReady(pod);
  }, 90_000);
});

test('a frozen container stops answering, and answers again when thawed', async ({ c, ns, password }) => {
  const ip = (await c.core.readNamespacedPod({ namespace: ns, name: 'pg-node3' })).status!.podIP!;
  assert.is(await psql(ip, password, 'select 1'), '1');
  await c.fault('freeze', `${ns}/pg-node3`);
  try {
    await rejects(psql(ip, password, 'select 1'), 'a frozen PostgreSQL answered');
  } finally {
    await c.fault('thaw', `${ns}/pg-node3`);
  }
  assert.is(await psql(ip, password, 'select 1'), '1');
});

test('a cut-off node is unreachable from the others, and reachable again after restore', async ({ c, ns, password }) => {
  const ip = (await c.core.readNamespacedPod({ namespace: ns, name: 'pg-node2' })).status!.podIP!;
  const fromNode1 = () => c.kubectl('exec', '-n', ns, 'client', '--', 'pg_isready', '-h', ip, '-t', '2');
  await fromNode1();
  await c.fault('net-cut', 'node2');
  try {
    await rejects(fromNode1(), 'node1 still reaches node2');
    await rejects(psql(ip, password, 'select 1'), 'the host still reaches node2');
  } finally {
    await c.fault('net-restore', 'node2');
  }
  await waitFor('node2 reachable again', fromNode1, 30_000);
  assert.is(await psql(ip, password, 'select 1'), '1');
});

test('a stopped node turns NotReady, and Ready again when started', async ({ c }) => {
  await c.fault('node-stop', 'node3');
  await waitFor('node3 NotReady', async () => (await nodeReady(c, 'node3')) !== 'True', 90_000, 1000);
  await c.fault('node-start', 'node3');
  await waitFor('node3 Ready', async () => (await nodeReady(c, 'node3')) === 'True', 90_000, 1000);
});

test.run();
