/**
 * Soak: no spurious failover under load. Three pgclusters (2 replicas each; the third with synchronous
 * replication) under a pgbench write load through their primary Services, while a CPU hog keeps every core
 * of the machine busy and a disk job writes and fsyncs beside them, for --minutes (30). Prints failovers,
 * container restarts (by the kubelet), PrimaryUnready episodes and probe failures, and the worst probe
 * latency the operator logged (it logs every probe slower than half its timeout, PGO_PROBE_TIMEOUT_MS).
 * Every --blip-every seconds (120) one primary in turn is frozen for --blip-ms (1500), less than the failover
 * delay (3 s): none of those may fail over either.
 * Run under the cluster lock: flock /tmp/pgo-cluster.lock npx tsx bench/soak.ts [--minutes 30] [--blip-every 120] [--blip-ms 1500]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { LABEL, clusterNames } from '../src/cluster/names.ts';
import { API_VERSION } from '../src/crd/resources.ts';
import type { PgClusterResource } from '../src/crd/types.ts';
import { waitFor } from '../tests/harness/wait.ts';
import { serviceAddress } from './failover/k8s.ts';
import { startBench } from './lib.ts';

const { values: opts } = parseArgs({
  options: { minutes: { type: 'string', default: '30' }, clients: { type: 'string', default: '4' }, 'blip-every': { type: 'string', default: '120' }, 'blip-ms': { type: 'string', default: '1500' } },
});
const minutes = Number(opts.minutes);
const logFile = '/tmp/pg-operator-bench-soak.log';
const { c, ns, clusters, close } = await startBench(logFile);
const names = ['soak-a', 'soak-b', 'soak-sync'];
const children: ChildProcess[] = [];
const diskFile = '/var/tmp/pgo-soak-disk';

const started = (cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env) => {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.on('data', () => undefined);
  children.push(child);
  return child;
};

/** When each database pod's postmaster started (pod name → time), read over SQL from node3's network namespace. */
async function postmasterStarts(passwords: Map<string, string>): Promise<Map<string, string>> {
  const pods = await c.core.listNamespacedPod({ namespace: ns, labelSelector: `${LABEL.component}=database` });
  const starts = await Promise.all(pods.items.filter((p) => p.status?.podIP).map(async (p) => {
    const env = { ...process.env, PGPASSWORD: passwords.get(p.metadata!.labels![LABEL.cluster]!) ?? '', PGCONNECT_TIMEOUT: '5' };
    const out = await new Promise<string>((resolve) => {
      let text = '';
      const child = spawn('ip', ['netns', 'exec', 'pgo-node3', 'psql', '-h', p.status!.podIP!, '-U', 'postgres', '-Atc', 'select pg_postmaster_start_time()', 'postgres'], { env, stdio: ['ignore', 'pipe', 'ignore'] });
      child.stdout.on('data', (d: Buffer) => (text += d.toString()));
      child.once('exit', () => resolve(text.trim()));
    });
    return [p.metadata!.name!, out] as const;
  }));
  return new Map(starts);
}

async function restarts(): Promise<Map<string, number>> {
  const pods = await c.core.listNamespacedPod({ namespace: ns, labelSelector: `${LABEL.component}=database` });
  return new Map(pods.items.map((p) => [p.metadata!.name!, (p.status?.containerStatuses ?? []).reduce((n, s) => n + s.restartCount, 0)]));
}

try {
  for (const name of names) {
    await clusters.createIfAbsent({ apiVersion: API_VERSION, kind: 'PGCluster', metadata: { name, namespace: ns }, spec: { replicas: 2, ...(name.endsWith('sync') ? { syncReplication: true } : {}) } } as PgClusterResource);
  }
  for (const name of names) {
    await waitFor(`${name} Ready`, async () => ((await clusters.get(ns, name)).status?.phase === 'Ready' ? true : undefined), 600_000, 2000);
  }
  // pgbench from node3's network namespace through each primary Service, as an application pod would.
  const passwords = new Map<string, string>();
  for (const name of names) {
    const secret = await c.core.readNamespacedSecret({ namespace: ns, name: clusterNames(name).superuserSecret });
    passwords.set(name, Buffer.from(secret.data!.password!, 'base64').toString());
    const { host, port } = await serviceAddress(c, ns, clusterNames(name).primaryService);
    const env = { ...process.env, PGPASSWORD: passwords.get(name), PGCONNECT_TIMEOUT: '5' };
    const base = ['netns', 'exec', 'pgo-node3', 'pgbench', '-h', host, '-p', String(port), '-U', 'postgres'];
    await new Promise<void>((resolve, reject) => started('ip', [...base, '-i', '-s', '10', '-q', 'postgres'], env).once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`pgbench -i on ${name}: exit ${code}`)))));
    started('ip', [...base, '-n', '-c', opts.clients, '-j', '1', '-T', String(minutes * 60), 'postgres'], env);
  }
  const before = await restarts();
  const startedBefore = await postmasterStarts(passwords);
  const history = new Map(await Promise.all(names.map(async (n) => [n, (await clusters.get(ns, n)).status?.failoverHistory?.length ?? 0] as const)));
  const logStart = readFileSync(logFile, 'utf8').length;
  // Every core busy, and a disk job that writes and fsyncs 1 GiB over and over.
  for (let i = 0; i < availableParallelism(); i++) started(process.execPath, ['-e', 'for (;;) {}']);
  started('sh', ['-c', `while :; do dd if=/dev/zero of=${diskFile} bs=1M count=1024 conv=fsync 2>/dev/null; done`]);
  console.log(`soak: ${names.join(', ')} under pgbench (${opts.clients} clients each), ${availableParallelism()} CPU hogs and a disk job, ${minutes} min`);
  // Every --blip-every seconds one primary (in turn) is frozen for --blip-ms, shorter than the failover delay
  // (3 s): a blip that must not fail over.
  const startedAt = Date.now();
  const end = startedAt + minutes * 60_000;
  const blipMs = Number(opts['blip-ms']);
  const blipEvery = Number(opts['blip-every']) * 1000 || Infinity; // 0: no blips
  const blipped: { cluster: string; at: number; ms: number }[] = [];
  let blips = 0;
  let nextReport = Date.now() + 60_000;
  while (Date.now() < end) {
    await sleep(Math.min(blipEvery, 60_000, end - Date.now()));
    if (Date.now() >= end) break;
    if (Date.now() - (blipped.at(-1)?.at ?? startedAt) < blipEvery) continue;
    const name = names[blips % names.length]!;
    const primary = (await c.core.listNamespacedPod({ namespace: ns, labelSelector: `${LABEL.cluster}=${name},${LABEL.role}=primary` })).items[0];
    if (primary) {
      // The freezer file is found first, then written directly: the blip lasts blipMs, not blipMs plus
      // however long a script takes to start under this load.
      const freezer = (await c.fault('freezer', `${ns}/${primary.metadata!.name!}`, 'database')).trim();
      writeFileSync(freezer, 'FROZEN');
      const at = Date.now();
      await sleep(blipMs);
      writeFileSync(freezer, 'THAWED');
      blipped.push({ cluster: name, at, ms: Date.now() - at });
      blips++;
    }
    if (Date.now() >= nextReport) {
      console.log(`  ${Math.round((end - Date.now()) / 60_000)} min left, ${blips} blips so far`);
      nextReport += 60_000;
    }
  }
  const after = await restarts();
  const startedAfter = await postmasterStarts(passwords);
  const inPlace = [...startedAfter].filter(([pod, t]) => startedBefore.has(pod) && t !== startedBefore.get(pod)).map(([pod]) => pod);
  const log = readFileSync(logFile, 'utf8').slice(logStart);
  const histories = await Promise.all(names.map(async (n) => ((await clusters.get(ns, n)).status?.failoverHistory ?? []).slice(history.get(n))));
  const failovers = histories.map((h) => h.length);
  // A failover that started within 10 s of a blip of its cluster came from that blip.
  const fromBlips = histories.flatMap((h, i) => h.filter((f) => blipped.some((b) => b.cluster === names[i] && Date.parse(f.times?.detected ?? f.time) - b.at >= 0 && Date.parse(f.times?.detected ?? f.time) - b.at < 10_000)));
  const restarted = [...after].filter(([pod, n]) => n !== (before.get(pod) ?? n)).map(([pod, n]) => `${pod} +${n - before.get(pod)!}`);
  const slow = [...log.matchAll(/answered in (\d+) ms/g)].map((m) => Number(m[1]));
  console.log(`\nsoak over ${minutes} min with every core busy:`);
  const lengths = blipped.map((b) => b.ms).sort((x, y) => x - y);
  console.log(`  blips (a primary frozen for ${blipMs} ms, shorter than the failover delay): ${blips} (frozen ${lengths[0] ?? 0}-${lengths.at(-1) ?? 0} ms, measured), of which ${fromBlips.length} failed over`);
  console.log(`  failovers: ${failovers.reduce((a, b) => a + b, 0)} (${names.map((n, i) => `${n} ${failovers[i]}`).join(', ')})`);
  console.log(`  container restarts by the kubelet: ${restarted.length ? restarted.join(', ') : 0}`);
  console.log(`  PostgreSQL restarted in place (pg_postmaster_start_time changed): ${inPlace.length ? inPlace.join(', ') : 0} of ${startedBefore.size} pods`);
  console.log(`  PrimaryUnready episodes: ${(log.match(/-> monitoring\.primaryUnready\.waiting/g) ?? []).length}; probe failures logged: ${(log.match(/: primary \S+ (does not answer|is not Ready|has no pod|is in recovery)/g) ?? []).length}`);
  console.log(`  worst probe latency logged: ${slow.length ? `${Math.max(...slow)} ms (${slow.length} probes slower than half the timeout)` : 'none slower than half the timeout'}`);
} finally {
  for (const child of children) child.kill('SIGKILL');
  rmSync(diskFile, { force: true });
  await close();
}
