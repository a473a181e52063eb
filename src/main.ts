/**
 * The operator process: takes the leader Lease, then runs the actor system until SIGTERM or SIGINT.
 * Configuration: the kubeconfig from KUBECONFIG, ~/.kube/config or the pod's service account;
 * PGO_OPERATOR_NAMESPACE (default: the pod's namespace, or pgo) holds the Lease, the pgousers and the API's
 * certificate; PGO_API_PORT (default 8443, `off` for none) is the API's port.
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { KubeConfig } from '@kubernetes/client-node';
import { Supervisor } from './actors/supervisor.ts';
import { ensureBootstrapAdmin } from './api/bootstrap.ts';
import { EventBus } from './api/events.ts';
import { startApiServer } from './api/server.ts';
import { acquireLease } from './k8s/lease.ts';

const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
const saFile = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
const namespace = process.env.PGO_OPERATOR_NAMESPACE ?? (existsSync(saFile) ? readFileSync(saFile, 'utf8').trim() : 'pgo');
const identity = `${hostname()}-${process.pid}`;

const kc = new KubeConfig();
kc.loadFromDefault();
log(`pg-operator ${identity} connecting to ${kc.getCurrentCluster()?.server}`);
// The API serves from the start (it records intent in resources; the leader acts on it). PGO_API_PORT=off disables it.
const bus = new EventBus();
if (process.env.PGO_API_PORT !== 'off') {
  // Without the API the actors still keep clusters alive: an API that cannot start is logged, not fatal.
  try {
    const admin = await ensureBootstrapAdmin(kc, namespace);
    if (admin.created) log(`created the pgouser admin; read its password with: ${admin.howToRead}`);
    await startApiServer({ kc, namespace, bus, log, port: Number(process.env.PGO_API_PORT ?? 8443) });
  } catch (err) {
    log(`API not started: ${err instanceof Error ? err.message : String(err)}`);
  }
}
log(`waiting for the lease ${namespace}/pg-operator`);
const leadership = await acquireLease(kc, namespace, 'pg-operator', identity, { log });
log('leader: starting the cluster actors');
const supervisor = new Supervisor(kc, log, (key, state) => {
  log(`${key} -> ${state}`);
  bus.transition(key, state);
});
await supervisor.start();

// One line a minute on resource use, to spot growth per cluster, and how late the event loop ran (a loop held
// up for seconds delays every probe and timer: bench/soak reads this).
const loopDelay = monitorEventLoopDelay({ resolution: 20 });
loopDelay.enable();
setInterval(() => {
  const m = process.memoryUsage();
  const ms = (ns: number) => (ns / 1e6).toFixed(0);
  log(`memory: rss ${(m.rss / 2 ** 20).toFixed(0)} MiB, heap ${(m.heapUsed / 2 ** 20).toFixed(0)} MiB, external ${(m.external / 2 ** 20).toFixed(0)} MiB, ${supervisor.size} cluster actor(s); event loop delay p99 ${ms(loopDelay.percentile(99))} ms, max ${ms(loopDelay.max)} ms`);
  loopDelay.reset();
}, Number(process.env.PGO_MEMORY_LOG_MS ?? 60_000)).unref();

let stopping = false;
async function shutdown(reason: string, code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  log(`${reason}: stopping`);
  supervisor.stop();
  await leadership.release();
  process.exit(code);
}
process.on('SIGTERM', () => void shutdown('SIGTERM', 0));
process.on('SIGINT', () => void shutdown('SIGINT', 0));
void leadership.lost.then(() => shutdown('lost the lease', 1));
